/**
 * The atom: the smallest unit an engine runs (a task or a retry controller). This module owns the
 * argument mapping (requires / optional / rebind / inject, for execute and for revert) and the
 * result mapping (provides), validated once at construction.
 */
import { randomUUID } from 'node:crypto';
import { describeValue } from './describe.js';
import { AtomTimeout, InvariantViolation, MissingDependencies } from './errors.js';
import type { Failure } from './failure.js';
import type { AtomKind } from './states.js';

/** One argument of `execute`/`revert`: the name the function sees and the stored name it reads. */
export interface ArgBinding {
  readonly arg: string;
  readonly stored: string;
  readonly optional: boolean;
}

/** How a result is published: whole under one name, or element-wise (array index / object key). */
export type ProvidesSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'whole'; readonly name: string }
  | { readonly kind: 'each'; readonly names: readonly string[] };

export interface AtomOptions {
  name?: string;
  provides?: string | readonly string[];
  requires?: readonly string[];
  optional?: readonly string[];
  rebind?: readonly string[] | Readonly<Record<string, string>>;
  inject?: Readonly<Record<string, unknown>>;
  priority?: number;
  revertRequires?: readonly string[];
  revertRebind?: readonly string[] | Readonly<Record<string, string>>;
  version?: string | number;
  /**
   * How long one execute or revert may take (ms): then its `ctx.signal` aborts and it fails with
   * `AtomTimeout` (retries and reverts apply as for any failure); a later result is ignored.
   */
  timeoutMs?: number;
  /**
   * Engine 'worker': what happens when the worker running this atom dies mid-way. 'once' (default,
   * for idempotent atoms): it is delivered again once, then fails with `WorkerLost`; 'never'
   * (at most once): it fails with `WorkerLost` at once, and the retry/revert rules apply.
   */
  redeliver?: Redeliver;
}

/** Engine 'worker': how often an atom whose worker died is delivered again. */
export type Redeliver = 'once' | 'never';

export interface AtomContext {
  /** The atom's name. */
  readonly name: string;
  /** Aborted when the run's signal aborts (never during a revert: reverts are shielded). */
  readonly signal: AbortSignal;
  /** Report progress in [0, 1] (clamped); `details` are stored with it. */
  progress(fraction: number, details?: Readonly<Record<string, unknown>>): void;
  /** The run's flow detail id. */
  readonly flowUuid: string;
  /** This atom's detail id in the run (stable across crashes and resumes). */
  readonly atomUuid: string;
  /**
   * 1 on the first run of the atom in this flow detail; one more each time it is run again after
   * an enclosing retry, a halted failure, `engine.reset()` or re-running a REVERTED run. A resume
   * after a crash continues the same attempt.
   */
  readonly attempt: number;
  /**
   * `${atomUuid}:${attempt}`: the same across crashes and resumes of one attempt, different for
   * every attempt. Pass it to payment gateways and other services that deduplicate requests.
   */
  readonly idempotencyKey: string;
}

export interface RevertContext<R = unknown> extends AtomContext {
  /** What `execute` returned, or its `Failure` if it threw (undefined if it never finished). */
  readonly result: R | Failure | undefined;
  /** Every execute failure recorded in this run so far, by atom name. */
  readonly flowFailures: Readonly<Record<string, Failure>>;
}

/** Options of `atom.invoke()`. */
export interface InvokeOptions {
  /** Run `revert` instead of `execute`. */
  readonly revert?: boolean;
  /** For a revert: what `execute` returned (or its Failure), as `ctx.result`. */
  readonly result?: unknown;
  /** For a revert: `ctx.flowFailures` (default none). */
  readonly flowFailures?: Readonly<Record<string, Failure>>;
  /** Aborting it aborts `ctx.signal`. */
  readonly signal?: AbortSignal;
  /** Receives `ctx.progress(...)` reports. */
  readonly onProgress?: (fraction: number, details?: Readonly<Record<string, unknown>>) => void;
  /** The timeout (default: the atom's `timeoutMs`, if any). */
  readonly timeoutMs?: number;
  /** `ctx.flowUuid` (default 'invoke'). */
  readonly flowUuid?: string;
  /** `ctx.atomUuid` (default: a new random id, so every invoke has its own idempotency key). */
  readonly atomUuid?: string;
  /** `ctx.attempt` (default 1). */
  readonly attempt?: number;
}

const INVOKE_KEYS: ReadonlySet<string> = new Set(['revert', 'result', 'flowFailures', 'signal', 'onProgress', 'timeoutMs', 'flowUuid', 'atomUuid', 'attempt']);
const NEVER_ABORTED = new AbortController().signal;

