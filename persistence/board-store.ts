/**
 * The jobboard's store seam: what `jobs/` needs from a store, in domain terms (no SQL and no
 * driver in its signatures). Each store that holds runs can hold a board in the same database
 * (`sqlite-board.ts`, `postgres-board.ts`), so that posting a job writes its LogBook, FlowDetail
 * and job row in one transaction, and claiming a job raises its flow's fence in the same
 * statement / transaction as the claim (the run's commits are then fenced by the job's token).
 *
 * Times are epoch milliseconds. Expiry is decided by the store's clock (PostgreSQL: `now()`;
 * SQLite, one host: the process clock).
 */
import type { Backend, Claim } from './backend.js';
import type { FlowDetail, LogBook } from './models.js';

export const JobState = Object.freeze({
  UNCLAIMED: 'UNCLAIMED',
  CLAIMED: 'CLAIMED',
  COMPLETE: 'COMPLETE',
  TRASHED: 'TRASHED',
} as const);
export type JobState = (typeof JobState)[keyof typeof JobState];

export const JOB_STATES: readonly JobState[] = Object.freeze(['UNCLAIMED', 'CLAIMED', 'COMPLETE', 'TRASHED']);

/** How a completed job's run ended. */
export type JobOutcome = 'SUCCESS' | 'REVERTED' | 'FAILURE';

/** One stored job, as read. */
export interface JobRecord {
  readonly uuid: string;
  readonly name: string;
  readonly bookUuid: string;
  readonly flowUuid: string;
  /** The idempotency key it was posted with, if any. */
  readonly key: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly priority: number;
  readonly state: JobState;
  readonly owner: string | null;
  readonly ownerHost: string | null;
  readonly ownerPid: number | null;
  /** The token of the last claim (0 before any). */
  readonly token: number;
  /** When the current claim runs out (epoch ms), or null. */
  readonly leaseUntil: number | null;
  /** How many times the job was claimed. */
  readonly attempts: number;
  /** Why it was trashed (or the last abandon's reason). */
  readonly reason: string | null;
  /** COMPLETE jobs: how the run ended. */
  readonly outcome: JobOutcome | null;
  /** COMPLETE after SUCCESS: the run's `fetchAll()` as JSON text. */
  readonly resultText: string | null;
  readonly createdAt: number;
  readonly updatedAt: number | null;
}

/** What `post()` writes: the run's records and the job's fields (already validated). */
export interface PostInput {
  readonly uuid: string;
  readonly name: string;
  readonly key: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly priority: number;
  /** A LogBook holding exactly the job's FlowDetail (no atom details). */
  readonly book: LogBook;
  readonly flow: FlowDetail;
  readonly now: number;
}

export interface ClaimInput {
  /** Job names the claimer can run. */
  readonly names: readonly string[];
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly leaseMs: number;
  /** A job already claimed this many times is trashed instead of claimed again. */
  readonly maxAttempts: number;
  /** CLAIMED jobs whose holder is known dead (same host, pid gone): taken over before their lease runs out, if still at this token. */
  readonly takeover?: ReadonlyArray<{ readonly uuid: string; readonly token: number }>;
}

/** The claim a job's run carries: the backend's `Claim` on the job's flow detail, with the job's token. */
export type JobClaim = Claim;

export type ClaimResult =
  | { readonly kind: 'claimed'; readonly job: JobRecord; readonly claim: JobClaim }
  | { readonly kind: 'trashed'; readonly job: JobRecord }
  | { readonly kind: 'none' };

export interface JobQuery {
  readonly state?: JobState | readonly JobState[];
  readonly name?: string;
  readonly limit?: number;
}

/** How a claim ends; each applies only while the job is CLAIMED at `token`. */
export type JobEnd =
  | { readonly kind: 'complete'; readonly outcome: JobOutcome; readonly resultText: string | null }
  | { readonly kind: 'abandon'; readonly reason: string | null }
  | { readonly kind: 'trash'; readonly reason: string };

export interface BoardStore {
  /** 'sqlite' or 'postgres'. */
  readonly kind: string;
  /** The runs' backend on the same store. */
  readonly backend: Backend;
  /** Writes book, flow detail and job in one transaction; with a key already posted, stores nothing and answers the stored job. */
  post(input: PostInput): Promise<{ readonly job: JobRecord; readonly created: boolean }>;
  get(uuid: string): Promise<JobRecord | undefined>;
  /** Priority order (highest first, then post order). */
  list(query?: JobQuery): Promise<JobRecord[]>;
  /** Claims the first claimable job (or trashes it when it was claimed `maxAttempts` times), raising its flow's fence to the new token. */
  claim(input: ClaimInput): Promise<ClaimResult>;
  /** Extends the job's and its flow's lease while the job is CLAIMED at `token`; the new lease end, or undefined when the claim is lost. */
  heartbeat(uuid: string, token: number, leaseMs: number): Promise<number | undefined>;
  /** Ends a claim; false when the claim was lost (nothing written). */
  finish(uuid: string, token: number, end: JobEnd): Promise<boolean>;
  /** CLAIMED jobs held by processes of `host` (for the dead-pid takeover). */
  claimedOn(host: string): Promise<Array<{ readonly uuid: string; readonly token: number; readonly pid: number | null }>>;
  /**
   * Resolves when a job may have been posted (PostgreSQL: a NOTIFY), when `timeoutMs` passed, or
   * when `signal` aborts. Stores without notifications just wait.
   */
  waitForPost(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Whether `waitForPost` hears posts from other processes. */
  readonly notifies: boolean;
  close(): Promise<void>;
}

/** A job row as both SQL stores answer it (numbers may come as strings or bigints from a driver). */
export type JobRow = {
  uuid: string;
  name: string;
  book_uuid: string;
  flow_uuid: string;
  post_key: string | null;
  details: string;
  priority: number | string;
  state: string;
  owner: string | null;
  owner_host: string | null;
  owner_pid: number | string | null;
  token: number | string;
  lease_until: number | string | null;
  attempts: number | string;
  reason: string | null;
  outcome: string | null;
  result: string | null;
  created_at: number | string;
  updated_at: number | string | null;
};

export function jobFromRow(r: JobRow): JobRecord {
  return Object.freeze({
    uuid: r.uuid,
    name: r.name,
    bookUuid: r.book_uuid,
    flowUuid: r.flow_uuid,
    key: r.post_key,
    details: Object.freeze(JSON.parse(r.details) as Record<string, unknown>),
    priority: Number(r.priority),
    state: r.state as JobState,
    owner: r.owner,
    ownerHost: r.owner_host,
    ownerPid: r.owner_pid === null ? null : Number(r.owner_pid),
    token: Number(r.token),
    leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
    attempts: Number(r.attempts),
    reason: r.reason,
    outcome: r.outcome as JobRecord['outcome'],
    resultText: r.result,
    createdAt: Number(r.created_at),
    updatedAt: r.updated_at === null ? null : Number(r.updated_at),
  });
}

/** Sleeps `ms`, ending early when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
