/**
 * A job: a posted run, as a handle any process can hold. Its fixed fields (uuid, name, flow and
 * book uuids, details, priority) never change; the claim fields (owner, token, leaseUntil,
 * attempts, reason, lastState) are what the store said when the handle was last refreshed
 * (`state()`, `board.jobs()`).
 */
import { InvariantViolation, JobTrashed } from '../lib/errors.js';
import type { JobRecord, JobState } from '../persistence/board-store.js';
import { storedRunError, type FlowDetail } from '../persistence/models.js';
import { checkInt, checkKeys, isRecord } from './validate.js';

/** What a Job needs from its board (kept narrow: no back-pointer to the board's insides). */
export interface JobSource {
  read(uuid: string): Promise<JobRecord>;
  flowDetail(flowUuid: string): Promise<FlowDetail>;
  /** The outcome of a run this process finished (the original error kept), if any. */
  localOutcome(uuid: string): LocalOutcome | undefined;
  /** Resolves when a run of this process settles, or after `ms`. */
  waitLocal(ms: number, signal?: AbortSignal): Promise<void>;
}

export type LocalOutcome = { readonly ok: true; readonly value: Record<string, unknown> } | { readonly ok: false; readonly error: unknown };

export interface ResultOptions {
  /** The longest wait between two looks at the store (default 1000 ms; it starts at 50 ms and doubles). */
  readonly pollMs?: number;
  /** Stop waiting: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export class Job {
  readonly uuid: string;
  readonly name: string;
  readonly flowUuid: string;
  readonly bookUuid: string;
  /** The idempotency key it was posted with, or null. */
  readonly key: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly priority: number;
  readonly createdAt: number;
  /** As last read from the store. */
  lastState: JobState;
  owner: string | null;
  token: number;
  /** Epoch ms, or null when not claimed. */
  leaseUntil: number | null;
  attempts: number;
  /** Why a TRASHED job was trashed (or why it was last abandoned). */
  reason: string | null;
  readonly #source: JobSource;

  constructor(record: JobRecord, source: JobSource) {
    this.uuid = record.uuid;
    this.name = record.name;
    this.flowUuid = record.flowUuid;
    this.bookUuid = record.bookUuid;
    this.key = record.key;
    this.details = record.details;
    this.priority = record.priority;
    this.createdAt = record.createdAt;
    this.lastState = record.state;
    this.owner = record.owner;
    this.token = record.token;
    this.leaseUntil = record.leaseUntil;
    this.attempts = record.attempts;
    this.reason = record.reason;
    this.#source = source;
  }

  /** Copies the claim fields of a fresher record of this job. */
  refresh(record: JobRecord): this {
    this.lastState = record.state;
    this.owner = record.owner;
    this.token = record.token;
    this.leaseUntil = record.leaseUntil;
    this.attempts = record.attempts;
    this.reason = record.reason;
    return this;
  }

  /** The job's state now (read from the store; refreshes this handle). */
  async state(): Promise<JobState> {
    this.refresh(await this.#source.read(this.uuid));
    return this.lastState;
  }

  /**
   * Waits for the job's run to end: resolves with its `fetchAll()` after SUCCESS; rejects after
   * REVERTED or FAILURE (with the original error when this process ran it, else a
   * `WrappedFailure` of the stored failures), and with `JobTrashed` for a trashed job.
   */
  async result(options: ResultOptions = {}): Promise<Record<string, unknown>> {
    if (!isRecord(options)) throw new InvariantViolation('job.result() options must be an object', { option: 'options' });
    checkKeys(options, ['pollMs', 'signal'], 'job.result()');
    const maxPoll = checkInt(options.pollMs, 'pollMs', 'job.result()', 1, 1000);
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvariantViolation("job.result(): 'signal' must be an AbortSignal", { option: 'signal' });
    let wait = Math.min(50, maxPoll);
    for (;;) {
      signal?.throwIfAborted();
      const local = this.#source.localOutcome(this.uuid);
      if (local !== undefined) {
        if (local.ok) return local.value;
        throw local.error;
      }
      const record = await this.#source.read(this.uuid);
      this.refresh(record);
      if (record.state === 'TRASHED') throw new JobTrashed(this.uuid, this.name, record.reason ?? 'no reason given');
      if (record.state === 'COMPLETE') {
        if (this.#source.localOutcome(this.uuid) !== undefined) continue;
        if (record.outcome === 'SUCCESS') return JSON.parse(record.resultText ?? '{}') as Record<string, unknown>;
        throw storedRunError((await this.#source.flowDetail(this.flowUuid)).atomDetails);
      }
      await this.#source.waitLocal(wait, signal);
      wait = Math.min(wait * 2, maxPoll);
    }
  }

  toJSON(): Record<string, unknown> {
    return {
      uuid: this.uuid,
      name: this.name,
      state: this.lastState,
      flowUuid: this.flowUuid,
      bookUuid: this.bookUuid,
      key: this.key,
      details: this.details,
      priority: this.priority,
      owner: this.owner,
      token: this.token,
      leaseUntil: this.leaseUntil === null ? null : new Date(this.leaseUntil).toISOString(),
      attempts: this.attempts,
      reason: this.reason,
      createdAt: new Date(this.createdAt).toISOString(),
    };
  }
}

