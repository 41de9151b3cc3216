/**
 * The parallel executor: every job starts at once (the machine never starts more than `capacity`),
 * and each outcome is reported as soon as it arrives, so the machine can start newly ready atoms
 * while others still run.
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

  start(job: Job): void {
    // Start on a microtask so every job of a step is started after the step's events.
    queueMicrotask(() => {
      const c = runJob(job);
      if (c instanceof Promise) void c.then((done) => this.#post([done]));
      else this.#post([c]);
    });
  }
}
