/**
 * The parallel executor: every job starts at once (the machine never starts more than `capacity`),
 * and each outcome is reported as soon as it arrives, so the machine can start newly ready atoms
 * while others still run. Jobs that do their work synchronously cannot overlap anyway; they
 * complete without a tick.
 */
import { runJob, type Executor, type Job, type Post } from './executor.js';

export class ParallelExecutor implements Executor {
  readonly kind = 'parallel';
  readonly capacity: number;
  readonly #post: Post;

  constructor(post: Post, maxWorkers: number) {
    this.#post = post;
    this.capacity = maxWorkers;
  }

  /**
   * Runs the job now: the machine starts a step's jobs only after the step's events were emitted.
   * A synchronous job completes at once; an asynchronous one reports when it settles.
   */
  start(job: Job): void {
    const c = runJob(job);
    if (c instanceof Promise) void c.then(this.#post);
    else this.#post(c);
  }
}
