/**
 * What the commands share: the exit codes, the bad-input error, argument parsing with
 * `util.parseArgs`, opening a store, loading a flow from a user's module, and small formatters.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Atom, Failure, Flow, Registry, type FlowItem } from '../../index.js';
import type { Backend } from '../../persistence/backend.js';
import type { AtomDetail } from '../../persistence/models.js';
import { openBackend } from '../../persistence/open.js';
import { APPLICATION_ID } from '../../persistence/sqlite-schema.js';

/** 0 the flow succeeded (or there was nothing to do); 1 it failed; 2 bad input; 3 suspended. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, SUSPENDED: 3 } as const;

/** Bad input: a one-line message, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Anything with `write(string)`. */
export interface Sink {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface Io {
  readonly stdout: Sink;
  readonly stderr: Sink;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: string[], io: Io): Promise<number>;
}

/** Runs input-phase code: whatever it throws becomes a `UsageError` with the same message. */
export async function input<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/** The `--help` option every command takes. */
export const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** `util.parseArgs`, strict, with its errors turned into one-line `UsageError`s. Include `...HELP` in `options`. */
export type Parsed<O extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const unknown = /Unknown option '([^']+)'/.exec(message);
    const dashed = args.find((a) => /^-[^-]/.test(a) && a.length > 8);
    if (unknown && dashed !== undefined && dashed.startsWith(unknown[1]!)) {
      throw new UsageError(`'${dashed}' is read as an option; if it is a flow uuid, put it last, after '--' (atomflow ${command} ... -- ${dashed})`);
    }
    if (unknown) throw new UsageError(`unknown option '${unknown[1]}' for 'atomflow ${command}' (see atomflow ${command} --help)`);
    const needsValue = /Option '([^']+)' argument missing/.exec(message);
    if (needsValue) throw new UsageError(`option '${needsValue[1]!.replace(/^-\w, /, '')}' needs a value (see atomflow ${command} --help)`);
    throw new UsageError(`${message.split('\n')[0]} (see atomflow ${command} --help)`);
  }
}

/** Checks the count of positional arguments. */
export function positionals(command: string, given: string[], names: readonly string[], optional = 0): string[] {
  const min = names.length - optional;
  if (given.length < min) throw new UsageError(`'atomflow ${command}' needs ${names.slice(given.length, min).map((n) => `<${n}>`).join(' ')} (see atomflow ${command} --help)`);
  if (given.length > names.length) throw new UsageError(`unexpected argument '${given[names.length]}' for 'atomflow ${command}' (see atomflow ${command} --help)`);
  return given;
}

export function oneOf<T extends string>(option: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${option} must be one of ${allowed.join(', ')}, not '${value}'`);
  return value as T;
}

/**
 * `--engine`, or undefined to let `load()` take `ATOMFLOW_ENGINE` (which it checks, naming the
 * variable when its value is bad).
 */
export function engineOption(value: string | undefined): 'serial' | 'parallel' | 'worker' | undefined {
  if (value === undefined) return undefined;
  return oneOf('engine', value, ['serial', 'parallel', 'worker'] as const, 'serial');
}

export function positiveInt(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${option} must be a whole number >= 1, not '${value}'`);
  return Number(value);
}

// ---- stores ------------------------------------------------------------------------------------

const URI = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** `/abs/a b.db` → `sqlite:///abs/a%20b.db`. */
export function sqliteUri(path: string): string {
  return `sqlite://${path.split(sep).map(encodeURIComponent).join('/')}`;
}

