/**
 * The PostgreSQL backend, on `pg` (node-postgres; the one file that uses it, loaded lazily by
 * `PostgresBackend.open()` so SQLite-only users never load it).
 *
 * - An engine step is ONE statement (one round trip): a CTE that updates the flow row (with the
 *   fence check when the change carries one) and upserts the atom rows from column arrays, all or
 *   nothing (`commitStatement` in `postgres-schema.ts`). Multi-record saves run in one
 *   BEGIN…COMMIT on one connection; multi-query reads in one REPEATABLE READ snapshot.
 * - Statements are named (prepared once per connection of the pool).
 * - Durability: `'full'` (default) = `synchronous_commit = on`, `'normal'` = `off`, set on every
 *   connection of the pool `open()` makes (at connection start, with `plan_cache_mode =
 *   force_generic_plan`: the commit's custom plans cost more to make than to run). On a caller's
 *   pool, only a `durability` given explicitly is set, on the connections it opens from then on
 *   (its `connect` hook); the caller chooses the rest of its sessions' settings.
 * - The schema carries a version (`schema_version`); opening applies the missing forward-only
 *   migrations in one transaction under `pg_advisory_xact_lock`, and refuses a schema written by
 *   a newer atomflow or holding tables that are not ours.
 * - Errors: a serialization failure or deadlock is retried once; every other driver error (a lost
 *   connection, a server shutting down, `pg_terminate_backend`) is a `StorageFailure` with the
 *   driver error as `cause` — the engine stops and the next run reloads from the store.
 */
