/**
 * The commit step of the loop: flush the step's writes in one backend transaction (fenced with
 * the run's claim token), then emit what the flush made true and start the step's jobs. The
 * machine decides; this commits. It also keeps the lease alive while the run goes on.
 *
 * Two ways the store can end a run, kept apart:
 * - `StorageFailure`: the store broke (or answered something unexpected); the run stops and the
 *   next run reloads from the store.
 * - `ClaimLost`: another owner took the flow over (a fenced commit or a renewal was refused).
 *   Nothing more is written, no queued start begins, and outcomes still to come are never applied.
 */
import { ClaimLost, StorageFailure } from '../../lib/errors.js';
import { Batch } from './batch.js';
import type { AtomJob } from './jobs.js';
import type { Lease } from './lease.js';
import type { Queued, Runtime, StartEntry } from './runtime.js';

/** What the committer needs from the loop (no back-pointer to the machine itself). */
export interface CommitHost {
  /** True once the run is stopping: starts queued now are called off. */
  stopping(): boolean;
  /** The store broke or the claim was lost: nothing new may start. */
  halt(): void;
  /** A called-off start: its atom is no longer in flight. */
  calledOff(atom: number): void;
  /** Starts a job whose start was committed. */
  start(job: AtomJob): void;
  /** Wakes the loop if it waits (a renewal was refused meanwhile). */
  wake(): void;
}

export class Committer {
  readonly #rt: Runtime;
  readonly #host: CommitHost;
  readonly #lease: Lease | undefined;
  #broken: StorageFailure | ClaimLost | undefined;
  /** Starts called off so far in this commit (restored unless the store broke). */
  readonly #calledOff: StartEntry[] = [];
  /** The queue batch not in use (the two are swapped while a step's queue is emitted). */
  #spareQueue = new Batch<Queued>();
  /** Starts whose events were emitted; their jobs start once the commit loop is over. */
  readonly #toStart = new Batch<StartEntry>();

  constructor(rt: Runtime, host: CommitHost, lease: Lease | undefined) {
    this.#rt = rt;
    this.#host = host;
    this.#lease = lease;
    lease?.keep((e) => {
      this.#fail(e);
      host.wake();
      this.#onLost?.();
    });
  }

  #onLost: (() => void) | undefined;
  #whenLost: Promise<void> | undefined;

  /**
   * Settles when a renewal is refused (never, without a lease): the loop races what it awaits
   * (a serial batch of async atoms) with it, so a lost run stops at once.
   */
  get whenLost(): Promise<void> | undefined {
    if (this.#lease === undefined) return undefined;
    this.#whenLost ??= this.lost ? Promise.resolve() : new Promise<void>((resolve) => (this.#onLost = resolve));
    return this.#whenLost;
  }

  /** Why the run can write no more: the store broke, or the claim was lost. */
  get broken(): StorageFailure | ClaimLost | undefined {
    return this.#broken;
  }

  /** True once another owner took the flow over. */
  get lost(): boolean {
    return this.#broken instanceof ClaimLost;
  }

  /**
   * Commits the step's writes, then emits its events and starts its jobs. Synchronous (undefined)
   * while the backend commits synchronously; a promise otherwise.
   */
  commit(): Promise<void> | undefined {
    const rt = this.#rt;
    if (rt.queue.size === 0 && !rt.storage.hasPendingWrites) return undefined;
    return this.#loop();
  }

  /** Flush, then emit what the flush made true; listeners may write again (suspend), so loop. */
  #loop(): Promise<void> | undefined {
    const rt = this.#rt;
    while (rt.queue.size > 0 || rt.storage.hasPendingWrites) {
      if (this.#broken) {
        rt.queue.clear();
        break;
      }
      let pending: Promise<void> | undefined;
      try {
        pending = rt.storage.flush();
      } catch (e) {
        this.#fail(e);
        break;
      }
      if (pending !== undefined) {
        return pending.then(
          () => {
            // A renewal refused while the commit was under way: nothing of this step is emitted.
            if (this.#broken) {
              this.#fail(this.#broken);
              this.#startJobs();
              return undefined;
            }
            this.#afterFlush();
            return this.#loop();
          },
          (e: unknown) => {
            this.#fail(e);
            this.#startJobs();
          },
        );
      }
      this.#afterFlush();
    }
    this.#startJobs();
    return undefined;
  }

  #fail(e: unknown): void {
    const rt = this.#rt;
    if (this.#broken === undefined) {
      const lease = this.#lease;
      if (e instanceof ClaimLost) {
        // The backend does not know whose claim it refused: name this run's owner.
        this.#broken = e.owner === undefined && lease !== undefined ? new ClaimLost(e.flowUuid, lease.owner, `a commit with token ${lease.token} was refused`) : e;
      } else {
        this.#broken = e instanceof StorageFailure ? e : new StorageFailure(`could not store the run: ${(e as Error)?.message ?? e}`, { cause: e });
      }
    }
    this.#host.halt();
    for (const s of this.#toStart.takeFrom(0)) this.#calledOff.push(s);
    for (let k = 0; k < rt.queue.size; k++) {
      const q = rt.queue.at(k);
      if (q.kind === 'start') this.#calledOff.push(q);
    }
    rt.queue.clear();
  }

  #afterFlush(): void {
    const rt = this.#rt;
    // Listeners may queue more while this runs: they go to the other batch, for the next round.
    const q = rt.queue;
    rt.queue = this.#spareQueue;
    for (let k = 0; k < q.size; k++) {
      const entry = q.at(k);
      if (entry.kind === 'event') {
        this.#emit(entry);
      } else if (this.#host.stopping()) {
        this.#calledOff.push(entry);
      } else {
        for (const e of entry.events) this.#emit(e);
        this.#toStart.push(entry);
      }
    }
    q.clear();
    this.#spareQueue = q;
    if (this.#calledOff.length > 0 && !this.#broken) {
      for (const s of this.#calledOff) {
        this.#host.calledOff(s.atom);
        rt.restore(s.atom, s.prev);
      }
      this.#calledOff.length = 0;
    }
  }

  #startJobs(): void {
    if (this.#calledOff.length > 0) {
      for (const s of this.#calledOff) this.#host.calledOff(s.atom);
      this.#calledOff.length = 0;
    }
    // A job that completes at once only posts its outcome; nothing is queued to start meanwhile.
    const starts = this.#toStart;
    const host = this.#host;
    for (let k = 0; k < starts.size; k++) host.start(starts.at(k) as AtomJob);
    starts.clear();
  }

  #emit(entry: { event: string; payload: unknown }): void {
    (this.#rt.events.emit as (e: string, p: unknown) => void)(entry.event, entry.payload);
  }
}
