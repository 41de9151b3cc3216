/**
 * Shared test fixtures (TaskFlow's tests/utils.py, in our words): a capture listener that writes
 * TaskFlow-style transcripts (`t1.t RUNNING`, `t1.t SUCCESS(5)`, `r.r RETRYING`, `f.f RUNNING`),
 * the fixture tasks used throughout the semantics reference, and `engineKinds` so every
 * behaviour suite runs on every engine.
 */
import fs from 'node:fs';
import { test as nodeTest, type TestFn } from 'node:test';
import os from 'node:os';
import path from 'node:path';
import { freshSchema, pgPool } from './postgres.js';
import { suiteWorkerOptions } from './worker.js';
import { Failure, PostgresBackend, SqliteBackend, Task, type AtomContext, type TaskOptions, type Engine, type EngineKind, type LoadOptions, type RevertContext } from '../../index.js';

/** Every engine kind a behaviour suite must pass on. */
export const engineKinds: readonly EngineKind[] = ['serial', 'parallel'];

/** Every engine kind, and the serial engine persisting to a SQLite file and to PostgreSQL. */
export const engineConfigs = ['serial', 'parallel', 'serial+sqlite', 'serial+postgres'] as const;
export type EngineConfig = (typeof engineConfigs)[number] | 'worker';

/** The configs of the behaviour suites that also run on engine 'worker' (atoms in a worker process). */
export const suiteConfigs: readonly EngineConfig[] = [...engineConfigs, 'worker'];

let dbDir: string | undefined;
let pgSchema: string | undefined;
let dbCount = 0;

/**
 * Load options for a config: the engine kind, and for `+sqlite` a fresh SQLite file as backend,
 * for `+postgres` a backend on this process's test schema (one per test file, dropped at the end).
 */
