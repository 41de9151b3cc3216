/**
 * Executors run atom jobs; they never see the graph or storage. Serial and parallel engines differ
 * only here (a distributed engine is one more executor). A job is a closure made by the machine
 * that calls `execute`/`revert` with its arguments and context; the executor reports each outcome
 * through `post`, which wakes the machine.
 */
export interface Job {
  readonly atom: number;
  readonly action: 'execute' | 'revert';
  run(): unknown;
  /** Records the outcome and returns it as a completion (the engine's jobs are their own completion). */
  settle(ok: boolean, value: unknown): Completion;
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
