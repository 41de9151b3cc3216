/**
 * The benchmark workloads that run in memory (the same as ../shared/bench/taskflow_bench.py, plus
 * our own) and the measuring protocol; the SQLite ones are in sqlite-cases.ts. Each workload times
 * itself (`performance.now()` around load + run, as the TaskFlow script times `engines.load(...)` +
 * `run()`), checks afterwards that the run did what it should (outside the timed region), and
 * returns seconds.
 *
 * What is inside the timed region mirrors the TaskFlow script case by case: building the flow is
 * timed for the linear, unordered, sqlite and revert cases, and not for the graph chain (TaskFlow
 * builds that flow before starting the clock; we report its build time as `build_seconds`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GraphFlow, LinearFlow, Task, UnorderedFlow, load, type AtomContext, type Flow, type FlowItem } from '../index.js';
// ---------------------------------------------------------------------------------------------
// Tasks (TaskFlow script: Noop, Chain, Boom)

export class Noop extends Task<Record<string, never>, number> {
  execute(): number {
    return 1;
  }
}

export class Chain extends Task<{ x: number }, number> {
  static override requires = ['x'];
  execute({ x }: { x: number }): number {
    return x + 1;
  }
}

export class BoomError extends Error {
  override name = 'BoomError';
}

export class Boom extends Task<Record<string, never>, never> {
  execute(): never {
    throw new BoomError('boom');
  }
}

/** Awaits a 10 ms timer (the io_parallel workload). */
export class Sleep extends Task<Record<string, never>, number> {
  execute(): Promise<number> {
    return new Promise((resolve) => setTimeout(resolve, IO_MS, 1));
  }
}
export const IO_MS = 10;

/** Calls `hook` from inside execute (used to suspend a run, and to time the first resumed atom). */
export class Hook extends Task<Record<string, never>, number> {
  readonly #hook: (name: string) => void;
  constructor(name: string, hook: (name: string) => void) {
    super({ name });
    this.#hook = hook;
  }
  execute(): number {
    this.#hook(this.name);
    return 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Flows

/**
 * `flow.add(...tasks)` as TaskFlow's script does (`f.add(*tasks)`), but at most ADD_CHUNK items per
 * call: one `add()` of 100,000 items overflows the stack (lib/flow.ts `this.items.push(...items)`,
 * as of this writing). Below ADD_CHUNK this is exactly one `add()` call.
 */
export const ADD_CHUNK = 10_000;
export function addAll<F extends Flow>(flow: F, items: readonly FlowItem[]): F {
  for (let i = 0; i < items.length; i += ADD_CHUNK) flow.add(...items.slice(i, i + ADD_CHUNK));
  return flow;
}

export function linear(n: number): LinearFlow {
  const tasks: Task[] = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = new Noop({ name: `t${i}` });
  return addAll(new LinearFlow('lin'), tasks);
}

export function unordered(n: number, make: (name: string) => Task = (name) => new Noop({ name })): UnorderedFlow {
  const tasks: Task[] = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = make(`t${i}`);
  return addAll(new UnorderedFlow('un'), tasks);
}

export function graphChain(n: number): GraphFlow {
  const tasks: Task[] = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = new Chain({ name: `t${i}`, provides: `x${i + 1}`, rebind: { x: `x${i}` } });
  return addAll(new GraphFlow('g'), tasks);
}

// ---------------------------------------------------------------------------------------------
// Measuring

export interface Sample {
  readonly seconds: number;
  /** Extra fields for the JSON line. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export type Workload = (n: number) => Promise<Sample>;

export interface Measured extends Sample {
  readonly n: number;
  /** Seconds of every timed run (the reported one is their median). */
  readonly runs: readonly number[];
}

export const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {});
export const gcAvailable = (globalThis as { gc?: unknown }).gc !== undefined;

export const now = (): number => performance.now();
export const secs = (t0: number, t1 = now()): number => (t1 - t0) / 1000;

export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark workload went wrong: ${what}`);
}

/**
 * The protocol, steady state as in a service that runs flows all day: untimed warm-up runs at
 * min(n, 20,000), at least WARM_RUNS and at least WARM_ATOMS atoms in all (V8 needs some 50,000
 * atoms through the engine before its code is fully compiled), then the median of TIMED_RUNS
 * timed runs for n <= 20,000, a single run above. One full GC runs before the warm-up, none between runs: a forced full GC drops V8's type feedback and the next run
 * re-learns it (measured 2-3x slower), which no real process does; the GCs a run causes itself are
 * inside its time. The first warm-up run is reported too (`cold_us_per_atom`, when at the same n).
 */
export const WARM_CAP = 20_000;
/** Timed runs per measurement (the median is reported): 5 up to 20,000 atoms, else 1. */
export const TIMED_RUNS = 5;
export const timedRuns = (n: number): number => (n <= 20_000 ? TIMED_RUNS : 1);
/** At least this many warm-up runs, and enough of them to pass WARM_ATOMS atoms through the engine. */
export const WARM_RUNS = 5;
export const WARM_ATOMS = 100_000;
export async function measure(work: Workload, n: number, options: { warmN?: number; runs?: number } = {}): Promise<Measured> {
  gc();
  const warmN = options.warmN ?? Math.min(n, WARM_CAP);
  let cold: Sample | undefined;
  const warmRuns = Math.max(WARM_RUNS, Math.ceil(WARM_ATOMS / Math.max(1, warmN)));
  for (let w = 0; w < warmRuns; w++) {
    const sample = await work(warmN);
    cold ??= sample;
  }
  const count = options.runs ?? timedRuns(n);
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) samples.push(await work(n));
  const sorted = [...samples].sort((a, b) => a.seconds - b.seconds);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const coldExtra = warmN === n && cold !== undefined ? { cold_us_per_atom: round((cold.seconds / n) * 1e6, 2) } : {};
  return { ...median, extra: { ...(median.extra ?? {}), ...coldExtra }, n, runs: samples.map((s) => s.seconds) };
}

// ---------------------------------------------------------------------------------------------
// The TaskFlow script's five workloads

export async function linearSerialMem(n: number): Promise<Sample> {
  const t0 = now();
  const e = load(linear(n), { engine: 'serial' });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'linear flow did not succeed');
  return { seconds: s };
}

export async function unorderedParallelMem(n: number): Promise<Sample> {
  const t0 = now();
  const e = load(unordered(n), { engine: 'parallel', maxWorkers: 2 });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'unordered flow did not succeed');
  return { seconds: s };
}

export async function graphChainSerialMem(n: number): Promise<Sample> {
  const b0 = now();
  const f = graphChain(n);
  const build = secs(b0);
  const t0 = now();
  const e = load(f, { engine: 'serial', store: { x0: 0 } });
  await e.run();
  const s = secs(t0);
  check(e.storage.fetch(`x${n}`) === n, `graph chain did not compute x${n} = ${n}`);
  return { seconds: s, extra: { build_seconds: round(build, 4) } };
}

export async function linearRevertSerialMem(n: number): Promise<Sample> {
  const t0 = now();
  const f = linear(n).add(new Boom({ name: 'boom' }));
  const e = load(f, { engine: 'serial' });
  let thrown: unknown;
  try {
    await e.run();
  } catch (err) {
    thrown = err;
  }
  const s = secs(t0);
  check(thrown instanceof BoomError, `the run did not reject with the task's error (got ${String(thrown)})`);
  check(e.storage.getFlowState() === 'REVERTED', 'the run did not end REVERTED');
  check(n === 0 || e.storage.getAtomState('t0') === 'REVERTED', 't0 was not reverted');
  return { seconds: s };
}