export function withEngine(config: EngineConfig, extra: LoadOptions = {}): LoadOptions {
  if (config === 'worker') return suiteWorkerOptions(extra);
  if (config === 'serial+postgres') {
    pgSchema ??= freshSchema('engine');
    return { ...extra, engine: 'serial', backend: new PostgresBackend({ pool: pgPool(), schema: pgSchema }) };
  }
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
  /** Engine 'worker': how a worker process builds it. */
  static fromWorkerParams(name: string): Progressing {
    return new Progressing(name);
  }
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
  static fromWorkerParams(name: string): Failing {
    return new Failing(name);
  }
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

/** Returns a fixed value (the arguments suite's `give`). */
export class Give extends Task {
  readonly value: unknown;
  constructor(name: string, opts: { value: unknown; provides?: string | string[] }) {
    super({ name, ...(opts.provides !== undefined ? { provides: opts.provides } : {}) });
    this.value = opts.value;
  }
  workerParams(): { value: unknown } {
    return { value: this.value };
  }
  static fromWorkerParams(name: string, p: { value: unknown }): Give {
    return new Give(name, p);
  }
  execute(): unknown {
    return this.value;
  }
}

/** Returns its one argument, or all its arguments (the arguments suite's `use`). */
export class Use extends Task {
  readonly single: string | undefined;
  constructor(name: string, opts: { single?: string | undefined } & Omit<TaskOptions, 'name'>) {
    const { single, ...rest } = opts;
    super({ name, ...rest });
    this.single = single;
  }
  workerParams(): { single?: string } {
    return this.single === undefined ? {} : { single: this.single };
  }
  static fromWorkerParams(name: string, p: { single?: string }): Use {
    return new Use(name, p);
  }
  execute(args: Record<string, unknown>): unknown {
    return this.single === undefined ? args : args[this.single];
  }
}

/** Arithmetic on its arguments: 'inc' (value + 1), 'mul' (a × (b ?? 5)), 'sub' (a − b). */
export class Calc extends Task {
  readonly op: 'inc' | 'mul' | 'sub';
  constructor(name: string, op: 'inc' | 'mul' | 'sub', options: Omit<TaskOptions, 'name'> = {}) {
    super({ name, ...options });
    this.op = op;
  }
  workerParams(): { op: string } {
    return { op: this.op };
  }
  static fromWorkerParams(name: string, p: { op: 'inc' | 'mul' | 'sub' }): Calc {
    return new Calc(name, p.op);
  }
  execute(args: Record<string, unknown>): number {
    const n = (k: string): number => args[k] as number;
    if (this.op === 'inc') return n('value') + 1;
    if (this.op === 'mul') return n('a') * ((args['b'] as number | undefined) ?? 5);
    return n('a') - n('b');
  }
}

/** TaskFlow's FailingTaskWithOneArg: execute(x) throws `Woot with <x>`. */
export class FailingWithArg extends Task<{ x: unknown }> {
  static override requires = ['x'];
  execute({ x }: { x: unknown }): never {
    throw new RuntimeError(`Woot with ${String(x)}`);
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
  /** Engine 'worker': what a worker process needs to build the same task (see `fromWorkerParams`). */
  workerParams(): { ret: unknown; fail: boolean; rfail: boolean } {
    return { ret: this.ret, fail: this.fail, rfail: this.rfail };
  }
  static fromWorkerParams(name: string, params: { ret?: unknown; fail?: boolean; rfail?: boolean } | undefined): T {
    return new T(name, params ?? {});
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

/**
 * Tests of the behaviour suites that cannot run on engine 'worker': their atoms are closures of
 * the test, or record into the test's memory (journals, counters), so a worker process cannot
 * load them. Everything else in those suites runs on 'worker' too.
 */
export const workerLocalTests = new Set<string>([
  "revert gets its own Failure as result and every execute failure",
  "nested linear flows revert children in reverse order",
  "graph flow orders by requires/provides whatever the add order, and reverts backwards",
  "running again after a failed revert retries the revert and finishes reverting",
  "onFailure 'halt' leaves the run un-reverted in FAILURE, and a re-run continues",
  "after SUCCESS a second run does nothing but report the flow",
  "reset() starts over",
  "priority orders ready atoms, for execution and for revert",
  "progress events: 0.0 and 1.0 from the engine around what the task reports",
  "a second run() while one is running is refused",
  "depth ALL ignores all successors",
  "depth FLOW ignores per depth",
  "depth NEIGHBORS ignores per depth",
  "depth ATOM ignores per depth",
  "jumping over an ignored provider at ATOM depth uses an earlier provider in scope",
  "a consumer of an ignored provider fails at schedule time: FAILURE without revert",
  "a task that calls suspend() finishes; nothing after it starts",
  "closing runIter right after SCHEDULING suspends cleanly before any atom runs",
  "aborting the run signal acts as suspend; an in-flight revert is never cancelled",
  // retries
  "execute and onFailure see the history, the current failure included (§4.1)",
  "exhausted Times: revert sees the whole history, the run rejects with the LAST failure object, the history is cleared (§4.1)",
  "Times(0) runs the subflow exactly once",
  "Times(1) runs the subflow exactly once",
  "ParameterizedForEach with rebind: the retry_flow example (phone_directory)",
  "AlwaysRevert reverts its subflow at the first failure",
  "a sibling still running when the other fails finishes, is reverted, then both retry (test_when_subflow_fails_revert_running_tasks)",
  "graph flow: a consumer of the retried subflow runs after it succeeds",
  "graph flow: a consumer of the subflow output that already ran is reverted and re-run when the subflow is retried",
  "a retry's provides are visible to its subflow and after it; flow.requires does not list them",
  "fixed backoff: the retry does not run again until the clock has moved by the delay",
  "suspend() during a backoff wait ends the run SUSPENDED; a second run() waits out the rest of the delay",
]);

/**
 * `test`, except that on engine 'worker' the tests listed in `workerLocalTests` are not registered
 * (they run on every other engine; a worker process cannot load their atoms).
 */
export function forEngine(engine: EngineConfig): (name: string, fn: TestFn) => void {
  return (name, fn) => {
    if (engine === 'worker' && workerLocalTests.has(name)) return;
    nodeTest(name, fn);
  };
}

/**
 * What a run raised, as `{ type, message }`: the error itself in-process; on engine 'worker' the
 * original object stays in the worker, so `run()` raises a WrappedFailure of its Failure (API.md).
 */
export function raised(engine: EngineConfig, thrown: unknown): { type: string; message: string } {
  const failures = (thrown as { failures?: ReadonlyArray<{ exceptionType: string; message: string }> } | undefined)?.failures;
  if (engine === 'worker' && Array.isArray(failures) && failures.length === 1) return { type: failures[0]!.exceptionType, message: failures[0]!.message };
  return { type: (thrown as Error)?.constructor?.name ?? typeof thrown, message: (thrown as Error)?.message };
}
