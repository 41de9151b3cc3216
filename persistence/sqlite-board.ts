/**
 * The jobboard on SQLite: one host, many processes, the same file as the runs (schema migration
 * 3, `jobs` + `job_tokens`). One better-sqlite3 connection per board, shared with the runs'
 * `SqliteBackend` (so `sqlite::memory:` works too); every change is one synchronous IMMEDIATE
 * transaction, so a post writes book + flow detail + job or nothing, and a claim picks the job,
 * takes a token and raises the flow's fence/owner/lease as one step.
 *
 * No notifications across processes: `waitForPost` hears posts made through this board in this
 * process at once, and others by polling (the conductor backs off 50 ms → 1 s).
 */
import Database from 'better-sqlite3';
import createDebug from 'debug';
import { AtomflowError, InvariantViolation, StorageFailure } from '../lib/errors.js';
import type { BoardStore, ClaimInput, ClaimResult, JobEnd, JobQuery, JobRecord, JobRow as Row, PostInput } from './board-store.js';
import { jobFromRow, sleep } from './board-store.js';
import { SQL as RUN_SQL, bookParams, flowParams } from './sqlite-schema.js';
import { describeSqliteCode, type SqliteBackendOptions } from './sqlite-options.js';
import { SqliteBackend } from './sqlite.js';

const log = createDebug('atomflow:board');

const JOB_COLS =
  'uuid, name, book_uuid, flow_uuid, post_key, details, priority, state, owner, owner_host, owner_pid, token, lease_until, attempts, reason, outcome, result, created_at, updated_at';

const SQL = {
  insertJob: `INSERT INTO jobs (uuid, name, book_uuid, flow_uuid, post_key, details, priority, state, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, 'UNCLAIMED', ?)`,
  byUuid: `SELECT ${JOB_COLS} FROM jobs WHERE uuid = ?`,
  byKey: `SELECT ${JOB_COLS} FROM jobs WHERE post_key = ?`,
  list: `SELECT ${JOB_COLS} FROM jobs
    WHERE (@states IS NULL OR state IN (SELECT value FROM json_each(@states))) AND (@name IS NULL OR name = @name)
    ORDER BY priority DESC, seq LIMIT @limit`,
  /** The first UNCLAIMED job of the given names, along the claim index (priority desc, post order). */
  unclaimed: `SELECT seq, ${JOB_COLS} FROM jobs INDEXED BY jobs_claim
    WHERE state = 'UNCLAIMED' AND name IN (SELECT value FROM json_each(@names))
    ORDER BY priority DESC, seq LIMIT 1`,
  /** The first CLAIMED job whose lease ran out (a range of the lease index: usually empty). */
  expired: `SELECT seq, ${JOB_COLS} FROM jobs INDEXED BY jobs_lease
    WHERE state = 'CLAIMED' AND lease_until < @now AND name IN (SELECT value FROM json_each(@names))
    ORDER BY priority DESC, seq LIMIT 1`,
  /** The first CLAIMED job of the given [uuid, token] pairs (holders known dead). */
  orphaned: `SELECT seq, ${JOB_COLS} FROM jobs
    WHERE uuid IN (SELECT json_extract(value, '$[0]') FROM json_each(@takeover)) AND state = 'CLAIMED'
      AND name IN (SELECT value FROM json_each(@names))
      AND EXISTS (SELECT 1 FROM json_each(@takeover) t WHERE json_extract(t.value, '$[0]') = jobs.uuid AND json_extract(t.value, '$[1]') = jobs.token)
    ORDER BY priority DESC, seq LIMIT 1`,
  /** The next token: above every token given so far and above the flow's fence. */
  nextToken: 'UPDATE job_tokens SET value = max(value + 1, (SELECT fence + 1 FROM flowdetails WHERE uuid = ?)) WHERE id = 1 RETURNING value',
  claimJob: `UPDATE jobs SET state = 'CLAIMED', owner = ?, owner_host = ?, owner_pid = ?, token = ?, lease_until = ?,
      attempts = attempts + 1, updated_at = ? WHERE uuid = ?`,
  trashJob: `UPDATE jobs SET state = 'TRASHED', owner = NULL, owner_host = NULL, owner_pid = NULL, token = ?, lease_until = NULL,
      reason = ?, updated_at = ? WHERE uuid = ?`,
  fenceFlow: 'UPDATE flowdetails SET fence = ?, owner = ?, owner_host = ?, owner_pid = ?, lease_until = ? WHERE uuid = ?',
  renewJob: `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE uuid = ? AND token = ? AND state = 'CLAIMED'`,
  renewFlow: 'UPDATE flowdetails SET lease_until = ? WHERE uuid = (SELECT flow_uuid FROM jobs WHERE uuid = ?) AND fence = ?',
  complete: `UPDATE jobs SET state = 'COMPLETE', outcome = ?, result = ?, owner = NULL, owner_host = NULL, owner_pid = NULL,
      lease_until = NULL, updated_at = ? WHERE uuid = ? AND token = ? AND state = 'CLAIMED'`,
  release: `UPDATE jobs SET state = ?, reason = ?, owner = NULL, owner_host = NULL, owner_pid = NULL,
      lease_until = NULL, updated_at = ? WHERE uuid = ? AND token = ? AND state = 'CLAIMED'`,
  releaseFlow: `UPDATE flowdetails SET owner = NULL, owner_host = NULL, owner_pid = NULL, lease_until = NULL
    WHERE uuid = (SELECT flow_uuid FROM jobs WHERE uuid = ?) AND fence = ?`,
  claimedOn: `SELECT uuid, token, owner_pid FROM jobs WHERE state = 'CLAIMED' AND owner_host = ?`,
} as const;

