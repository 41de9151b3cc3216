/**
 * The benchmark workloads (the same as ../shared/bench/taskflow_bench.py, plus our own) and the
 * measuring protocol. Each workload times itself (`performance.now()` around load + run, as the
 * TaskFlow script times `engines.load(...)` + `run()`), checks afterwards that the run did what it
 * should (outside the timed region), and returns seconds.
 *
 * What is inside the timed region mirrors the TaskFlow script case by case: building the flow is
 * timed for the linear, unordered, sqlite and revert cases, and not for the graph chain (TaskFlow
 * builds that flow before starting the clock; we report its build time as `build_seconds`).
 */
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GraphFlow, LinearFlow, Task, UnorderedFlow, load, type AtomContext, type Engine, type Flow, type FlowItem } from '../index.js';
import { SqliteBackend, type Durability } from '../persistence/index.js';

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

const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {});
export const gcAvailable = (globalThis as { gc?: unknown }).gc !== undefined;

const now = (): number => performance.now();
const secs = (t0: number, t1 = now()): number => (t1 - t0) / 1000;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark workload went wrong: ${what}`);
}

/**
 * The protocol: one warm-up run at min(n, 1000) (untimed), then the median of 3 timed runs for
 * n <= 20,000, a single run above. A full GC runs before every timed run (with --expose-gc).
 */
export async function measure(work: Workload, n: number, options: { warmN?: number; runs?: number } = {}): Promise<Measured> {
  gc();
  await work(options.warmN ?? Math.min(n, 1000));
  const count = options.runs ?? (n <= 20_000 ? 3 : 1);
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    gc();
    samples.push(await work(n));
  }
  const sorted = [...samples].sort((a, b) => a.seconds - b.seconds);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return { ...median, n, runs: samples.map((s) => s.seconds) };
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

/** A fresh directory for SQLite files (ATOMFLOW_BENCH_TMP, else the OS temp dir), removed by `done`. */
export function scratch(): { path: string; done: () => void } {
  const dir = mkdtempSync(join(process.env.ATOMFLOW_BENCH_TMP ?? tmpdir(), 'atomflow-bench-'));
  return { path: join(dir, 'bench.db'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Durable SQLite on a fresh file; opening the backend (schema creation) is not timed, as in TaskFlow's script. */
export function linearSerialSqlite(durability: Durability): Workload {
  return async (n) => {
    const tmp = scratch();
    const backend = new SqliteBackend(tmp.path, { durability });
    try {
      gc();
      const t0 = now();
      const e = load(linear(n), { engine: 'serial', backend });
      await e.run();
      const s = secs(t0);
      const stored = await backend.getFlowDetail(e.flowDetail.uuid);
      check(stored.state === 'SUCCESS' && stored.atomDetails.length === n, 'the stored run is not SUCCESS with every atom');
      return { seconds: s };
    } finally {
      await backend.close();
      tmp.done();
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Our own workloads

/**
 * The limit: a bare loop awaiting the same no-op execute functions in turn. Only the loop is timed;
 * building the n tasks (which the linear cases do time, as TaskFlow's script does) is `build_seconds`.
 */
export async function rawLoop(n: number): Promise<Sample> {
  const ctx: AtomContext = { name: 'raw', signal: new AbortController().signal, progress: () => {} };
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

/**
 * The SQLite floor: what the engine's SQLite work costs at least, with better-sqlite3 directly, on a
 * fresh file in the same directory (WAL; synchronous NORMAL or FULL as the durability). One
 * IMMEDIATE transaction per atom, shaped like the engine's step commit for a linear flow (one
 * flow-row UPDATE and two atom-row upserts: the finished atom and the next one starting), on a
 * simpler schema (no foreign keys, no secondary index). Opening and creating tables is not timed.
 */
export function rawSqlite(durability: Durability): Workload {
  return async (n) => {
    const tmp = scratch();
    const db = new Database(tmp.path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
      db.exec(`CREATE TABLE flows (uuid TEXT PRIMARY KEY, state TEXT, meta TEXT, updated_at REAL);
        CREATE TABLE atoms (uuid TEXT PRIMARY KEY, parent TEXT, name TEXT, state TEXT, intention TEXT, results TEXT, meta TEXT, updated_at REAL)`);
      db.prepare("INSERT INTO flows VALUES ('f', 'RUNNING', '{}', 0)").run();
      const flow = db.prepare('UPDATE flows SET state = ?, meta = ?, updated_at = ? WHERE uuid = ?');
      const atom = db.prepare(`INSERT INTO atoms VALUES (?, 'f', ?, ?, 'EXECUTE', ?, '{}', ?) ON CONFLICT(uuid) DO UPDATE SET
        state = excluded.state, results = excluded.results, meta = excluded.meta, updated_at = excluded.updated_at`);
      const step = db.transaction((i: number) => {
        const t = Date.now();
        flow.run('RUNNING', '{}', t, 'f');
        if (i > 0) atom.run(`a${i - 1}`, `t${i - 1}`, 'SUCCESS', '[1]', t);
        atom.run(`a${i}`, `t${i}`, 'RUNNING', null, t);
      });
      const t0 = now();
      for (let i = 0; i < n; i++) step.immediate(i);
      const s = secs(t0);
      check((db.prepare('SELECT count(*) AS c FROM atoms').get() as { c: number }).c === n, 'raw sqlite rows');
      return { seconds: s };
    } finally {
      db.close();
      tmp.done();
    }
  };
}

export const IO_WORKERS = 1000;

export const ioIdealSeconds = (n: number): number => (Math.ceil(n / IO_WORKERS) * IO_MS) / 1000;

/** n atoms each awaiting a 10 ms timer, parallel engine with 1,000 workers. */
export async function ioParallel(n: number): Promise<Sample> {
  const t0 = now();
  const e = load(unordered(n, (name) => new Sleep({ name })), { engine: 'parallel', maxWorkers: IO_WORKERS });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'io flow did not succeed');
  const ideal = ioIdealSeconds(n);
  return { seconds: s, extra: { ideal_seconds: ideal, ratio: round(s / ideal, 3) } };
}

/**
 * Stores an n-atom linear run on SQLite, suspended by the task in the middle; then, with a new
 * backend connection and a fresh engine, times `load(flow, { backend, flowDetail })` + `run()` up
 * to the first newly executed atom's execute call (that atom suspends the resumed run, so the rest
 * is not run).
 */
export async function resumeSqlite(n: number): Promise<Sample> {
  const mid = Math.floor(n / 2);
  const tmp = scratch();
  try {
    const first = new SqliteBackend(tmp.path);
    let e1: Engine | undefined;
    const tasks1: Task[] = new Array(n);
    for (let i = 0; i < n; i++) tasks1[i] = i === mid - 1 ? new Hook(`t${i}`, () => e1!.suspend()) : new Noop({ name: `t${i}` });
    e1 = load(addAll(new LinearFlow('lin'), tasks1), { engine: 'serial', backend: first });
    const s0 = now();
    await e1.run();
    const storeSeconds = secs(s0);
    const uuid = e1.flowDetail.uuid;
    check(e1.storage.getFlowState() === 'SUSPENDED', 'the first run did not suspend');
    check(e1.storage.getAtomState(`t${mid - 1}`) === 'SUCCESS' && e1.storage.getAtomState(`t${mid}`) === 'PENDING', 'the first run did not stop half-way');
    await first.close();
    e1 = undefined;

    const backend = new SqliteBackend(tmp.path);
    try {
      let e2: Engine | undefined;
      let firstAt = 0;
      let firstName = '';
      const tasks2: Task[] = new Array(n);
      const probe = (name: string): void => {
        if (firstAt !== 0) return;
        firstAt = now();
        firstName = name;
        e2!.suspend();
      };
      for (let i = 0; i < n; i++) tasks2[i] = new Hook(`t${i}`, probe);
      const flow = addAll(new LinearFlow('lin'), tasks2);
      gc();
      const t0 = now();
      e2 = load(flow, { engine: 'serial', backend, flowDetail: uuid });
      await e2.run();
      check(firstAt !== 0 && firstName === `t${mid}`, `the first resumed atom was ${firstName || 'none'}, not t${mid}`);
      return { seconds: secs(t0, firstAt), extra: { store_seconds: round(storeSeconds, 3), suspended_at: mid } };
    } finally {
      await backend.close();
    }
  } finally {
    tmp.done();
  }
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

/** The TaskFlow script's cases, by name. */
export const TASKFLOW_CASES: Readonly<Record<string, Workload>> = {
  linear_serial_mem: linearSerialMem,
  unordered_parallel_mem: unorderedParallelMem,
  graph_chain_serial_mem: graphChainSerialMem,
  linear_serial_sqlite: linearSerialSqlite('normal'),
  linear_revert_serial_mem: linearRevertSerialMem,
};
