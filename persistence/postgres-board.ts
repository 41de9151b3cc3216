/**
 * The jobboard on PostgreSQL: the same schema as the runs (migration 3: `jobs` + the
 * `jobs_token` sequence), one pool shared with the runs' `PostgresBackend`.
 *
 * - Post: one statement (CTE) inserting the LogBook, the FlowDetail and the job, and notifying
 *   waiting conductors (`pg_notify`, delivered at commit); with a key already posted it inserts
 *   nothing and answers the stored job.
 * - Claim: one statement: the first UNCLAIMED job, or CLAIMED one whose lease ran out by the
 *   database clock (or whose holder is known dead), of the asked names, by priority then post
 *   order, `FOR UPDATE SKIP LOCKED`; a token from the sequence (above the flow's fence); the job
 *   CLAIMED (or TRASHED after `maxAttempts` claims) and the flow's fence/owner/lease raised in
 *   the same statement, so the run's commits are fenced by the job's claim.
 * - Heartbeat / finish: one statement each, applying only while the job is CLAIMED at the token.
 * - Waiting: `LISTEN` on a dedicated connection (opened on first wait); if it cannot be opened,
 *   waiting falls back to the timer.
 *
 * `pg` is loaded lazily (this module is imported only for postgres:// URIs).
 */
import createDebug from 'debug';
import type { Client, Pool, QueryResultRow } from 'pg';
import { AtomflowError, InvariantViolation, StorageFailure } from '../lib/errors.js';
import type { BoardStore, ClaimInput, ClaimResult, JobEnd, JobQuery, JobRecord, JobRow, PostInput } from './board-store.js';
import { jobFromRow, sleep } from './board-store.js';
import { PostgresBackend } from './postgres.js';
import { splitUri } from './postgres-options.js';
import { describePgCode, quoteIdent } from './postgres-schema.js';
import { bookParams, flowParams } from './sqlite-schema.js';

const log = createDebug('atomflow:board');

const MS = `* interval '1 millisecond'`;
const EPOCH_MS = (col: string): string => `floor(extract(epoch FROM ${col}) * 1000)::float8`;
const JOB_COLS = (t: string): string =>
  `${t}.uuid, ${t}.name, ${t}.book_uuid, ${t}.flow_uuid, ${t}.post_key, ${t}.details, ${t}.priority, ${t}.state, ${t}.owner, ${t}.owner_host, ${t}.owner_pid,
   ${t}.token::float8 AS token, ${EPOCH_MS(`${t}.lease_until`)} AS lease_until, ${t}.attempts, ${t}.reason, ${t}.outcome, ${t}.result, ${t}.created_at, ${t}.updated_at`;

