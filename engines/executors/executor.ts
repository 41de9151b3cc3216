/**
 * Executors run atom jobs; they never see the graph or storage. Serial and parallel engines differ
 * only here (a distributed engine is one more executor). A job is a closure made by the machine
 * that calls `execute`/`revert` with its arguments and context; the executor reports each outcome
 * through `post`, which wakes the machine.
 */
import type { FailureData } from '../../lib/failure.js';

export interface Job {
  readonly atom: number;
  readonly action: 'execute' | 'revert';
  run(): unknown;
  /** Records the outcome and returns it as a completion (the engine's jobs are their own completion). */
  settle(ok: boolean, value: unknown): Completion;
  /** The job as plain JSON, for executors that run it elsewhere (the worker engine). */
  describe(): JobDescription;
  /** Reports progress made elsewhere, as the atom's `ctx.progress` would. */
  progress(fraction: number, details?: Readonly<Record<string, unknown>>): void;
}

/**
 * A job as JSON: what a worker process needs to find the atom and call it, and the ids that name
 * the call (the same across an engine's crash and resume of one attempt).
 */
export interface JobDescription {
  readonly format: 1;
  readonly kind: 'task' | 'retry';
  readonly atomName: string;
  /** The atom's class name (a `task()` atom is found by `atomName`). */
  readonly className: string;
  readonly version: string;
  readonly action: 'execute' | 'revert';
  /** The atom's stored state when the job was made: RUNNING / REVERTING means it was already in flight (a resume). */
  readonly state: string;
  readonly args: Readonly<Record<string, unknown>>;
  /** Revert: what execute returned (absent when it failed or never finished). */
  readonly result?: unknown;
  /** Revert: execute's failure, when it failed. */
  readonly resultFailure?: FailureData;
  /** Revert: the run's execute failures so far. */
  readonly flowFailures?: Readonly<Record<string, FailureData>>;
  readonly flowUuid: string;
  readonly atomUuid: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  /** The atom's `redeliver` option. */
  readonly redeliver: 'once' | 'never';
  /** What the atom's `workerParams()` returned, for its class's `fromWorkerParams(name, params)`. */
  readonly params?: unknown;
}

export interface Completion {
  readonly job: Job;
  readonly ok: boolean;
  /** The returned value (ok) or the thrown value (not ok). */
  readonly value: unknown;
}

export interface Executor {
  /** 'serial' | 'parallel' | ... */
  readonly kind: string;
  /** How many jobs may be running at once. */
  readonly capacity: number;
  /** Starts (or queues, for a serial batch) a job; outcomes arrive through `post`. */
  start(job: Job): void;
  /**
   * Runs queued work now, when the executor queues (the serial batch): the machine calls it when
   * it starts waiting. Synchronous jobs complete without a tick; a promise means some job is async.
   * `between` is called before each queued job starts, with the outcome of the job run just before
   * it in this batch (undefined for the first): the machine stores that outcome and the start, so
   * a crash inside a batch only runs the job in flight again. The next job waits for its promise.
   */
  drain?(between?: Between): void | Promise<void>;
  /** Releases what the executor holds (connections); called when a run ends. */
  close?(): Promise<void>;
}

/** See `Executor.drain`: what the machine does between two jobs of a queued batch. */
export type Between = (done: Completion | undefined, next: Job) => void | Promise<void>;

/** Reports one outcome to the machine (which applies it when it next analyses). */
export type Post = (completion: Completion) => void;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Runs one job to its outcome; a synchronous job completes without an extra tick. */
export function runJob(job: Job): Completion | Promise<Completion> {
  let v: unknown;
  try {
    v = job.run();
  } catch (e) {
    return job.settle(false, e);
  }
  if (!isThenable(v)) return job.settle(true, v);
  return Promise.resolve(v).then(
    (value) => job.settle(true, value),
    (value: unknown) => job.settle(false, value),
  );
}