/** The context `invoke()` gives (the engine's, minus the run). */
class InvokeContext implements RevertContext {
  readonly name: string;
  readonly signal: AbortSignal;
  readonly result: unknown;
  readonly flowFailures: Readonly<Record<string, Failure>>;
  readonly flowUuid: string;
  readonly atomUuid: string;
  readonly attempt: number;
  readonly #onProgress: InvokeOptions['onProgress'];
  constructor(name: string, signal: AbortSignal, options: InvokeOptions) {
    this.name = name;
    this.signal = signal;
    this.flowUuid = options.flowUuid ?? 'invoke';
    this.atomUuid = options.atomUuid ?? randomUUID();
    this.attempt = options.attempt ?? 1;
    this.result = options.result;
    this.flowFailures = options.flowFailures ?? Object.freeze({});
    this.#onProgress = options.onProgress;
  }
  get idempotencyKey(): string {
    return `${this.atomUuid}:${this.attempt}`;
  }
  get progress(): AtomContext['progress'] {
    return (fraction, details) => {
      const p = typeof fraction === 'number' && Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
      this.#onProgress?.(p, details);
    };
  }
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'name',
  'provides',
  'requires',
  'optional',
  'rebind',
  'inject',
  'priority',
  'revertRequires',
  'revertRebind',
  'version',
  'timeoutMs',
  'redeliver',
]);

function isStringList(v: unknown): v is readonly string[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'string' || x.length === 0) return false;
  }
  return true;
}

function bad(subject: string, option: string, what: string): InvariantViolation {
  return new InvariantViolation(`atom '${subject}': option '${option}' ${what}`, { subject, option });
}

const NONE: readonly never[] = Object.freeze([]);
/** The longest timeout a timer can hold (setTimeout's limit, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;
const NO_INJECT: Readonly<Record<string, unknown>> = Object.freeze({});
const PROVIDES_NONE: ProvidesSpec = Object.freeze({ kind: 'none' });

function uniq(xs: readonly string[]): readonly string[] {
  if (xs.length < 2) return xs;
  const set = new Set(xs);
  return set.size === xs.length ? xs : [...set];
}

/** Checks that `options` only has known keys (each atom kind adds its own). */
export function checkOptionKeys(subject: string, options: object, extra: readonly string[] = []): void {
  for (const key in options) {
    if (!Object.hasOwn(options, key)) continue;
    if (!OPTION_KEYS.has(key) && !extra.includes(key)) {
      throw new InvariantViolation(`atom '${subject}': unknown option '${key}'`, { subject, option: key });
    }
  }
}

function parseProvides(subject: string, value: unknown): ProvidesSpec {
  if (value === undefined || value === null) return PROVIDES_NONE;
  if (typeof value === 'string' && value.length > 0) return { kind: 'whole', name: value };
  if (isStringList(value)) return { kind: 'each', names: Object.freeze([...new Set(value)]) };
  throw bad(subject, 'provides', `must be a non-empty string or a list of names, not ${describeValue(value)}`);
}

function parseList(subject: string, option: string, value: unknown): readonly string[] {
  if (value === undefined) return NONE;
  if (!isStringList(value)) throw bad(subject, option, 'must be a list of non-empty strings');
  return value;
}

/** The statics' list and the options' list, deduplicated (no copy when one is empty). */
function joinLists(subject: string, option: string, fromClass: unknown, fromOptions: unknown): readonly string[] {
  const a = parseList(subject, option, fromClass);
  const b = parseList(subject, option, fromOptions);
  return uniq(a.length === 0 ? b : b.length === 0 ? a : [...a, ...b]);
}