function statements(s: string) {
  return {
    post: `WITH existing AS (SELECT ${JOB_COLS('e')} FROM ${s}.jobs e WHERE $15::text IS NOT NULL AND e.post_key = $15::text),
      b AS (INSERT INTO ${s}.logbooks (uuid, format, name, meta, created_at, updated_at)
        SELECT $1::text, $2::int, $3::text, $4::text, $5::float8, $6::float8 WHERE NOT EXISTS (SELECT 1 FROM existing) RETURNING uuid),
      f AS (INSERT INTO ${s}.flowdetails (uuid, parent_uuid, format, name, state, meta, created_at, updated_at)
        SELECT $7::text, b.uuid, $8::int, $9::text, $10::text, $11::text, $12::float8, $13::float8 FROM b RETURNING uuid, parent_uuid),
      j AS (INSERT INTO ${s}.jobs (uuid, name, book_uuid, flow_uuid, post_key, details, priority, state, created_at)
        SELECT $14::text, $9::text, f.parent_uuid, f.uuid, $15::text, $16::text, $17::int, 'UNCLAIMED', $12::float8 FROM f RETURNING *),
      n AS (SELECT pg_notify($18::text, j.name) AS notified FROM j)
      SELECT true AS created, ${JOB_COLS('j')} FROM j LEFT JOIN n ON true
      UNION ALL SELECT false AS created, existing.* FROM existing`,
    byUuid: `SELECT ${JOB_COLS('j')} FROM ${s}.jobs j WHERE j.uuid = $1`,
    byKey: `SELECT ${JOB_COLS('j')} FROM ${s}.jobs j WHERE j.post_key = $1`,
    list: `SELECT ${JOB_COLS('j')} FROM ${s}.jobs j
      WHERE ($1::text[] IS NULL OR j.state = ANY($1::text[])) AND ($2::text IS NULL OR j.name = $2::text)
      ORDER BY j.priority DESC, j.seq LIMIT $3::bigint`,
    claim: `WITH c AS (
        SELECT j.uuid, j.flow_uuid, j.attempts FROM ${s}.jobs j
        WHERE j.name = ANY($1::text[])
          AND (j.state = 'UNCLAIMED'
            OR (j.state = 'CLAIMED' AND (j.lease_until < now()
              OR (j.uuid, j.token) IN (SELECT * FROM unnest($2::text[], $3::bigint[])))))
        ORDER BY j.priority DESC, j.seq
        LIMIT 1 FOR UPDATE OF j SKIP LOCKED),
      t AS (SELECT c.uuid, c.flow_uuid, c.attempts, c.attempts >= $8::int AS trash,
          GREATEST(nextval('${s.replace(/'/g, "''")}.jobs_token'), f.fence + 1) AS token
        FROM c JOIN ${s}.flowdetails f ON f.uuid = c.flow_uuid),
      fl AS (UPDATE ${s}.flowdetails f SET fence = t.token,
          owner = CASE WHEN t.trash THEN NULL ELSE $4::text END,
          owner_host = CASE WHEN t.trash THEN NULL ELSE $5::text END,
          owner_pid = CASE WHEN t.trash THEN NULL ELSE $6::int END,
          lease_until = CASE WHEN t.trash THEN NULL ELSE now() + $7::float8 ${MS} END
        FROM t WHERE f.uuid = t.flow_uuid RETURNING f.uuid),
      u AS (UPDATE ${s}.jobs j SET
          state = CASE WHEN t.trash THEN 'TRASHED' ELSE 'CLAIMED' END,
          owner = CASE WHEN t.trash THEN NULL ELSE $4::text END,
          owner_host = CASE WHEN t.trash THEN NULL ELSE $5::text END,
          owner_pid = CASE WHEN t.trash THEN NULL ELSE $6::int END,
          token = t.token,
          lease_until = CASE WHEN t.trash THEN NULL ELSE now() + $7::float8 ${MS} END,
          attempts = j.attempts + CASE WHEN t.trash THEN 0 ELSE 1 END,
          reason = CASE WHEN t.trash THEN format('claimed %s times without completing (maxAttempts %s)', t.attempts, $8::int) ELSE j.reason END,
          updated_at = $9::float8
        FROM t WHERE j.uuid = t.uuid RETURNING j.*, t.trash)
      SELECT u.trash, (SELECT count(*) FROM fl)::int AS flows, ${JOB_COLS('u')} FROM u`,
    heartbeat: `WITH j AS (UPDATE ${s}.jobs SET lease_until = now() + $3::float8 ${MS}, updated_at = $4::float8
        WHERE uuid = $1 AND token = $2::bigint AND state = 'CLAIMED' RETURNING flow_uuid, lease_until),
      f AS (UPDATE ${s}.flowdetails fd SET lease_until = j.lease_until FROM j WHERE fd.uuid = j.flow_uuid AND fd.fence = $2::bigint RETURNING 1)
      SELECT ${EPOCH_MS('j.lease_until')} AS until, (SELECT count(*) FROM f)::int AS flows FROM j`,
    finish: `WITH j AS (UPDATE ${s}.jobs SET state = $3::text,
          outcome = CASE WHEN $3::text = 'COMPLETE' THEN $4::text ELSE outcome END,
          result = CASE WHEN $3::text = 'COMPLETE' THEN $5::text ELSE result END,
          reason = CASE WHEN $3::text = 'COMPLETE' THEN reason ELSE $6::text END,
          owner = NULL, owner_host = NULL, owner_pid = NULL, lease_until = NULL, updated_at = $7::float8
        WHERE uuid = $1 AND token = $2::bigint AND state = 'CLAIMED' RETURNING flow_uuid, name),
      f AS (UPDATE ${s}.flowdetails fd SET owner = NULL, owner_host = NULL, owner_pid = NULL, lease_until = NULL
        FROM j WHERE fd.uuid = j.flow_uuid AND fd.fence = $2::bigint RETURNING 1),
      n AS (SELECT pg_notify($8::text, j.name) FROM j WHERE $3::text = 'UNCLAIMED')
      SELECT (SELECT count(*) FROM f)::int AS flows, (SELECT count(*) FROM n)::int AS notified FROM j`,
    claimedOn: `SELECT uuid, token::float8 AS token, owner_pid FROM ${s}.jobs WHERE state = 'CLAIMED' AND owner_host = $1`,
  };
}

