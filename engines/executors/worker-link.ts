/**
 * The engine side of a worker queue: one BullMQ `Queue` (to add jobs) and one `QueueEvents` (to
 * hear them finish) per connection and queue in this process, shared by every engine using them
 * and closed when the last one lets go. BullMQ is imported here, lazily, on first use.
 *
 * Jobs in flight are remembered by id; a completed job's return value is the worker's `Reply`.
 * Every `checkMs` the jobs still in flight are looked up in Redis, which catches an event missed
 * while the connection was down and a Redis that restarted without its data (the job is gone:
 * it is dispatched again).
 */
import createDebug from 'debug';
import type { Queue, QueueEvents } from 'bullmq';
import type { ResolvedWorkerOptions } from '../options.js';
import type { JobDescription } from './executor.js';
import { bullConnection, type ProgressNote, type Reply } from './worker-protocol.js';

const log = createDebug('atomflow:worker');

/** How one job in flight ends: the worker's reply, or the job failed in BullMQ (a lost worker). */
export type Outcome = { readonly kind: 'reply'; readonly reply: Reply } | { readonly kind: 'failed'; readonly reason: string };

export interface InFlight {
  readonly id: string;
  readonly description: JobDescription;
  /** A worker has taken the job (its atom's call starts: its timeout, if any, starts now). */
  onActive(): void;
  onProgress(note: ProgressNote): void;
  onDone(outcome: Outcome): void;
}

interface Entry {
  readonly flight: InFlight;
  /** True once the job is known to be in Redis (added, or found there). */
  added: boolean;
}

const links = new Map<string, QueueLink>();