/** Builds the (arg -> stored name) bindings for one method, as TaskFlow's `_build_arg_mapping`. */
function buildBindings(
  subject: string,
  method: 'execute' | 'revert',
  requires: readonly string[],
  optional: readonly string[],
  rebind: unknown,
  rebindOption: string,
): readonly ArgBinding[] {
  if (requires.length === 0 && optional.length === 0 && rebind === undefined) return NONE;
  const map = new Map<string, string>();
  for (const r of requires) map.set(r, r);
  const optionalSet = new Set(optional.filter((o) => !map.has(o)));
  if (rebind !== undefined) {
    if (Array.isArray(rebind)) {
      if (!isStringList(rebind)) throw bad(subject, rebindOption, 'must be a list of non-empty strings or an object');
      if (rebind.length > requires.length) {
        throw bad(
          subject,
          rebindOption,
          `lists ${rebind.length} names but ${method} requires only ${requires.length} ([${requires.join(', ')}])`,
        );
      }
      rebind.forEach((stored, i) => map.set(requires[i]!, stored));
    } else if (typeof rebind === 'object' && rebind !== null) {
      for (const [arg, stored] of Object.entries(rebind)) {
        if (typeof stored !== 'string' || stored.length === 0) {
          throw bad(subject, rebindOption, `maps '${arg}' to ${describeValue(stored)}, not a name`);
        }
        if (map.has(arg)) map.set(arg, stored);
        else if (optionalSet.has(arg)) {
          // Naming an optional argument in rebind makes it required (TaskFlow).
          optionalSet.delete(arg);
          map.set(arg, stored);
        } else if (method === 'execute') {
          throw bad(subject, rebindOption, `renames '${arg}', which is not one of its arguments [${[...map.keys(), ...optionalSet].join(', ')}]`);
        }
      }
    } else {
      throw bad(subject, rebindOption, `must be a list or an object, not ${describeValue(rebind)}`);
    }
  }
  const out: ArgBinding[] = [];
  for (const [arg, stored] of map) out.push(Object.freeze({ arg, stored, optional: false }));
  for (const arg of optionalSet) out.push(Object.freeze({ arg, stored: arg, optional: true }));
  return Object.freeze(out);
}

interface AtomStatics {
  readonly requires?: readonly string[];
  readonly optional?: readonly string[];
  readonly provides?: string | readonly string[];
  readonly revertRequires?: readonly string[];
}

export abstract class Atom {
  /** 'task' or 'retry'. */
  abstract readonly kind: AtomKind;
  #name: string | undefined;
  readonly version: string;
  readonly priority: number;
  /** Engine 'worker': delivered again after its worker died ('once', the default) or not ('never'). */
  readonly redeliver: Redeliver;
  readonly provides: ProvidesSpec;
  /** Names this atom publishes (in order). */
  readonly provided: readonly string[];
  readonly inject: Readonly<Record<string, unknown>>;
  readonly executeArgs: readonly ArgBinding[];
  readonly revertArgs: readonly ArgBinding[];
  /** Stored names needed by execute and revert, not counting injected or optional ones. */
  readonly requires: readonly string[];
  /** Stored names used only if something provides them. */
  readonly optional: readonly string[];
  /** How long one execute or revert may take, in ms (undefined: the engine's default, if any). */
  readonly timeoutMs: number | undefined;

  protected constructor(options: AtomOptions = {}, fallbackName?: string, extraOptionKeys: readonly string[] = []) {
    if (typeof options !== 'object' || options === null) {
      throw new InvariantViolation(`atom options must be an object, not ${describeValue(options)}`);
    }
    const statics = this.constructor as AtomStatics;
    const name = options.name ?? fallbackName;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
      throw new InvariantViolation(`atom name must be a non-empty string, not ${describeValue(name)}`, { option: 'name' });
    }
    this.#name = name;
    const subject = name ?? '(unnamed)';
    checkOptionKeys(subject, options, extraOptionKeys);