type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

export class SqliteBoardStore implements BoardStore {
  readonly kind = 'sqlite';
  readonly notifies = false;
  readonly backend: SqliteBackend;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #st: Statements;
  readonly #runSt: { readonly upsertBook: Database.Statement; readonly insertFlow: Database.Statement };
  /** One transaction wrapper, made once, that runs the function it is given. */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  /** Local waiters, woken by posts through this board. */
  readonly #posted = new EventTarget();
  #closed = false;
  /** Whether the last claim found a job. */
  #found = false;

  constructor(path: string, options?: SqliteBackendOptions) {
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: options?.busyTimeout ?? 5000 });
    } catch (err) {
      throw failure(path, 'open', err);
    }
    this.#db = db;
    this.path = path;
    try {
      // The backend sets the connection up (pragmas, WAL) and applies the migrations (3 = the jobs table).
      this.backend = new SqliteBackend(db, options);
      const st: Record<string, Database.Statement> = {};
      for (const [name, sql] of Object.entries(SQL)) st[name] = db.prepare(sql);
      st.nextToken!.pluck();
      this.#st = st as Statements;
      this.#tx = db.transaction((fn: () => unknown) => fn());
      this.#runSt = {
        upsertBook: db.prepare(RUN_SQL.upsertBook),
        // A new run's flow detail: inserted, never merged into another (a uuid clash is an error).
        insertFlow: db.prepare(
          'INSERT INTO flowdetails (uuid, parent_uuid, format, name, state, meta, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        ),
      };
    } catch (err) {
      db.close();
      throw failure(path, 'open', err);
    }
    log('opened sqlite board %s', path);
  }

  async post(input: PostInput): Promise<{ job: JobRecord; created: boolean }> {
    const book = bookParams(input.book);
    const flow = flowParams(input.book.uuid, input.flow);
    const details = JSON.stringify(input.details);
    return this.#write('post', () => {
      if (input.key !== null) {
        const existing = this.#st.byKey.get(input.key) as Row | undefined;
        if (existing !== undefined) return { job: jobFromRow(existing), created: false };
      }
      this.#runSt.upsertBook.run(book);
      this.#runSt.insertFlow.run(flow);
      this.#st.insertJob.run(input.uuid, input.name, input.book.uuid, input.flow.uuid, input.key, details, input.priority, input.now);
      const job = jobFromRow(this.#st.byUuid.get(input.uuid) as Row);
      this.#posted.dispatchEvent(new Event('post'));
      return { job, created: true };
    });
  }

  async get(uuid: string): Promise<JobRecord | undefined> {
    return this.#read('get job', () => {
      const row = this.#st.byUuid.get(uuid) as Row | undefined;
      return row === undefined ? undefined : jobFromRow(row);
    });
  }

  async list(query: JobQuery = {}): Promise<JobRecord[]> {
    const states = query.state === undefined ? null : JSON.stringify(typeof query.state === 'string' ? [query.state] : query.state);
    return this.#read('list jobs', () =>
      (this.#st.list.all({ states, name: query.name ?? null, limit: query.limit ?? -1 }) as Row[]).map(jobFromRow),
    );
  }

  async claim(input: ClaimInput): Promise<ClaimResult> {
    const names = JSON.stringify(input.names);
    const takeover = input.takeover !== undefined && input.takeover.length > 0 ? JSON.stringify(input.takeover.map((t) => [t.uuid, t.token])) : undefined;
    // An idle conductor polls: look first without the write lock, so polling never holds up the
    // runs' commits (skipped right after a claim found a job: there are likely more).
    const any = this.#found || this.#read('claim', () => {
      const now = Date.now();
      return this.#st.unclaimed.get({ names }) !== undefined || this.#st.expired.get({ names, now }) !== undefined;
    });
    if (!any && takeover === undefined) return { kind: 'none' };
    const result = this.#write('claim', (): ClaimResult => {
      const now = Date.now();
      type Candidate = Row & { seq: number; priority: number };
      const first = (a: Candidate | undefined, b: Candidate | undefined): Candidate | undefined =>
        a === undefined ? b : b === undefined ? a : b.priority > a.priority || (b.priority === a.priority && b.seq < a.seq) ? b : a;
      let row = first(this.#st.unclaimed.get({ names }) as Candidate | undefined, this.#st.expired.get({ names, now }) as Candidate | undefined);
      if (takeover !== undefined) row = first(row, this.#st.orphaned.get({ names, takeover }) as Candidate | undefined);
      if (row === undefined) return { kind: 'none' };
      const token = Number(this.#st.nextToken.get(row.flow_uuid) as number | bigint);
      if (Number(row.attempts) >= input.maxAttempts) {
        const reason = `claimed ${row.attempts} times without completing (maxAttempts ${input.maxAttempts})`;
        this.#st.trashJob.run(token, reason, now, row.uuid);
        this.#st.fenceFlow.run(token, null, null, null, null, row.flow_uuid);
        const job = { ...row, state: 'TRASHED', owner: null, owner_host: null, owner_pid: null, token, lease_until: null, reason, updated_at: now };
        return { kind: 'trashed', job: jobFromRow(job) };
      }
      const leaseUntil = now + input.leaseMs;
      this.#st.claimJob.run(input.owner, input.host, input.pid, token, leaseUntil, now, row.uuid);
      this.#st.fenceFlow.run(token, input.owner, input.host, input.pid, leaseUntil, row.flow_uuid);
      const job = { ...row, state: 'CLAIMED', owner: input.owner, owner_host: input.host, owner_pid: input.pid, token, lease_until: leaseUntil, attempts: Number(row.attempts) + 1, updated_at: now };
      return {
        kind: 'claimed',
        job: jobFromRow(job),
        claim: Object.freeze({ flowUuid: row.flow_uuid, owner: input.owner, host: input.host, pid: input.pid, token, leaseUntil }),
      };
    });
    this.#found = result.kind !== 'none';
    return result;
  }

  async heartbeat(uuid: string, token: number, leaseMs: number): Promise<number | undefined> {
    return this.#write('heartbeat', () => {
      const now = Date.now();
      const until = now + leaseMs;
      if (this.#st.renewJob.run(until, now, uuid, token).changes === 0) return undefined;
      this.#st.renewFlow.run(until, uuid, token);
      return until;
    });
  }

  async finish(uuid: string, token: number, end: JobEnd): Promise<boolean> {
    return this.#write('finish job', () => {
      const now = Date.now();
      let changes: number;
      switch (end.kind) {
        case 'complete':
          changes = this.#st.complete.run(end.outcome, end.resultText, now, uuid, token).changes;
          break;
        case 'abandon':
          changes = this.#st.release.run('UNCLAIMED', end.reason, now, uuid, token).changes;
          break;
        case 'trash':
          changes = this.#st.release.run('TRASHED', end.reason, now, uuid, token).changes;
          break;
        default: {
          const never: never = end;
          throw new InvariantViolation(`unknown job end ${JSON.stringify(never)}`);
        }
      }
      if (changes === 0) return false;
      this.#st.releaseFlow.run(uuid, token);
      if (end.kind === 'abandon') this.#posted.dispatchEvent(new Event('post'));
      return true;
    });
  }

  async claimedOn(host: string): Promise<Array<{ uuid: string; token: number; pid: number | null }>> {
    return this.#read('list claims', () =>
      (this.#st.claimedOn.all(host) as Array<{ uuid: string; token: number; owner_pid: number | null }>).map((r) => ({
        uuid: r.uuid,
        token: Number(r.token),
        pid: r.owner_pid === null ? null : Number(r.owner_pid),
      })),
    );
  }

  waitForPost(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const local = new AbortController();
    const wake = (): void => local.abort();
    this.#posted.addEventListener('post', wake, { once: true });
    signal?.addEventListener('abort', wake, { once: true });
    return sleep(timeoutMs, local.signal).finally(() => {
      this.#posted.removeEventListener('post', wake);
      signal?.removeEventListener('abort', wake);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#posted.dispatchEvent(new Event('post'));
    await this.backend.close();
    try {
      this.#db.close();
    } catch (err) {
      throw failure(this.path, 'close', err);
    }
    log('closed sqlite board %s', this.path);
  }

  #write<T>(what: string, fn: () => T): T {
    this.#check(what);
    try {
      return this.#tx.immediate(fn) as T;
    } catch (err) {
      throw failure(this.path, what, err);
    }
  }

  #read<T>(what: string, fn: () => T): T {
    this.#check(what);
    try {
      return this.#tx.deferred(fn) as T;
    } catch (err) {
      throw failure(this.path, what, err);
    }
  }

  #check(what: string): void {
    if (this.#closed) throw new StorageFailure(`sqlite board '${this.path}': cannot ${what}: the board is closed`);
  }
}

function failure(path: string, what: string, err: unknown): Error {
  if (err instanceof AtomflowError) return err;
  const where = `sqlite board '${path}'`;
  if (err instanceof Database.SqliteError) {
    return new StorageFailure(`${where}: ${what} failed: ${describeSqliteCode(err.code)} (${err.code}: ${err.message})`, { cause: err });
  }
  return new StorageFailure(`${where}: ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