type Statements = ReturnType<typeof statements>;

export class PostgresBoardStore implements BoardStore {
  readonly kind = 'postgres';
  readonly backend: PostgresBackend;
  readonly schema: string;
  readonly #pool: Pool;
  readonly #connectionString: string;
  readonly #st: Statements;
  /** The NOTIFY channel of this schema's board. */
  readonly #channel: string;
  #listener: Promise<Client | undefined> | undefined;
  readonly #posted = new EventTarget();
  #closed = false;

  private constructor(pool: Pool, connectionString: string, backend: PostgresBackend, schema: string) {
    this.#pool = pool;
    this.#connectionString = connectionString;
    this.backend = backend;
    this.schema = schema;
    this.#st = statements(quoteIdent(schema));
    this.#channel = `atomflow_jobs_${schema}`.slice(0, 63);
  }

  get notifies(): boolean {
    return true;
  }

  /** Opens a pool on `postgres://…?schema=…&durability=…&max=…`, creating and migrating the schema. */
  static async open(uri: string): Promise<PostgresBoardStore> {
    const { connectionString, opts, startup } = splitUri(uri, undefined);
    const pg = (await import('pg')).default;
    // The session settings the backend's own pools use (durability; generic plans for named statements).
    const settings = `-c synchronous_commit=${opts.durability === 'full' ? 'on' : 'off'} -c plan_cache_mode=force_generic_plan`;
    const pool = new pg.Pool({ connectionString, max: opts.max, options: startup === undefined ? settings : `${startup} ${settings}` });
    pool.on('error', (err) => log('postgres board pool: an idle connection failed: %s', err.message));
    const backend = new PostgresBackend({ pool, schema: opts.schema });
    const store = new PostgresBoardStore(pool, connectionString, backend, opts.schema);
    try {
      await backend.findFlows({ limit: 1 }); // creates and migrates the schema
    } catch (err) {
      await store.close().catch(() => {});
      throw err;
    }
    return store;
  }