    const version = options.version ?? '1.0';
    if (typeof version !== 'string' && typeof version !== 'number') throw bad(subject, 'version', 'must be a string or a number');
    this.version = String(version);
    const priority = options.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) throw bad(subject, 'priority', 'must be a finite number');
    this.priority = priority;
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS)) {
      throw bad(subject, 'timeoutMs', `must be a number of milliseconds > 0 and <= ${MAX_TIMEOUT_MS}, not ${JSON.stringify(timeoutMs)}`);
    }
    this.timeoutMs = timeoutMs;
    const redeliver = options.redeliver ?? 'once';
    if (redeliver !== 'once' && redeliver !== 'never') throw bad(subject, 'redeliver', `must be 'once' or 'never', not ${JSON.stringify(redeliver)}`);
    this.redeliver = redeliver;
    this.provides = parseProvides(subject, options.provides ?? statics.provides);
    const p = this.provides;
    this.provided = p.kind === 'whole' ? Object.freeze([p.name]) : p.kind === 'each' ? p.names : NONE;
    if (options.inject !== undefined && (typeof options.inject !== 'object' || options.inject === null || Array.isArray(options.inject))) {
      throw bad(subject, 'inject', 'must be an object of values keyed by stored name');
    }
    this.inject = options.inject === undefined ? NO_INJECT : Object.freeze({ ...options.inject });

    const requires = joinLists(subject, 'requires', statics.requires, options.requires);
    const optional = joinLists(subject, 'optional', statics.optional, options.optional);
    const revertRequires =
      options.revertRequires !== undefined || statics.revertRequires !== undefined
        ? joinLists(subject, 'revertRequires', statics.revertRequires, options.revertRequires)
        : requires;
    this.executeArgs = buildBindings(subject, 'execute', requires, optional, options.rebind, 'rebind');
    this.revertArgs =
      revertRequires === requires && options.revertRebind === undefined
        ? this.executeArgs
        : buildBindings(
            subject,
            'revert',
            revertRequires,
            revertRequires === requires ? optional : NONE,
            options.revertRebind ?? options.rebind,
            options.revertRebind !== undefined ? 'revertRebind' : 'rebind',
          );
    if (this.executeArgs.length === 0 && this.revertArgs.length === 0) {
      this.requires = NONE;
      this.optional = NONE;
      return;
    }
    const injected = this.inject;
    const required = new Set<string>();
    const opt = new Set<string>();
    for (const list of [this.executeArgs, this.revertArgs]) {
      for (const b of list) {
        if (Object.hasOwn(injected, b.stored)) continue;
        if (b.optional) opt.add(b.stored);
        else required.add(b.stored);
      }
    }
    for (const r of required) opt.delete(r);
    this.requires = Object.freeze([...required]);
    this.optional = Object.freeze([...opt]);
  }

  get name(): string {
    if (this.#name === undefined) {
      throw new InvariantViolation(`a ${this.kind} has no name yet: give it one, or attach it to a flow that names it`);
    }
    return this.#name;
  }

  /** True once the atom has a name (a retry gets `<flow>_retry` from its flow). */
  get hasName(): boolean {
    return this.#name !== undefined;
  }

  /** Used by flows to name an unnamed retry; a no-op when it already has a name. */
  assignDefaultName(name: string): void {
    if (this.#name === undefined) this.#name = name;
  }

  toString(): string {
    return `"${this.#name ?? '(unnamed)'}==${this.version}"`;
  }

  /**
   * Runs the atom's `execute` (or, with `{ revert: true, result }`, its `revert`) directly, without
   * an engine or a store: `values` are keyed by stored name (what `requires` lists; `rebind`,
   * `inject` and `optional` apply as in a run). A required value missing is refused as in a run
   * (MissingDependencies naming them); `timeoutMs` applies (AtomTimeout).
   */
  async invoke(values: Readonly<Record<string, unknown>> = {}, options: InvokeOptions = {}): Promise<unknown> {
    const subject = this.#name ?? '(unnamed)';
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new InvariantViolation(`atom '${subject}': invoke() takes an object of values keyed by stored name`, { subject, option: 'values' });
    }
    if (typeof options !== 'object' || options === null) throw new InvariantViolation(`atom '${subject}': invoke() options must be an object`, { subject });
    for (const k of Object.keys(options)) {
      if (!INVOKE_KEYS.has(k)) throw new InvariantViolation(`atom '${subject}': unknown invoke() option '${k}' (known: ${[...INVOKE_KEYS].join(', ')})`, { subject, option: k });
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw bad(subject, 'signal', 'must be an AbortSignal');
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw bad(subject, 'onProgress', 'must be a function');
    for (const k of ['flowUuid', 'atomUuid'] as const) {
      const v = options[k];
      if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw bad(subject, k, 'must be a non-empty string');
    }
    if (options.attempt !== undefined && (!Number.isInteger(options.attempt) || options.attempt < 1)) throw bad(subject, 'attempt', 'must be an integer >= 1');
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS)) {
      throw bad(subject, 'timeoutMs', `must be a number of milliseconds > 0 and <= ${MAX_TIMEOUT_MS}`);
    }
    const action = options.revert === true ? 'revert' : 'execute';
    const bindings = action === 'execute' ? this.executeArgs : this.revertArgs;
    const args: Record<string, unknown> = {};
    const missing: string[] = [];
    for (const b of bindings) {
      if (Object.hasOwn(this.inject, b.stored)) args[b.arg] = this.inject[b.stored];
      else if (Object.hasOwn(values, b.stored)) args[b.arg] = values[b.stored];
      else if (!b.optional) missing.push(b.stored);
    }
    if (missing.length > 0) throw new MissingDependencies({ [subject]: missing }, `invoke() of ${this.kind} '${subject}'`);
    if (timeoutMs === undefined) return this.perform(action, args, new InvokeContext(subject, options.signal ?? NEVER_ABORTED, options));
    const controller = new AbortController();
    const outer = options.signal;
    const onAbort = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    else outer?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        this.perform(action, args, new InvokeContext(subject, controller.signal, options)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new AtomTimeout(subject, timeoutMs, action);
            reject(error);
            controller.abort(error);
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }

  /** Calls `execute` or `revert` with mapped arguments and a context (what `invoke()` ends in). */
  protected abstract perform(action: 'execute' | 'revert', args: Record<string, unknown>, ctx: RevertContext): unknown;
}