/** Without opening it (which could change it): refuses a file that is not SQLite, or is another application's. */
function checkStoreFile(path: string): void {
  let header: Buffer;
  const fd = openSync(path, 'r');
  try {
    header = Buffer.alloc(72);
    const n = readSync(fd, header, 0, 72, 0);
    if (n === 0) throw new UsageError(`${path} is not an atomflow store (the file is empty)`);
    if (n < 72 || header.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') throw new UsageError(`${path} is not an atomflow store (not a SQLite database)`);
  } finally {
    closeSync(fd);
  }
  const appId = header.readUInt32BE(68);
  if (appId !== 0 && appId !== APPLICATION_ID) throw new UsageError(`${path} is not an atomflow store (a SQLite database of another application)`);
}

export interface Store {
  readonly backend: Backend;
  /** How to name it in messages and in the commands we print. */
  readonly label: string;
}

/** Opens a store from a path (SQLite) or a backend URI; with `mustExist`, a missing file is an error. */
export async function openStore(ref: string, io: Io, mustExist: boolean): Promise<Store> {
  const isUri = URI.test(ref) && !/^[a-zA-Z]:[\\/]/.test(ref);
  if (isUri) {
    if (mustExist && ref.startsWith('sqlite:///')) {
      let path: string;
      try {
        path = decodeURIComponent(ref.slice('sqlite://'.length).split('?')[0]!);
      } catch {
        throw new UsageError(`${ref} is not a valid URI (a '%' must start an escape such as %20)`);
      }
      if (!existsSync(path)) throw new UsageError(`no such store: ${path}`);
    }
    return { backend: await input(() => openBackend(ref)), label: ref };
  }
  const path = resolve(io.cwd, ref);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new UsageError(`${ref} is a directory, not an atomflow store`);
    checkStoreFile(path);
  } else if (mustExist) {
    throw new UsageError(`no such store: ${ref}`);
  }
  return { backend: await input(() => openBackend(sqliteUri(path))), label: shortPath(path, io) };
}

