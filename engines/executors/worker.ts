/**
 * The worker executor (engine 'worker'): each task's execute/revert becomes a BullMQ job that a
 * worker process (`createWorker`, `atomflow worker`) runs; its outcome comes back as the job's
 * return value. The machine, retry decisions and revert order stay in this process, and so do
 * retry controllers (they run here, like the parallel engine runs them). This executor sees jobs
 * only, never the graph or the store.
 */
import { WorkerLost } from '../../lib/errors.js';
import { Failure, type FailureData } from '../../lib/failure.js';
import type { ResolvedWorkerOptions } from '../options.js';
import { runJob, type Executor, type Job, type JobDescription, type Post } from './executor.js';
import { QueueLink, type InFlight, type Outcome } from './worker-link.js';
import { jobIdOf, REPLY_FORMAT, type ProgressNote, type RemoteInfo, type Reply } from './worker-protocol.js';

/** A job that ran on a worker carries where and when (for execution info). */
export interface RemoteJob {
  remote?: RemoteInfo;
}

/**
 * Where and when the worker ran the job: kept on the job (`remote`), and copied into the job's
 * execution stamps when the job has them (execution info: hostname, pid and the times).
 */
function stamp(job: Job, info: RemoteInfo): void {
  (job as RemoteJob).remote = info;
  if (!('hostname' in job)) return;
  Object.assign(job, {
    hostname: info.hostname,
    pid: info.pid,
    threadId: 0,
    startedAt: info.startedAt,
    argsStartedAt: info.argsStartedAt,
    argsEndedAt: info.argsEndedAt,
    taskStartedAt: info.taskStartedAt,
    taskEndedAt: info.taskEndedAt,
    resultStartedAt: info.resultStartedAt,
    resultEndedAt: info.resultEndedAt,
    endedAt: info.endedAt,
  });
}

/** A failure made here for a job, shaped like those from workers (no live error), so run() rejects alike. */
function lost(e: WorkerLost): Failure {
  return Failure.fromJSON(Failure.from(e).toJSON());
}

/** What this executor uses of a job beyond `Job`, when the job has it: its timeout (see `AtomJob.guard`). */
interface GuardedJob extends Job {
  /** The outcome raced against the job's timeout, if it has one (armed at `calling()`). */
  guard(pending: PromiseLike<unknown>): PromiseLike<unknown>;
  /** The atom's own call has started (its timeout starts now). */
  calling(): void;
}

function isGuarded(job: Job): job is GuardedJob {
  return typeof (job as Partial<GuardedJob>).guard === 'function' && typeof (job as Partial<GuardedJob>).calling === 'function';
}

/**
 * One job on its way to a worker. A job with a timeout races its outcome against it: the timer
 * starts when a worker takes the job (BullMQ 'active', or found active by a look-up), so time in
 * the queue does not count, as a thread pool's queue does not. When it passes first, the job
 * fails with AtomTimeout, the link forgets it, and the worker's late reply is ignored (its times
 * are not stamped either). The worker is not told: its atom runs on until it returns.
 */
class Flight implements InFlight {
  readonly id: string;
  readonly description: JobDescription;
  readonly #job: Job;
  readonly #post: Post;
  /** Set for a guarded job: hands the outcome to the race. */
  #resolve: ((outcome: Outcome) => void) | undefined;

  constructor(job: Job, description: JobDescription, post: Post, forget: (flight: Flight) => void) {
    this.#job = job;
    this.description = description;
    this.id = jobIdOf(description);
    this.#post = post;
    if (isGuarded(job)) {
      const pending = new Promise<Outcome>((resolve) => (this.#resolve = resolve));
      job.guard(pending).then(
        (outcome) => this.#apply(outcome as Outcome),
        (e: unknown) => {
          // Its timeout passed (the pending outcome itself never rejects).
          forget(this);
          post(job.settle(false, e));
        },
      );
    }
  }

  onActive(): void {
    const job = this.#job;
    if (isGuarded(job)) job.calling();
  }

  onProgress(note: ProgressNote): void {
    if (typeof note.p === 'number') this.#job.progress(note.p, note.d);
  }

  onDone(outcome: Outcome): void {
    if (this.#resolve !== undefined) this.#resolve(outcome);
    else this.#apply(outcome);
  }

  #apply(outcome: Outcome): void {
    const job = this.#job;
    const d = this.description;
    if (outcome.kind === 'failed') {
      this.#post(job.settle(false, lost(new WorkerLost(d.atomName, d.action, this.id, outcome.reason))));
      return;
    }
    const reply = outcome.reply as Partial<Reply & { failure: FailureData }> | null;
    if (reply === null || typeof reply !== 'object' || reply.format !== REPLY_FORMAT) {
      this.#post(job.settle(false, lost(new WorkerLost(d.atomName, d.action, this.id, `the worker's reply is not understood: ${JSON.stringify(reply)?.slice(0, 200)}`))));
      return;
    }
    if (reply.info) stamp(job, reply.info);
    if (reply.ok) this.#post(job.settle(true, reply.value));
    else {
      let failure: Failure;
      try {
        failure = Failure.fromJSON(reply.failure!);
      } catch (e) {
        failure = Failure.from(e);
      }
      this.#post(job.settle(false, failure));
    }
  }
}

export class WorkerExecutor implements Executor {
  readonly kind = 'worker';
  readonly capacity: number;
  readonly #post: Post;
  readonly #options: ResolvedWorkerOptions;
  #link: QueueLink | undefined;

  constructor(post: Post, options: ResolvedWorkerOptions) {
    this.#post = post;
    this.#options = options;
    this.capacity = options.maxInFlight;
  }

  start(job: Job): void {
    const d = job.describe();
    if (d.kind === 'retry') {
      // Retry controllers decide in the engine; they run here.
      const c = runJob(job);
      if (c instanceof Promise) void c.then(this.#post);
      else this.#post(c);
      return;
    }
    const link = (this.#link ??= QueueLink.acquire(this.#options));
    // An atom stored in flight was dispatched before the engine stopped: find its job again.
    const inFlight = d.action === 'execute' ? d.state === 'RUNNING' : d.state === 'REVERTING';
    const mode = inFlight ? 'reattach' : d.action === 'revert' && d.state === 'REVERT_FAILURE' ? 'replace' : 'fresh';
    link.dispatch(new Flight(job, d, this.#post, (f) => link.forget(f)), mode);
  }

  async close(): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    await link?.release();
  }
}