  async post(input: PostInput): Promise<{ job: JobRecord; created: boolean }> {
    const b = bookParams(input.book);
    const f = flowParams(input.book.uuid, input.flow);
    // flowParams: uuid, parent, format, name, state, meta, created_at, updated_at
    const values = [...b, f[0], f[2], f[3], f[4], f[5], f[6], f[7], input.uuid, input.key, JSON.stringify(input.details), input.priority, this.#channel];
    let rows: Array<JobRow & { created: boolean }>;
    try {
      rows = (await this.#query<JobRow & { created: boolean }>('post', this.#st.post, values)).rows;
    } catch (err) {
      // Two posts of one key at once: the second's insert hits the unique key; answer the first's job.
      if (input.key !== null && err instanceof StorageFailure && (err.cause as { code?: string } | undefined)?.code === '23505') {
        const again = (await this.#query<JobRow>('post', this.#st.byKey, [input.key])).rows[0];
        if (again !== undefined) return { job: jobFromRow(again), created: false };
      }
      throw err;
    }
    const row = rows[0];
    if (row === undefined) throw new StorageFailure(`postgres board (schema '${this.schema}'): post of '${input.name}' stored nothing`);
    if (row.created) this.#posted.dispatchEvent(new Event('post'));
    return { job: jobFromRow(row), created: row.created };
  }

  async get(uuid: string): Promise<JobRecord | undefined> {
    const row = (await this.#query<JobRow>('get job', this.#st.byUuid, [uuid])).rows[0];
    return row === undefined ? undefined : jobFromRow(row);
  }

  async list(query: JobQuery = {}): Promise<JobRecord[]> {
    const states = query.state === undefined ? null : typeof query.state === 'string' ? [query.state] : [...query.state];
    const rows = (await this.#query<JobRow>('list jobs', this.#st.list, [states, query.name ?? null, query.limit ?? null])).rows;
    return rows.map(jobFromRow);
  }

  async claim(input: ClaimInput): Promise<ClaimResult> {
    const takeover = input.takeover ?? [];
    const values = [
      [...input.names],
      takeover.map((t) => t.uuid),
      takeover.map((t) => t.token),
      input.owner,
      input.host,
      input.pid,
      input.leaseMs,
      input.maxAttempts,
      Date.now(),
    ];
    const row = (await this.#query<JobRow & { trash: boolean }>('claim', this.#st.claim, values)).rows[0];
    if (row === undefined) return { kind: 'none' };
    const job = jobFromRow(row);
    if (row.trash) return { kind: 'trashed', job };
    return {
      kind: 'claimed',
      job,
      claim: Object.freeze({ flowUuid: job.flowUuid, owner: input.owner, host: input.host, pid: input.pid, token: job.token, leaseUntil: job.leaseUntil ?? Date.now() + input.leaseMs }),
    };
  }

  async heartbeat(uuid: string, token: number, leaseMs: number): Promise<number | undefined> {
    const row = (await this.#query<{ until: number }>('heartbeat', this.#st.heartbeat, [uuid, token, leaseMs, Date.now()])).rows[0];
    return row === undefined ? undefined : Number(row.until);
  }

  async finish(uuid: string, token: number, end: JobEnd): Promise<boolean> {
    let values: unknown[];
    switch (end.kind) {
      case 'complete':
        values = [uuid, token, 'COMPLETE', end.outcome, end.resultText, null];
        break;
      case 'abandon':
        values = [uuid, token, 'UNCLAIMED', null, null, end.reason];
        break;
      case 'trash':
        values = [uuid, token, 'TRASHED', null, null, end.reason];
        break;
      default: {
        const never: never = end;
        throw new InvariantViolation(`unknown job end ${JSON.stringify(never)}`);
      }
    }
    const rows = (await this.#query('finish job', this.#st.finish, [...values, Date.now(), this.#channel])).rows;
    if (rows.length > 0 && end.kind === 'abandon') this.#posted.dispatchEvent(new Event('post'));
    return rows.length > 0;
  }

  async claimedOn(host: string): Promise<Array<{ uuid: string; token: number; pid: number | null }>> {
    const rows = (await this.#query<{ uuid: string; token: number; owner_pid: number | null }>('list claims', this.#st.claimedOn, [host])).rows;
    return rows.map((r) => ({ uuid: r.uuid, token: Number(r.token), pid: r.owner_pid === null ? null : Number(r.owner_pid) }));
  }

  async waitForPost(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed) return;
    await this.#listen();
    const local = new AbortController();
    const wake = (): void => local.abort();
    this.#posted.addEventListener('post', wake, { once: true });
    signal?.addEventListener('abort', wake, { once: true });
    try {
      await sleep(timeoutMs, local.signal);
    } finally {
      this.#posted.removeEventListener('post', wake);
      signal?.removeEventListener('abort', wake);
    }
  }

  /** The LISTEN connection (opened once; undefined when it cannot be: the caller's timer does the waking). */
  #listen(): Promise<Client | undefined> {
    this.#listener ??= (async () => {
      try {
        const pg = (await import('pg')).default;
        const client = new pg.Client({ connectionString: this.#connectionString });
        client.on('error', (err) => {
          log('postgres board: the LISTEN connection failed (%s); polling until it is reopened', err.message);
          this.#listener = undefined;
          client.end().catch(() => {});
        });
        client.on('notification', () => this.#posted.dispatchEvent(new Event('post')));
        await client.connect();
        await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
        if (this.#closed) {
          await client.end();
          return undefined;
        }
        return client;
      } catch (err) {
        log('postgres board: cannot LISTEN (%s); polling', (err as Error).message);
        return undefined;
      }
    })();
    return this.#listener;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#posted.dispatchEvent(new Event('post'));
    const listener = await this.#listener?.catch(() => undefined);
    await listener?.end().catch(() => {});
    await this.backend.close();
    await this.#pool.end();
    log('closed postgres board (schema %s)', this.schema);
  }

  async #query<R extends QueryResultRow = QueryResultRow>(what: string, text: string, values: unknown[]) {
    if (this.#closed) throw new StorageFailure(`postgres board (schema '${this.schema}'): cannot ${what}: the board is closed`);
    try {
      return await this.#pool.query<R>({ text, values });
    } catch (err) {
      if (err instanceof AtomflowError) throw err;
      const code = (err as { code?: string }).code;
      throw new StorageFailure(`postgres board (schema '${this.schema}'): ${what} failed: ${describePgCode(code)} (${code ?? '-'}: ${(err as Error).message})`, { cause: err });
    }
  }
}