/** A path as the user would type it from where they are. */
export function shortPath(path: string, io: Io): string {
  const rel = relative(io.cwd, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return path;
  return rel.startsWith('.') ? rel : `.${sep}${rel}`;
}

/** How the user invoked us, for the commands we print (`atomflow`, or `node dist/bin/atomflow.js`). */
export function self(io: Io): string {
  const script = process.argv[1] ?? 'atomflow';
  if (script.includes(`node_modules${sep}.bin`)) return 'npx atomflow';
  if (basename(script) === 'atomflow') return 'atomflow';
  return `node ${shortPath(resolve(io.cwd, script), io)}`;
}

/** `--flow <uuid>`, or `--flow=<uuid>` when the uuid starts with '-' (ids may). */
export function flowOption(uuid: string): string {
  return uuid.startsWith('-') ? `--flow=${sh(uuid)}` : `--flow ${sh(uuid)}`;
}

/** `<cli> resume <db> <uuid> <options>`, or `<cli> resume <db> <options> -- <uuid>` when the uuid starts with '-'. */
export function resumeCommand(cli: string, db: string, uuid: string, options: string): string {
  return uuid.startsWith('-') ? `${cli} resume ${sh(db)} ${options} -- ${sh(uuid)}` : `${cli} resume ${sh(db)} ${sh(uuid)} ${options}`;
}

/** Quotes an argument for a shell when it needs it. */
export function sh(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

// ---- user modules ------------------------------------------------------------------------------

export interface FlowSource {
  /** The module's absolute path. */
  readonly module: string;
  /** The export used. */
  readonly exportName: string;
  /** Builds the flow (calls the factory, or hands out the exported flow). */
  readonly build: () => Promise<FlowItem>;
}

function isFlowItem(v: unknown): v is FlowItem {
  return v instanceof Flow || v instanceof Atom;
}

/**
 * Imports a user's module, refusing (as bad input) one that calls `process.exit()` while it loads
 * or whose top-level await never settles (the event loop empties while we wait for it).
 */
export async function importGuarded(path: string, file: string): Promise<Record<string, unknown>> {
  const realExit = process.exit;
  let refuse: ((e: UsageError) => void) | undefined;
  const stalled = new Promise<never>((_, reject) => (refuse = reject));
  const onEmpty = (): void => refuse?.(new UsageError(`module ${file} never finished loading (a top-level await that never settles)`));
  process.once('beforeExit', onEmpty);
  process.exit = ((code?: number | string | null) => {
    throw new UsageError(`module ${file} called process.exit(${code ?? ''}) while loading; a flow module must only export its flows`);
  }) as typeof process.exit;
  try {
    return (await Promise.race([import(pathToFileURL(path).href), stalled])) as Record<string, unknown>;
  } finally {
    process.exit = realExit;
    process.off('beforeExit', onEmpty);
  }
}

/** Imports a user's module and finds its flow: `--export`, else `flow`, else `default`. */
export async function loadFlowSource(file: string, exportName: string | undefined, io: Io, options: { targets?: readonly string[] } = {}): Promise<FlowSource> {
  const path = resolve(io.cwd, file);
  if (!existsSync(path)) throw new UsageError(`no such module: ${file}`);
  let mod: Record<string, unknown>;
  try {
    mod = await importGuarded(path, file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot load module ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const names = Object.keys(mod);
  const registries = names.filter((n) => mod[n] instanceof Registry);
  const name = exportName ?? ['flow', 'default'].find((n) => n in mod) ?? (registries.length === 1 ? registries[0] : undefined);
  if (name === undefined || !(name in mod)) {
    const listed = names.length === 0 ? 'it has no exports' : `it exports ${names.join(', ')}`;
    throw new UsageError(
      exportName === undefined
        ? `module ${file} exports neither 'flow' nor 'default'; name the flow or its factory with --export (${listed})`
        : `module ${file} has no export '${exportName}' (${listed})`,
    );
  }
  const value = mod[name];
  const what = `export '${name}' of ${file}`;
  if (value instanceof Registry) {
    // A registry of functions: its flow (of the targets and what they need, or of every task).
    return { module: path, exportName: name, build: async () => value.flow(options.targets === undefined ? {} : { targets: options.targets }) };
  }
  if (options.targets !== undefined) throw new UsageError(`--targets picks tasks of a Registry; ${what} is not one`);
  if (isFlowItem(value)) return { module: path, exportName: name, build: async () => value };
  if (typeof value !== 'function') throw new UsageError(`${what} is not a flow, a task or a function that builds one`);
  const factory = value as () => unknown;
  return {
    module: path,
    exportName: name,
    build: async () => {
      let built: unknown;
      try {
        built = await factory();
      } catch (e) {
        throw new UsageError(`${what} threw when called: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      if (!isFlowItem(built)) throw new UsageError(`${what} returned ${built === null ? 'null' : typeof built}, not a flow or a task (is it built with this atomflow?)`);
      return built;
    },
  };
}

// ---- formatting --------------------------------------------------------------------------------

/** The longest length among `items` (at least `min`), without spreading a possibly huge list into arguments. */
export function widest<T>(items: Iterable<T>, length: (item: T) => number, min = 0): number {
  let w = min;
  for (const item of items) w = Math.max(w, length(item));
  return w;
}

/** `950ms`, `1.25s`, `-`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(2)}s`;
}

/** Execute and revert durations (the atom's own call) from what the engine stored in `meta.execution`. */
export function durations(d: AtomDetail): { executeMs: number | undefined; revertMs: number | undefined } {
  const x = d.meta.execution;
  const span = (a: number | null | undefined, b: number | null | undefined) => (typeof a === 'number' && typeof b === 'number' && b >= a ? b - a : undefined);
  return { executeMs: span(x?.execute?.taskStartedAt, x?.execute?.taskEndedAt), revertMs: span(x?.revert?.taskStartedAt, x?.revert?.taskEndedAt) };
}

/** `Type: message` (one line). */
export function describeFailure(f: Failure): string {
  return oneLine(`${f.exceptionType}: ${f.message}`);
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

/** A value on one line, cut to `max` characters. */
export function brief(value: unknown, max = 70): string {
  let s: string;
  if (value instanceof Failure) s = describeFailure(value);
  else if (typeof value === 'string') s = value;
  else if (value === undefined) s = '';
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  s = oneLine(s);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
