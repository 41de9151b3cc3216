/**
 * The serial executor: one job at a time, and the whole batch started in one scheduling step runs
 * before any outcome is reported (TaskFlow's serial engine), so results are analysed together.
 */
import { runJob, type Completion, type Executor, type Job, type Post } from './executor.js';

export class SerialExecutor implements Executor {
  readonly kind = 'serial';
  readonly capacity = Number.POSITIVE_INFINITY;
  readonly #post: Post;
  #batch: Job[] = [];
  #scheduled = false;

  constructor(post: Post) {
    this.#post = post;
  }

  start(job: Job): void {
    this.#batch.push(job);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => void this.#drain());
    }
  }

  async #drain(): Promise<void> {
    const out: Completion[] = [];
    while (this.#batch.length > 0) {
      const batch = this.#batch;
      this.#batch = [];
      for (const job of batch) {
        const c = runJob(job);
        out.push(c instanceof Promise ? await c : c);
      }
    }
    this.#scheduled = false;
    this.#post(out);
  }
}