// ---------------------------------------------------------------------------------------------
// Our own workloads

/**
 * The limit: a bare loop awaiting the same no-op execute functions in turn. Only the loop is timed;
 * building the n tasks (which the linear cases do time, as TaskFlow's script does) is `build_seconds`.
 */
export async function rawLoop(n: number): Promise<Sample> {
  const ctx: AtomContext = { name: 'raw', signal: new AbortController().signal, progress: () => {}, flowUuid: 'f', atomUuid: 'a', attempt: 1, idempotencyKey: 'a:1' };
  const args = {} as Record<string, never>;
  let sum = 0;
  const b0 = now();
  const tasks: Array<Task<Record<string, never>, number>> = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = new Noop({ name: `t${i}` });
  const build = secs(b0);
  const t0 = now();
  for (let i = 0; i < n; i++) sum += await tasks[i]!.execute(args, ctx);
  const s = secs(t0);
  check(sum === n, 'raw loop sum');
  return { seconds: s, extra: { build_seconds: round(build, 4) } };
}

export const IO_WORKERS = 1000;

export const ioIdealSeconds = (n: number): number => (Math.ceil(n / IO_WORKERS) * IO_MS) / 1000;

/** n atoms each awaiting a 10 ms timer, parallel engine with 1,000 workers; load + run timed (building the flow is `build_seconds`). */
export async function ioParallel(n: number): Promise<Sample> {
  const b0 = now();
  const flow = unordered(n, (name) => new Sleep({ name }));
  const build = secs(b0);
  const t0 = now();
  const e = load(flow, { engine: 'parallel', maxWorkers: IO_WORKERS });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'io flow did not succeed');
  const ideal = ioIdealSeconds(n);
  return { seconds: s, extra: { ideal_seconds: ideal, ratio: round(s / ideal, 3), build_seconds: round(build, 4) } };
}

export interface RssReport {
  readonly maxrss_mb: number;
  readonly startup_maxrss_mb: number;
  readonly seconds: number;
}

/** Runs an n-atom linear flow in memory in a child process (bench/child-rss.ts) and reads its peak RSS. */
export function peakRss(n: number): RssReport {
  const child = join(dirname(fileURLToPath(import.meta.url)), 'child-rss.js');
  const r = spawnSync(process.execPath, [child, String(n)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child-rss failed (${r.status ?? r.signal}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as RssReport;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A fresh directory for SQLite files (ATOMFLOW_BENCH_TMP, else the OS temp dir), removed by `done`. */
export function scratch(): { path: string; done: () => void } {
  const dir = mkdtempSync(join(process.env.ATOMFLOW_BENCH_TMP ?? tmpdir(), 'atomflow-bench-'));
  return { path: join(dir, 'bench.db'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

