/**
 * Shared test fixtures (TaskFlow's tests/utils.py, in our words): a capture listener that writes
 * TaskFlow-style transcripts (`t1.t RUNNING`, `t1.t SUCCESS(5)`, `r.r RETRYING`, `f.f RUNNING`),
 * the fixture tasks used throughout the semantics reference, and `engineKinds` so every
 * behaviour suite runs on every engine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Failure, SqliteBackend, Task, type AtomContext, type Engine, type EngineKind, type LoadOptions, type RevertContext } from '../../index.js';

/** Every engine kind a behaviour suite must pass on. */
export const engineKinds: readonly EngineKind[] = ['serial', 'parallel'];

/** Every engine kind, and the serial engine persisting to a SQLite file. */
export const engineConfigs = ['serial', 'parallel', 'serial+sqlite'] as const;
export type EngineConfig = (typeof engineConfigs)[number];

let dbDir: string | undefined;
let dbCount = 0;

/** Load options for a config: the engine kind, and for `+sqlite` a fresh SQLite file as backend. */
export function withEngine(config: EngineConfig, extra: LoadOptions = {}): LoadOptions {
  if (config === 'serial+sqlite') {
    if (dbDir === undefined) {
      const made = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-spec-'));
      dbDir = made;
      // Removed when the test file's process ends (its SQLite files may still be open until then).
      process.once('exit', () => fs.rmSync(made, { recursive: true, force: true }));
    }
    return { ...extra, engine: 'serial', backend: new SqliteBackend(path.join(dbDir, `run-${++dbCount}.db`)) };
  }
  return { ...extra, engine: config };
}

function show(v: unknown): string {
  if (v instanceof Failure) return v.toString();
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export interface CaptureOptions {
  flows?: boolean;
  atoms?: boolean;
  /** Skip these states (e.g. to ignore PENDING). */
  skipStates?: readonly string[];
}

/** Records engine events as TaskFlow-style strings into `values`. */
export class Capture {
  readonly values: string[] = [];
  readonly #offs: Array<() => void> = [];

  constructor(engine: Engine, options: CaptureOptions = {}) {
    const skip = new Set(options.skipStates ?? []);
    if (options.atoms !== false) {
      this.#offs.push(
        engine.on('atom', (e) => {
          if (skip.has(e.state)) return;
          const tag = e.kind === 'retry' ? 'r' : 't';
          const withResult = e.state === 'SUCCESS' || e.state === 'FAILURE' || e.state === 'REVERTED' || e.state === 'REVERT_FAILURE';
          const value = e.failure ?? e.result;
          this.values.push(`${e.name}.${tag} ${e.state}${withResult ? `(${show(value)})` : ''}`);
        }),
      );
    }
    if (options.flows !== false) {
      this.#offs.push(
        engine.on('flow', (e) => {
          if (skip.has(e.state)) return;
          this.values.push(`${e.name}.f ${e.state}`);
        }),
      );
    }
  }

  stop(): void {
    for (const off of this.#offs.splice(0)) off();
  }

  clear(): void {
    this.values.length = 0;
  }
}

/** Collects the states `runIter()` yields and what it finally throws. */
export async function iterStates(engine: Engine, onState?: (state: string, index: number) => void): Promise<{ states: string[]; error: unknown }> {
  const states: string[] = [];
  try {
    for await (const s of engine.runIter()) {
      states.push(s);
      onState?.(s, states.length);
    }
    return { states, error: undefined };
  } catch (error) {
    return { states, error };
  }
}

/** A shared list atoms append to, to check what ran in which order. */
export type Journal = string[];

/** P: reports progress 0.0 then 1.0 and returns 5 (TaskFlow's ProgressingTask). */
export class Progressing extends Task {
  constructor(name: string, opts: { provides?: string | string[]; requires?: string[]; priority?: number; journal?: Journal } = {}) {
    const { journal, ...rest } = opts;
    super({ name, ...rest });
    this.journal = journal;
  }
  readonly journal: Journal | undefined;
  execute(_args: Record<string, unknown>, ctx: AtomContext): number {
    ctx.progress(0);
    ctx.progress(1);
    this.journal?.push(`${this.name} execute`);
    return 5;
  }
  override revert(): void {
    this.journal?.push(`${this.name} revert`);
  }
}

/** F: execute throws `Woot!`; its revert does nothing (TaskFlow's FailingTask). */
export class Failing extends Task {
  constructor(name: string, opts: { requires?: string[]; journal?: Journal; priority?: number } = {}) {
    const { journal, ...rest } = opts;
    super({ name, ...rest });
    this.journal = journal;
  }
  readonly journal: Journal | undefined;
  execute(): never {
    this.journal?.push(`${this.name} execute`);
    throw new RuntimeError('Woot!');
  }
  override revert(): void {
    this.journal?.push(`${this.name} revert`);
  }
}

/** N: execute returns nothing; revert throws `Gotcha!` (TaskFlow's NastyTask). */
export class Nasty extends Task {
  execute(): void {}
  override revert(): never {
    throw new RuntimeError('Gotcha!');
  }
}

/** NF: execute throws `Woot!` and revert throws `Gotcha!`. */
export class NastyFailing extends Task {
  execute(): never {
    throw new RuntimeError('Woot!');
  }
  override revert(): never {
    throw new RuntimeError('Gotcha!');
  }
}

/** C: execute(x, y) throws `Woot!` unless x === y (TaskFlow's ConditionalTask). */
export class Conditional extends Task<{ x: unknown; y: unknown }> {
  static override requires = ['x', 'y'];
  execute({ x, y }: { x: unknown; y: unknown }): void {
    if (x !== y) throw new RuntimeError('Woot!');
  }
}

/** An error class named like Python's RuntimeError, so transcripts read as TaskFlow's do. */
export class RuntimeError extends Error {}

/** T: returns `ret`, or throws `fail-<name>`; its revert throws `rfail-<name>` when asked. */
export class T extends Task {
  readonly ret: unknown;
  readonly fail: boolean;
  readonly rfail: boolean;
  readonly journal: Journal | undefined;
  constructor(
    name: string,
    opts: { ret?: unknown; fail?: boolean; rfail?: boolean; provides?: string | string[]; requires?: string[]; rebind?: Record<string, string> | string[]; journal?: Journal; priority?: number; inject?: Record<string, unknown> } = {},
  ) {
    const { ret, fail, rfail, journal, ...rest } = opts;
    super({ name, ...rest });
    this.ret = ret;
    this.fail = fail ?? false;
    this.rfail = rfail ?? false;
    this.journal = journal;
  }
  execute(args: Record<string, unknown>): unknown {
    this.journal?.push(`${this.name} execute${Object.keys(args).length ? ' ' + JSON.stringify(args) : ''}`);
    if (this.fail) throw new RuntimeError(`fail-${this.name}`);
    return this.ret;
  }
  override revert(_args: Record<string, unknown>, ctx: RevertContext): void {
    this.journal?.push(`${this.name} revert`);
    if (this.rfail) throw new TypeError(`rfail-${this.name}`);
    void ctx;
  }
}

/** Resolves after `ms` of real time (for tasks that must overlap on the parallel engine). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
