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

  constructor(post: Post) {
    this.#post = post;
  }

  start(job: Job): void {
    this.#batch.push(job);
  }

  drain(): void | Promise<void> {
    const batch = this.#batch;
    if (batch.length === 0) return;
    const out: Completion[] = [];
    for (let k = 0; k < batch.length; k++) {
      const c = runJob(batch[k]!);
      if (c instanceof Promise) {
        batch.splice(0, k + 1);
        return this.#finish(c, out);
      }
      out.push(c);
    }
    batch.length = 0;
    for (const c of out) this.#post(c);
  }

  async #finish(pending: Promise<Completion>, out: Completion[]): Promise<void> {
    out.push(await pending);
    while (this.#batch.length > 0) {
      const c = runJob(this.#batch.shift()!);
      out.push(c instanceof Promise ? await c : c);
    }
    for (const c of out) this.#post(c);
  }
}
