/**
 * The serial executor: one job at a time, and the whole batch started in one scheduling step runs
 * before any outcome is reported (TaskFlow's serial engine), so results are analysed together.
 * Between two jobs of a batch the machine may store the outcome so far (see `Executor.drain`).
 */
import { Batch } from '../runtime/batch.js';
import { runJob, type Between, type Completion, type Executor, type Job, type Post } from './executor.js';

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

  drain(between?: Between): void | Promise<void> {
    const batch = this.#batch;
    const done = this.#done;
    const n = batch.size;
    if (n === 0) return;
    for (let k = 0; k < n; k++) {
      const job = batch.at(k);
      const wait = between?.(done.size > 0 ? done.at(done.size - 1) : undefined, job);
      if (wait !== undefined) return this.#finish(this.#take(k), done.takeFrom(0), wait, undefined, between);
      const c = runJob(job);
      if (c instanceof Promise) return this.#finish(this.#take(k), done.takeFrom(0), undefined, c, between);
      done.push(c);
    }
    batch.clear();
    for (let k = 0; k < done.size; k++) this.#post(done.at(k));
    done.clear();
  }

  /** Empties the batch, returning its jobs from position `k` on. */
  #take(k: number): Job[] {
    const rest = this.#batch.takeFrom(k);
    this.#batch.clear();
    return rest;
  }

  /**
   * The batch from its first asynchronous step on: `jobs[0]` is either waiting for `wait` (the
   * machine storing what came before) or already running (`pending`).
   */
  async #finish(jobs: readonly Job[], out: Completion[], wait: Promise<void> | undefined, pending: Promise<Completion> | undefined, between: Between | undefined): Promise<void> {
    for (let j = 0; j < jobs.length; j++) {
      let c: Completion | Promise<Completion>;
      if (j === 0 && pending !== undefined) c = pending;
      else {
        const w = j === 0 ? wait : between?.(out.length > 0 ? out[out.length - 1] : undefined, jobs[j]!);
        if (w !== undefined) await w;
        c = runJob(jobs[j]!);
      }
      out.push(c instanceof Promise ? await c : c);
    }
    for (const c of out) this.#post(c);
  }
}
