/**
 * The serial executor: one job at a time, and the whole batch started in one scheduling step runs
 * before any outcome is reported (TaskFlow's serial engine), so results are analysed together.
 */
import { Batch } from '../runtime/batch.js';
import { runJob, type Completion, type Executor, type Job, type Post } from './executor.js';

export class SerialExecutor implements Executor {
  readonly kind = 'serial';
  readonly capacity = Number.POSITIVE_INFINITY;
  readonly #post: Post;
  readonly #batch = new Batch<Job>();
  /** Outcomes of the batch being drained, posted once all of it has run (reused). */
  readonly #done = new Batch<Completion>();

  constructor(post: Post) {
    this.#post = post;
  }

  start(job: Job): void {
    this.#batch.push(job);
  }

  drain(): void | Promise<void> {
    const batch = this.#batch;
    const n = batch.size;
    if (n === 0) return;
    for (let k = 0; k < n; k++) {
      const c = runJob(batch.at(k));
      if (c instanceof Promise) {
        const rest = batch.takeFrom(k + 1);
        batch.clear();
        return this.#finish(c, this.#done.takeFrom(0), rest);
      }
      this.#done.push(c);
    }
    batch.clear();
    const done = this.#done;
    for (let k = 0; k < done.size; k++) this.#post(done.at(k));
    done.clear();
  }

  async #finish(pending: Promise<Completion>, out: Completion[], rest: readonly Job[]): Promise<void> {
    out.push(await pending);
    for (const job of rest) {
      const c = runJob(job);
      out.push(c instanceof Promise ? await c : c);
    }
    for (const c of out) this.#post(c);
  }
}
