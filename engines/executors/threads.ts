/**
 * The threads executor (`engine: 'parallel', executor: 'threads'`): atoms declared importable run
 * in a pool of worker threads (piscina), so CPU-bound work runs beside the engine and beside each
 * other. The thread imports the atom's module, gets the arguments packed (v8 serialisation), and
 * sends back the outcome packed, with the execution stamps of each phase; progress crosses back on
 * a port of the job's own. Retry controllers run here in the engine's thread.
 *
 * The job's signal (its timeout, or the run's abort) is the pool task's signal: aborting a task
 * that is running stops its thread (piscina replaces it), so even an atom that never looks at its
 * signal is stopped. Inside a thread `ctx.signal` therefore never aborts by itself.
 */
import { MessageChannel } from 'node:worker_threads';
import { deserialize, serialize } from 'node:v8';
import type { AtomContext } from '../../lib/atom.js';
import type { Atom } from '../../lib/atom.js';
import { Failure, type FailureData } from '../../lib/failure.js';
import { importableOf, type ImportableAtom } from '../../lib/task.js';
import { runJob, type Executor, type Job, type Post } from './executor.js';
import type { ThreadReply, ThreadTask } from './thread-worker.js';

/** What this executor needs of a job beyond `Job`: the atom, its arguments, its context and its deadline. */
export interface PortableJob extends Job {
  readonly target: Atom;
  readonly args: Record<string, unknown>;
  readonly context: AtomContext & { readonly result?: unknown; readonly flowFailures?: Readonly<Record<string, Failure>> };
  /** The outcome raced against the job's timeout, if it has one (armed at `calling()`). */
  guard(pending: PromiseLike<unknown>): PromiseLike<unknown>;
  /** The thread has started the atom's own call. */
  calling(): void;
}

/** The part of a thread pool this executor uses (piscina's `run` and `destroy`). */
interface Pool {
  run(task: ThreadTask, options: { transferList?: readonly unknown[]; signal?: AbortSignal }): Promise<ThreadReply>;
  destroy(): Promise<void>;
}

const WORKER = new URL('./thread-worker.js', import.meta.url);

async function makePool(threads: number): Promise<Pool> {
  const { Piscina } = await import('piscina');
  return new Piscina({ filename: WORKER.href, minThreads: threads, maxThreads: threads, concurrentTasksPerWorker: 1 }) as unknown as Pool;
}

export class ThreadsExecutor implements Executor {
  readonly kind = 'threads';
  readonly capacity: number;
  readonly #post: Post;
  #pool: Promise<Pool> | undefined;
  #closed = false;

  constructor(post: Post, threads: number) {
    this.#post = post;
    this.capacity = threads;
  }

  start(job: Job): void {
    const j = job as PortableJob;
    const where = importableOf(j.target);
    if (where === undefined) {
      // A retry controller (the engine refused other atoms at load): run it here.
      const c = runJob(job);
      if (c instanceof Promise) void c.then(this.#post);
      else this.#post(c);
      return;
    }
    void this.#dispatch(j, where).then(this.#post);
  }

  async #dispatch(job: PortableJob, where: ImportableAtom) {
    const ctx = job.context;
    const { port1, port2 } = new MessageChannel();
    // 'call' when the atom's own call starts, progress reports, then `null` when the thread is
    // done with the job (a port keeps its messages in order).
    let drained!: () => void;
    const allReported = new Promise<void>((resolve) => (drained = resolve));
    port1.on('message', (m: [number, Readonly<Record<string, unknown>>?] | 'call' | null) => {
      if (m === null) drained();
      else if (m === 'call') job.calling();
      else ctx.progress(m[0], m[1]);
    });
    try {
      const input = serialize(
        job.action === 'execute'
          ? { args: job.args }
          : {
              args: job.args,
              ...(ctx.result instanceof Failure ? { resultFailure: ctx.result.toJSON() } : { result: ctx.result }),
              flowFailures: Object.fromEntries(Object.entries(ctx.flowFailures ?? {}).map(([k, f]) => [k, f.toJSON()])),
            },
      );
      const pool = await (this.#pool ??= makePool(this.capacity));
      const task: ThreadTask = {
        ...where,
        action: job.action,
        name: ctx.name,
        flowUuid: ctx.flowUuid,
        atomUuid: ctx.atomUuid,
        attempt: ctx.attempt,
        input,
        port: port2,
      };
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const reply = (await job.guard(pool.run(task, { transferList: [port2], signal: ctx.signal }))) as ThreadReply;
      await allReported;
      job.hostname = reply.hostname;
      job.pid = reply.pid;
      job.threadId = reply.threadId;
      const s = reply.stamps;
      job.startedAt = s[0]!;
      job.argsStartedAt = s[1]!;
      job.argsEndedAt = s[2]!;
      job.taskStartedAt = s[3]!;
      job.taskEndedAt = s[4]!;
      job.resultStartedAt = s[5]!;
      job.resultEndedAt = s[6]!;
      job.endedAt = s[7]!;
      return reply.ok ? job.settle(true, deserialize(reply.value as Uint8Array)) : job.settle(false, Failure.fromJSON(reply.value as FailureData));
    } catch (e) {
      // Its timeout, the run's abort, or something that could not be packed.
      return job.settle(false, e);
    } finally {
      port1.close();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool !== undefined) await (await pool).destroy();
  }
}