export class QueueLink {
  readonly key: string;
  readonly #o: ResolvedWorkerOptions;
  #users = 0;
  #queue: Queue | undefined;
  #events: QueueEvents | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #inflight = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  private constructor(key: string, o: ResolvedWorkerOptions) {
    this.key = key;
    this.#o = o;
  }

  /** The process's link for these options (made on first use); `release()` it when done. */
  static acquire(o: ResolvedWorkerOptions): QueueLink {
    const key = `${typeof o.connection === 'string' ? o.connection : JSON.stringify(o.connection)}|${o.queue}`;
    let link = links.get(key);
    if (link === undefined || link.#closing !== undefined) {
      link = new QueueLink(key, o);
      links.set(key, link);
    }
    link.#users++;
    return link;
  }

  /** Lets go of the link; the last user closes it (nothing may be in flight by then). */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    if (links.get(this.key) === this) links.delete(this.key);
    this.#closing ??= this.#close();
    await this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#opening) await this.#opening.catch(() => undefined);
    await Promise.allSettled([this.#events?.close(), this.#queue?.close()]);
  }

  #open(): Promise<void> {
    this.#opening ??= this.#connect();
    return this.#opening;
  }

  async #connect(): Promise<void> {
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = bullConnection(this.#o.connection);
    const queue = new Queue(this.#o.queue, { connection });
    queue.on('error', (e) => log('queue %s: %s', this.#o.queue, e.message));
    this.#queue = queue;
    // Read events from the stream's current end, fixed before any job is added, so no completion
    // can slip between adding a job and the event reader's first read.
    const client = (await queue.backend.client) as unknown as { xrevrange(...args: Array<string | number>): Promise<Array<[string, string[]]>> };
    const last = (await client.xrevrange(`${queue.opts.prefix ?? 'bull'}:${this.#o.queue}:events`, '+', '-', 'COUNT', 1));
    const lastEventId = last.length > 0 ? last[0]![0] : '0-0';
    const events = new QueueEvents(this.#o.queue, { connection, lastEventId, blockingTimeout: 5000 });
    events.on('error', (e) => log('queue events %s: %s', this.#o.queue, e.message));
    events.on('completed', ({ jobId, returnvalue }) => this.#finish(jobId, { kind: 'reply', reply: returnvalue as unknown as Reply }));
    events.on('failed', ({ jobId, failedReason }) => this.#finish(jobId, { kind: 'failed', reason: failedReason }));
    events.on('active', ({ jobId }) => this.#inflight.get(jobId)?.flight.onActive());
    events.on('progress', ({ jobId, data }) => {
      const e = this.#inflight.get(jobId);
      if (e && typeof data === 'object' && data !== null) e.flight.onProgress(data as ProgressNote);
    });
    this.#events = events;
    this.#timer = setInterval(() => void this.#check(), this.#o.checkMs);
    this.#timer.unref();
  }

  #finish(id: string, outcome: Outcome): void {
    const e = this.#inflight.get(id);
    if (e === undefined) return;
    this.#inflight.delete(id);
    e.flight.onDone(outcome);
  }

  /** Stops waiting for a job (its timeout passed): a later outcome is dropped. */
  forget(flight: InFlight): void {
    if (this.#inflight.get(flight.id)?.flight === flight) this.#inflight.delete(flight.id);
  }

  /**
   * Sends a job to the workers. A job that may already be in Redis (its atom was stored in
   * flight: the engine died and resumed) is looked up first: finished → its outcome is taken;
   * waiting or running → it is waited for; gone → it is added again. `fresh` jobs are added
   * (after removing a finished namesake, e.g. a failed revert being tried again).
   */
  dispatch(flight: InFlight, mode: 'fresh' | 'reattach' | 'replace'): void {
    const entry: Entry = { flight, added: false };
    this.#inflight.set(flight.id, entry);
    void this.#dispatch(entry, mode).catch((e: unknown) => {
      // Redis unreachable: the next check adds it again.
      log('dispatch of %s failed: %s', flight.id, (e as Error)?.message ?? e);
    });
  }

  async #dispatch(entry: Entry, mode: 'fresh' | 'reattach' | 'replace'): Promise<void> {
    try {
      await this.#open();
    } catch (e) {
      // Not a Redis that is down (that is waited for): the queue cannot be opened at all.
      this.#opening = undefined;
      this.#finish(entry.flight.id, { kind: 'failed', reason: `the engine could not open queue '${this.#o.queue}': ${(e as Error)?.message ?? String(e)}` });
      return;
    }
    const queue = this.#queue!;
    const id = entry.flight.id;
    if (mode === 'reattach') {
      if (await this.#lookUp(entry)) return;
    } else if (mode === 'replace') {
      const state = await queue.getJobState(id);
      if (state === 'completed' || state === 'failed') await queue.remove(id);
    }
    if (entry.added || this.#inflight.get(id) !== entry) return;
    await this.#add(entry);
  }

  async #add(entry: Entry): Promise<void> {
    const d = entry.flight.description;
    const age = Math.ceil(this.#o.keepJobsMs / 1000);
    await this.#queue!.add(d.kind === 'task' && d.className !== 'FunctionTask' ? d.className : d.atomName, d, {
      jobId: entry.flight.id,
      attempts: 1,
      removeOnComplete: { age },
      removeOnFail: { age },
    });
    entry.added = true;
  }

  /** Takes the job's outcome if it finished; true when it did or it is still in Redis. */
  async #lookUp(entry: Entry): Promise<boolean> {
    const queue = this.#queue!;
    const id = entry.flight.id;
    const state = await queue.getJobState(id);
    if (state === 'unknown') return false;
    entry.added = true;
    // Taken by a worker (its 'active' event may have been missed, or came before a resume).
    if (state === 'active') entry.flight.onActive();
    if (state === 'completed' || state === 'failed') {
      const job = await queue.getJob(id);
      if (job === undefined) return false;
      log('job %s was already %s', id, state);
      this.#finish(id, state === 'completed' ? { kind: 'reply', reply: job.returnvalue as Reply } : { kind: 'failed', reason: job.failedReason });
    }
    return true;
  }

  /** Every job in flight looked up in Redis: catches missed events and jobs a restarted Redis lost. */
  async #check(): Promise<void> {
    if (this.#checking || this.#inflight.size === 0 || this.#queue === undefined) return;
    this.#checking = true;
    try {
      for (const entry of [...this.#inflight.values()]) {
        if (this.#inflight.get(entry.flight.id) !== entry) continue;
        const found = await this.#lookUp(entry);
        if (!found && this.#inflight.get(entry.flight.id) === entry) {
          if (entry.added) log('job %s is gone from Redis: dispatching it again', entry.flight.id);
          entry.added = false;
          await this.#add(entry);
        }
      }
    } catch (e) {
      log('check of jobs in flight failed: %s', (e as Error)?.message ?? e);
    } finally {
      this.#checking = false;
    }
  }

  /** For tests and tools: the ids in flight. */
  get inFlight(): readonly string[] {
    return [...this.#inflight.keys()];
  }
}