import { createHash } from 'node:crypto';
import createDebug from 'debug';
import type { Pool, PoolClient, QueryArrayConfig, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { AtomflowError, InvariantViolation, NotFound, StorageFailure } from '../lib/errors.js';
import { resolveFlowQuery, resolvePurge, type Backend, type Claim, type ClaimRequest, type FlowChange, type FlowQuery, type LoadOptions, type PurgeOptions } from './backend.js';
import { checkClaimRequest, checkLeaseMs, checkToken, claimedError, isPidAlive, lostClaim, staleFence } from './ownership.js';
import type { AtomDetail, FlowDetail, LogBook } from './models.js';
import {
  FOREIGN_ATOM,
  FOREIGN_FLOW,
  PG_MIGRATIONS,
  VALUES_MAX,
  atomColumns,
  atomValues,
  bookColumns,
  commitStatement,
  describePgCode,
  findFlowsStatement,
  isRetryable,
  pgStatements,
  quoteIdent,
  type PgStatementName,
} from './postgres-schema.js';
import { migrateSchema } from './postgres-migrate.js';
import { resolvePostgresOptions, splitUri, type PostgresBackendOptions } from './postgres-options.js';
import { assemble, atomFromRaw, atomParams, bookFromRow, bookParams, flowFromRow, flowParams, flowUpdateParams, withAtoms, withFlows, type BookRow, type FlowRow, type Params } from './rows.js';
import type { Durability } from './sqlite-options.js';

const log = createDebug('atomflow:persistence');


export interface PostgresBackendConfig extends Omit<PostgresBackendOptions, 'max'> {
  /** A `pg.Pool` the caller made; `close()` leaves it open. */
  readonly pool: Pool;
}

interface Stmt {
  readonly name: string;
  readonly text: string;
}

type Query = <R extends QueryResultRow = QueryResultRow>(st: Stmt, values: unknown[], array?: boolean) => Promise<QueryResult<R>>;

interface HolderRow {
  owner: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  token: number;
  lease_until: number | null;
  held?: boolean;
}

/** Pools `PostgresBackend.open()` made (the backend then ends them on close). */
const OWNED = new WeakSet<Pool>();

function named(text: string): Stmt {
  return { name: `af_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
}


export class PostgresBackend implements Backend {
  readonly kind = 'postgres';
  readonly schema: string;
  readonly durability: Durability;
  readonly #pool: Pool;
  readonly #owned: boolean;
  readonly #s: string;
  readonly #st: { readonly [K in PgStatementName]: Stmt };
  readonly #commits: Array<Stmt | undefined> = new Array(4 * (VALUES_MAX + 2));
  readonly #finds: Array<Stmt | undefined> = new Array(8);
  readonly #onConnect: ((client: PoolClient) => void) | undefined;
  readonly #onError = (err: Error): void => log('postgres pool: an idle connection failed: %s', err.message);
  #ready: Promise<void> | undefined;
  #migrated = false;
  #closed = false;

  /**
   * A backend on a caller's `pg.Pool` (left open by `close()`). The schema is created and migrated
   * on first use; `PostgresBackend.open()` does it at once.
   */
  constructor(config: PostgresBackendConfig) {
    if (config === null || typeof config !== 'object' || typeof (config as { pool?: unknown }).pool !== 'object' || config.pool === null) {
      throw new InvariantViolation('new PostgresBackend({ pool }) needs a pg.Pool as `pool`', { option: 'pool' });
    }
    const { pool, ...rest } = config;
    if ('max' in rest) throw new InvariantViolation("option 'max' sizes the pool openBackend() makes; size your own pool yourself", { option: 'max' });
    const opts = resolvePostgresOptions(rest);
    this.#pool = pool;
    this.#owned = OWNED.has(pool);
    this.schema = opts.schema;
    this.durability = opts.durability;
    this.#s = quoteIdent(opts.schema);
    const st: Record<string, Stmt> = {};
    for (const [name, text] of Object.entries(pgStatements(this.#s))) st[name] = named(text);
    this.#st = st as { readonly [K in PgStatementName]: Stmt };
    if (!this.#owned && opts.durabilityGiven) {
      const set = `SET synchronous_commit = ${opts.durability === 'full' ? 'on' : 'off'}`;
      this.#onConnect = (client) => void client.query(set).catch(() => {}); // a dead connection fails the next query anyway
      pool.on('connect', this.#onConnect);
    }
    if (this.#owned) pool.on('error', this.#onError);
  }

  /**
   * Opens a pool on a connection URI (`postgres://user@host:5432/db?schema=atomflow&durability=normal&max=4`;
   * other query parameters go to `pg`), creates the schema if missing and migrates it.
   */
  static async open(uri: string, options?: PostgresBackendOptions): Promise<PostgresBackend> {
    const { connectionString, opts, startup } = splitUri(uri, options);
    const pg = (await import('pg')).default;
    // Session settings at connection start (no extra round trip): durability, and generic plans
    // for our named statements (re-planning the commit's CTE each time costs more than running it).
    const settings = `-c synchronous_commit=${opts.durability === 'full' ? 'on' : 'off'} -c plan_cache_mode=force_generic_plan`;
    const pool = new pg.Pool({ connectionString, max: opts.max, options: startup === undefined ? settings : `${startup} ${settings}` });
    OWNED.add(pool);
    const backend = new PostgresBackend({ pool, schema: opts.schema, durability: opts.durability });
    try {
      await backend.#ensureReady();
    } catch (err) {
      await backend.close().catch(() => {});
      throw err;
    }
    return backend;
  }

  /** One statement (`saveBookStatement`): the book, its flow details and their atom details, all or nothing. */
  async saveLogBook(book: LogBook): Promise<void> {
    this.#check('save logbook');
    const bookRow = bookParams(book);
    const flowRows = book.flowDetails.map((fd) => flowParams(book.uuid, fd));
    const atomRows = book.flowDetails.flatMap((fd) => atomParamsOf(fd.uuid, fd.atomDetails));
    try {
      await this.#query('save logbook', this.#st.saveBook, [...bookRow, ...bookColumns(flowRows, atomRows)]);
    } catch (err) {
      const message = err instanceof StorageFailure && codeOf(err.cause) === '22P02' ? String((err.cause as Error).message) : '';
      if (message.includes(FOREIGN_FLOW)) {
        const uuids = book.flowDetails.map((f) => f.uuid);
        const other = (await this.#query<{ uuid: string; parent_uuid: string }>('save logbook', this.#st.foreignFlow, [uuids, book.uuid])).rows[0];
        throw new InvariantViolation(`flow detail '${String(other?.uuid)}' belongs to logbook '${String(other?.parent_uuid)}', not '${book.uuid}'`, {
          subject: String(other?.uuid),
        });
      }
      if (message.includes(FOREIGN_ATOM)) {
        const atoms = book.flowDetails.flatMap((f) => f.atomDetails);
        const other = (await this.#query<{ uuid: string; parent_uuid: string }>('save logbook', this.#st.foreignAtomOfBook, [atoms.map((a) => a.uuid), book.flowDetails.map((f) => f.uuid)])).rows[0];
        const a = atoms.find((x) => x.uuid === other?.uuid) ?? atoms[0]!;
        throw new InvariantViolation(`atom detail '${a.name}' ('${a.uuid}') belongs to flow detail '${String(other?.parent_uuid)}', not '${String(book.flowDetails.find((f) => f.atomDetails.includes(a))?.uuid)}'`, { subject: a.name });
      }
      throw err;
    }
  }

  async getLogBook(uuid: string, options?: LoadOptions): Promise<LogBook> {
    const lazy = options?.lazy === true;
    return this.#tx('get logbook', true, async (q) => {
      const row = (await q<BookRow>(this.#st.book, [uuid])).rows[0];
      if (row === undefined) throw new NotFound(`logbook '${uuid}' not found`, uuid);
      const book = bookFromRow(row);
      if (lazy) return book;
      const flows = (await q<FlowRow>(this.#st.flowsOfBook, [uuid])).rows;
      const atoms = (await q(this.#st.atomsOfBook, [uuid], true)).rows as unknown as unknown[][];
      return withFlows(book, assemble(flows, atoms));
    }, lazy);
  }

  async getLogBooks(options?: LoadOptions): Promise<LogBook[]> {
    const lazy = options?.lazy !== false;
    return this.#tx('get logbooks', true, async (q) => {
      const books = (await q<BookRow>(this.#st.books, [])).rows.map(bookFromRow);
      if (lazy) return books;
      const flows = (await q<FlowRow>(this.#st.allFlows, [])).rows;
      const atoms = (await q(this.#st.allAtoms, [], true)).rows as unknown as unknown[][];
      const byBook = new Map<string, FlowDetail[]>();
      for (const { parent, flow } of assemble(flows, atoms, true)) {
        const list = byBook.get(parent);
        if (list === undefined) byBook.set(parent, [flow]);
        else list.push(flow);
      }
      return books.map((b) => withFlows(b, byBook.get(b.uuid) ?? []));
    }, lazy);
  }

  async destroyLogBook(uuid: string): Promise<void> {
    const r = await this.#query('destroy logbook', this.#st.deleteBook, [uuid]);
    if (r.rowCount === 0) throw new NotFound(`logbook '${uuid}' not found (nothing to destroy)`, uuid);
  }

  async saveFlowDetail(bookUuid: string, flow: FlowDetail): Promise<void> {
    this.#check('save flow detail');
    const row = flowParams(bookUuid, flow);
    const atoms = atomParamsOf(flow.uuid, flow.atomDetails);
    await this.#tx('save flow detail', false, async (q) => {
      if ((await q(this.#st.bookExists, [bookUuid])).rowCount === 0) {
        throw new NotFound(`cannot save flow detail '${flow.uuid}': logbook '${bookUuid}' is not stored`, bookUuid);
      }
      await this.#upsertFlow(q, bookUuid, flow, row);
      await this.#upsertAtoms(q, flow.uuid, atoms);
    });
  }

  async getFlowDetail(uuid: string, options?: LoadOptions): Promise<FlowDetail> {
    const lazy = options?.lazy === true;
    return this.#tx('get flow detail', true, async (q) => {
      const row = (await q<FlowRow>(this.#st.flow, [uuid])).rows[0];
      if (row === undefined) throw new NotFound(`flow detail '${uuid}' not found`, uuid);
      const flow = flowFromRow(row);
      if (lazy) return flow;
      return withAtoms(flow, atomsOf((await q(this.#st.atomsOfFlow, [uuid], true)).rows as unknown as unknown[][]));
    }, lazy);
  }

  async getBookUuidOfFlow(flowUuid: string): Promise<string> {
    const row = (await this.#query<{ parent_uuid: string }>('get book of flow', this.#st.flowParent, [flowUuid])).rows[0];
    if (row === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
    return row.parent_uuid;
  }

  async saveAtomDetails(flowUuid: string, atoms: readonly AtomDetail[]): Promise<void> {
    this.#check('save atom details');
    const rows = atomParamsOf(flowUuid, atoms);
    await this.#tx('save atom details', false, async (q) => {
      if ((await q(this.#st.flowParent, [flowUuid])).rowCount === 0) {
        throw new NotFound(`cannot save atom details: flow detail '${flowUuid}' is not stored`, flowUuid);
      }
      await this.#upsertAtoms(q, flowUuid, rows);
    });
  }

  async getAtomDetails(flowUuid: string): Promise<AtomDetail[]> {
    const rows = (await this.#query('get atom details', this.#st.atomsOfFlowChecked, [flowUuid], true)).rows as unknown as unknown[][];
    if (rows.length === 0) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
    return atomsOf(rows[0]![0] === null ? [] : rows);
  }

  /** The hot path: serialise, then one statement (see `commitStatement`). */
  async commit(flowUuid: string, change: FlowChange): Promise<void> {
    this.#check('commit');
    const { flow, atoms } = change;
    const fence = change.fence;
    if (flow !== undefined && flow.uuid !== flowUuid) {
      throw new InvariantViolation(`cannot commit flow detail '${flow.uuid}' under flow uuid '${flowUuid}'`, { subject: flowUuid });
    }
    const values: unknown[] = [flowUuid];
    if (flow !== undefined) {
      const p = flowUpdateParams(flow);
      values.push(p[0], p[1], p[2], p[3], p[4]);
    }
    if (fence !== undefined) values.push(fence);
    const rows = atoms === undefined || atoms.length === 0 ? undefined : atomParamsOf(flowUuid, atoms);
    const count = rows === undefined ? 0 : rows.length;
    if (rows !== undefined) values.push(...(count <= VALUES_MAX ? atomValues(rows) : atomColumns(rows)));
    // One statement text per shape: flow or not, fenced or not, 0…VALUES_MAX atoms or more.
    const key = ((flow !== undefined ? 1 : 0) | (fence !== undefined ? 2 : 0)) * (VALUES_MAX + 2) + Math.min(count, VALUES_MAX + 1);
    const st = (this.#commits[key] ??= named(commitStatement(this.#s, { flow: flow !== undefined, atoms: count, fenced: fence !== undefined })));
    let found: number;
    try {
      found = (await this.#query<{ f: number }>('commit', st, values)).rows[0]!.f;
    } catch (err) {
      if (!(err instanceof StorageFailure && codeOf(err.cause) === '22P02' && String((err.cause as Error).message).includes(FOREIGN_ATOM))) throw err;
      throw await this.#foreignAtom(flowUuid, atoms!);
    }
    if (found === 1) return;
    if (fence !== undefined) {
      const now = (await this.#query<{ fence: number; owner: string | null }>('commit', this.#st.fenceOf, [flowUuid])).rows[0];
      if (now !== undefined) throw staleFence(flowUuid, fence, now.fence);
    }
    throw new NotFound(`cannot commit: flow detail '${flowUuid}' is not stored`, flowUuid);
  }

  /** The error for a commit that named an atom stored under another flow (read after the statement refused it). */
  async #foreignAtom(flowUuid: string, atoms: readonly AtomDetail[]): Promise<InvariantViolation> {
    const uuids = atoms.map((a) => a.uuid);
    const foreign = (await this.#query<{ uuid: string; parent_uuid: string }>('commit', this.#st.foreignAtom, [uuids, flowUuid])).rows[0];
    const a = atoms.find((x) => x.uuid === foreign?.uuid) ?? atoms[0]!;
    return new InvariantViolation(`atom detail '${a.name}' ('${a.uuid}') belongs to flow detail '${String(foreign?.parent_uuid)}', not '${flowUuid}'`, { subject: a.name });
  }

  // ---- ownership ----------------------------------------------------------------------------

  /** See `Backend.claim`: one statement when the flow is free; a read, then a conditional takeover otherwise. */
  async claim(flowUuid: string, request: ClaimRequest): Promise<Claim> {
    checkClaimRequest(request);
    const base = [flowUuid, request.owner, request.host, request.pid, request.leaseMs];
    let seen: HolderRow | undefined;
    for (let round = 0; round < 3; round++) {
      const free = (await this.#query<HolderRow>('claim', this.#st.claimFree, base)).rows[0];
      if (free !== undefined) return claimOf(flowUuid, free);
      seen = (await this.#query<HolderRow>('claim', this.#st.holder, [flowUuid])).rows[0];
      if (seen === undefined) throw new NotFound(`cannot claim: flow detail '${flowUuid}' is not stored`, flowUuid);
      if (seen.held !== true) continue; // its lease ran out between the two statements
      if (seen.owner_host !== request.host || seen.owner_pid === null || isPidAlive(seen.owner_pid)) break;
      const taken = (await this.#query<HolderRow>('claim', this.#st.claimSeen, [...base, seen.token])).rows[0];
      if (taken !== undefined) {
        log('claim of %s: took over from dead pid %d on this host', flowUuid, seen.owner_pid);
        return claimOf(flowUuid, taken);
      }
    }
    throw claimedError(flowUuid, { owner: seen?.owner ?? null, host: seen?.owner_host ?? null, pid: seen?.owner_pid ?? null, leaseUntil: seen?.lease_until ?? null });
  }

  async renew(flowUuid: string, token: number, leaseMs: number): Promise<Claim> {
    checkToken(token);
    checkLeaseMs(leaseMs);
    const row = (await this.#query<HolderRow>('renew claim', this.#st.renew, [flowUuid, token, leaseMs])).rows[0];
    if (row !== undefined) return claimOf(flowUuid, row);
    const now = (await this.#query<{ fence: number; owner: string | null }>('renew claim', this.#st.fenceOf, [flowUuid])).rows[0];
    if (now === undefined) throw new NotFound(`cannot renew: flow detail '${flowUuid}' is not stored`, flowUuid);
    throw lostClaim(flowUuid, token, now.fence, now.owner);
  }

  async release(flowUuid: string, token: number): Promise<void> {
    checkToken(token);
    if ((await this.#query('release claim', this.#st.release, [flowUuid, token])).rowCount !== 0) return;
    if ((await this.#query('release claim', this.#st.flowParent, [flowUuid])).rowCount === 0) {
      throw new NotFound(`cannot release: flow detail '${flowUuid}' is not stored`, flowUuid);
    }
  }

  async getClaim(flowUuid: string): Promise<Claim | undefined> {
    const row = (await this.#query<HolderRow>('get claim', this.#st.holder, [flowUuid])).rows[0];
    if (row === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
    return row.owner === null ? undefined : claimOf(flowUuid, row);
  }

  // ---- listing and retention ----------------------------------------------------------------

  /** Flow details (lazy: without atoms), oldest first; by state, book, at most `limit`. */
  async findFlows(query?: FlowQuery): Promise<FlowDetail[]> {
    const { states, bookUuid, limit } = resolveFlowQuery(query);
    if (states !== undefined && states.length === 0) {
      this.#check('find flows');
      return [];
    }
    const values: unknown[] = [];
    if (states !== undefined) values.push(states);
    if (bookUuid !== undefined) values.push(bookUuid);
    if (limit !== undefined) values.push(limit);
    const key = (states !== undefined ? 1 : 0) | (bookUuid !== undefined ? 2 : 0) | (limit !== undefined ? 4 : 0);
    const st = (this.#finds[key] ??= named(findFlowsStatement(this.#s, { state: states !== undefined, book: bookUuid !== undefined, limit: limit !== undefined })));
    // 'PENDING' also matches a flow detail that never ran (state NULL): see findFlowsStatement.
    const rows = (await this.#query<FlowRow>('find flows', st, values)).rows;
    return rows.map(flowFromRow);
  }

  /** Removes finished flow details last updated before `olderThan`, and the books this leaves empty; answers how many flow details. */
  async purge(options: PurgeOptions): Promise<number> {
    const { before, states } = resolvePurge(options);
    return (await this.#query<{ n: number }>('purge', this.#st.purge, [before, states])).rows[0]!.n;
  }

  async clearAll(): Promise<void> {
    this.#check('clear all');
    await this.#ensureReady();
    try {
      await this.#pool.query(this.#st.clear.text);
    } catch (err) {
      throw this.#failure('clear all', err);
    }
  }

  /** Ends the pool if this backend opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#onConnect !== undefined) this.#pool.removeListener('connect', this.#onConnect);
    if (this.#owned) {
      try {
        await this.#pool.end();
      } catch (err) {
        throw this.#failure('close', err);
      } finally {
        this.#pool.removeListener('error', this.#onError);
      }
    }
    log('closed postgres store (schema %s)', this.schema);
  }

  // ---- internals ----------------------------------------------------------------------------

  async #upsertFlow(q: Query, bookUuid: string, flow: FlowDetail, row: Params): Promise<void> {
    if ((await q(this.#st.upsertFlow, row)).rowCount === 0) {
      const owner = (await q<{ parent_uuid: string }>(this.#st.flowParent, [flow.uuid])).rows[0]?.parent_uuid;
      throw new InvariantViolation(`flow detail '${flow.uuid}' belongs to logbook '${String(owner)}', not '${bookUuid}'`, { subject: flow.uuid });
    }
  }

  async #upsertAtoms(q: Query, flowUuid: string, rows: readonly Params[]): Promise<void> {
    if (rows.length === 0) return;
    const done = (await q<{ uuid: string }>(this.#st.upsertAtoms, [flowUuid, ...atomColumns(rows)])).rows;
    if (done.length === rows.length) return;
    const written = new Set(done.map((r) => r.uuid));
    const row = rows.find((r) => !written.has(r[0] as string))!;
    const owner = (await q<{ parent_uuid: string }>(this.#st.atomParent, [row[0]])).rows[0]?.parent_uuid;
    throw new InvariantViolation(`atom detail '${String(row[3])}' ('${String(row[0])}') belongs to flow detail '${String(owner)}', not '${flowUuid}'`, {
      subject: String(row[3]),
    });
  }

  /** One statement on any pooled connection; a serialization failure or deadlock is retried once. */
  async #query<R extends QueryResultRow = QueryResultRow>(what: string, st: Stmt, values: unknown[], array = false): Promise<QueryResult<R>> {
    this.#check(what);
    if (!this.#migrated) await this.#ensureReady();
    const config = configOf(st, values, array);
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.#pool.query(config)) as unknown as QueryResult<R>;
      } catch (err) {
        if (attempt === 0 && isRetryable(codeOf(err))) continue;
        throw this.#failure(what, err);
      }
    }
  }

  /**
   * `fn` in one transaction on one connection (read-only ones in a REPEATABLE READ snapshot);
   * rolled back when it throws; retried once on a serialization failure or deadlock. `single`:
   * a read of one statement, which needs no transaction.
   */
  async #tx<T>(what: string, readOnly: boolean, fn: (q: Query) => Promise<T>, single = false): Promise<T> {
    this.#check(what);
    if (!this.#migrated) await this.#ensureReady();
    if (single) return fn((st, values, array) => this.#query(what, st, values, array));
    for (let attempt = 0; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (err) {
        throw this.#failure(what, err);
      }
      const onError = (err: Error): void => log('postgres connection failed during %s: %s', what, err.message);
      client.on('error', onError);
      let broken: Error | undefined;
      try {
        await client.query(readOnly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
        const q: Query = (st, values, array) =>
          client.query(configOf(st, values, array)) as never;
        const out = await fn(q);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        if (attempt === 0 && isRetryable(codeOf(err))) continue;
        throw this.#failure(what, err);
      } finally {
        client.removeListener('error', onError);
        client.release(broken);
      }
    }
  }

  #check(what: string): void {
    if (this.#closed) throw new StorageFailure(`postgres store (schema '${this.schema}'): cannot ${what}: the backend is closed`);
  }

  /** Our own errors pass through; driver (and other) errors become a `StorageFailure` saying what happened. */
  #failure(what: string, err: unknown): Error {
    if (err instanceof AtomflowError) return err;
    const where = `postgres store (schema '${this.schema}')`;
    if (err instanceof SyntaxError) {
      return new StorageFailure(`${where}: ${what} failed: a stored record is not valid JSON (${err.message})`, { cause: err });
    }
    const code = codeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    return new StorageFailure(`${where}: ${what} failed: ${describePgCode(code)}${code === undefined ? '' : ` (${code})`}: ${message}`, { cause: err });
  }

  // ---- schema -------------------------------------------------------------------------------

  #ensureReady(): Promise<void> {
    this.#ready ??= this.#migrate().then(
      () => {
        this.#migrated = true;
      },
      (err: unknown) => {
        this.#ready = undefined; // the next call tries again (a refused schema is refused again)
        throw this.#failure('open', err);
      },
    );
    return this.#ready;
  }

  /** Creates the schema if missing and applies the missing migrations, in one transaction under the schema's advisory lock. */
  async #migrate(): Promise<void> {
    const client = await this.#pool.connect();
    const onError = (err: Error): void => log('postgres connection failed while migrating: %s', err.message);
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const from = await migrateSchema((text, values) => client.query(text, values), this.schema);
      if (from < PG_MIGRATIONS.length) log('migrated postgres schema %s from version %d to %d', this.schema, from, PG_MIGRATIONS.length);
      await client.query('COMMIT');
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }
}

// ---- helpers ------------------------------------------------------------------------------

/** A named statement's query config (rows as arrays with `array`). */
function configOf(st: Stmt, values: unknown[], array = false): QueryConfig {
  return array ? ({ name: st.name, text: st.text, values, rowMode: 'array' } as QueryArrayConfig) : { name: st.name, text: st.text, values };
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Rows for the atom upserts; a uuid given twice is written once, with its last record (as upserting twice would leave it). */
function atomParamsOf(flowUuid: string, atoms: readonly AtomDetail[]): Params[] {
  if (atoms.length > 1) {
    const seen = new Set<string>();
    let dup = false;
    for (const a of atoms) {
      if (seen.has(a.uuid)) dup = true;
      seen.add(a.uuid);
    }
    if (dup) {
      const last = new Map(atoms.map((a) => [a.uuid, a]));
      atoms = [...last.values()];
    }
  }
  return atoms.map((a) => atomParams(flowUuid, a));
}

function atomsOf(rows: unknown[][]): AtomDetail[] {
  const out: AtomDetail[] = new Array(rows.length);
  for (let k = 0; k < rows.length; k++) out[k] = atomFromRaw(rows[k]!);
  return out;
}

function claimOf(flowUuid: string, r: HolderRow): Claim {
  return Object.freeze({ flowUuid, owner: r.owner!, host: r.owner_host ?? '', pid: r.owner_pid ?? 0, token: r.token, leaseUntil: r.lease_until ?? 0 });
}


