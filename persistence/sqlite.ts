/**
 * The SQLite backend, on better-sqlite3 (the one file that imports it).
 *
 * - Every write is one synchronous `db.transaction(...)` (BEGIN IMMEDIATE), with no `await`
 *   inside; values are serialised to JSON before the transaction starts, so a value JSON cannot
 *   hold fails the call before anything is written. Reads run in a (deferred) transaction too, so
 *   a book and its contents come from one snapshot.
 * - Statements are prepared once, when the backend opens.
 * - Files run in WAL mode. Durability: `'normal'` (default, `synchronous = NORMAL`) survives a
 *   crash of the process — a commit that returned is in the WAL — but the last commits may be lost
 *   on power loss or an OS crash; `'full'` (`synchronous = FULL`) syncs the WAL on every commit
 *   and survives those too, at the cost of an fsync per engine step.
 * - The schema carries a version (`schema_version` table, see `sqlite-schema.ts`); opening applies
 *   the missing forward-only migrations in one transaction and refuses a store written by a newer
 *   atomflow, a file that is not SQLite, and a SQLite database that is not an atomflow store.
 * - Driver errors become `StorageFailure` (driver error as `cause`); unknown uuids `NotFound`.
 */
import Database from 'better-sqlite3';
import createDebug from 'debug';
import { AtomflowError, InvariantViolation, NotFound, StorageFailure } from '../lib/errors.js';
import { resolveFlowQuery, resolvePurge, stateIn, type Backend, type Claim, type ClaimRequest, type FlowChange, type FlowQuery, type LoadOptions, type PurgeOptions } from './backend.js';
import type { AtomDetail, FlowDetail, LogBook } from './models.js';
import { checkClaimRequest, checkLeaseMs, checkToken, claimOf, claimVerdict, claimedError, lostClaim, staleFence, type StoredHolder } from './ownership.js';
import {
  APPLICATION_ID,
  CREATE_SCHEMA_VERSION,
  MIGRATIONS,
  SCHEMA_APP,
  SQL,
  atomFromRaw,
  atomParams,
  atomUpdateParams,
  bookFromRow,
  bookParams,
  findFlowsSql,
  flowFromRow,
  flowParams,
  flowUpdateParams,
  withAtoms,
  withFlows,
  type BookRow,
  type FlowRow,
  type HolderRow,
  type Params,
} from './sqlite-schema.js';
import { assemble } from './rows.js';
import { describeSqliteCode, resolveSqliteOptions, type Durability, type Locking, type SqliteBackendOptions } from './sqlite-options.js';

const log = createDebug('atomflow:persistence');

type Statements = { readonly [K in Exclude<keyof typeof SQL, 'clear'>]: Database.Statement };

/** Statements answering rows as arrays (the atom reads, see `atomFromRaw`). */
const RAW: ReadonlySet<string> = new Set(['atomsOfFlow', 'atomsOfBook', 'allAtoms']);

/** Statements answering one value (or undefined) rather than a row. */
const PLUCKED: ReadonlySet<string> = new Set(['bookExists', 'flowParent', 'atomParent', 'flowFence']);

/** Statements answering rows as arrays (the purge candidates). */
const ARRAYS: ReadonlySet<string> = new Set(['purgeCandidates']);

type Version = { readonly kind: 'ours'; readonly version: number } | { readonly kind: 'foreign'; readonly why: string };

export class SqliteBackend implements Backend {
  readonly kind = 'sqlite';
  /** The database file, or ':memory:'. */
  readonly path: string;
  readonly durability: Durability;
  readonly locking: Locking;
  readonly #db: Database.Database;
  /** Whether this backend opened the connection (and so closes it). */
  readonly #owned: boolean;
  readonly #st: Statements;
  /** One transaction wrapper, made once, that runs the function it is given. */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  #closed = false;

  /**
   * Opens (creating if needed) a store at a path or ':memory:', or uses a connection the caller
   * opened (which `close()` then leaves open: the caller owns it). Throws `StorageFailure` when the
   * file is not an atomflow store, and `InvariantViolation` for bad options.
   */
  constructor(pathOrDb: string | Database.Database, options?: SqliteBackendOptions) {
    const opts = resolveSqliteOptions(options);
    this.durability = opts.durability;
    this.locking = opts.locking;
    this.path = typeof pathOrDb === 'string' ? pathOrDb : pathOrDb.name;
    this.#owned = typeof pathOrDb === 'string';
    let db: Database.Database;
    try {
      db = typeof pathOrDb === 'string' ? new Database(pathOrDb, { timeout: opts.busyTimeout }) : pathOrDb;
    } catch (err) {
      throw this.#failure('open', err);
    }
    this.#db = db;
    try {
      // Connection settings first; nothing is written to the file before we know it is ours.
      db.pragma(`busy_timeout = ${opts.busyTimeout}`);
      db.pragma('foreign_keys = ON');
      db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      // Before the first access, so that WAL mode never uses shared memory (SQLite's rule).
      if (opts.locking === 'exclusive') db.pragma('locking_mode = EXCLUSIVE');
      const version = this.#checkedVersion();
      if (!db.memory && !db.readonly && db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
      if (version < MIGRATIONS.length) this.#migrate();
      const st: Record<string, Database.Statement> = {};
      for (const [name, sql] of Object.entries(SQL)) {
        if (name === 'clear') continue;
        const statement = db.prepare(sql);
        st[name] = PLUCKED.has(name) ? statement.pluck() : RAW.has(name) || ARRAYS.has(name) ? statement.raw(true) : statement;
      }
      this.#st = st as Statements;
      this.#tx = db.transaction((fn: () => unknown) => fn());
    } catch (err) {
      if (this.#owned) db.close();
      this.#closed = true;
      throw this.#failure('open', err);
    }
    log('opened sqlite store %s (durability %s)', this.path, this.durability);
  }

  async saveLogBook(book: LogBook): Promise<void> {
    this.#check('save logbook');
    const bookRow = bookParams(book);
    const flows = book.flowDetails.map((fd) => ({ fd, row: flowParams(book.uuid, fd), atoms: fd.atomDetails.map((a) => atomParams(fd.uuid, a)) }));
    this.#write('save logbook', () => {
      this.#st.upsertBook.run(bookRow);
      for (const f of flows) {
        this.#upsertFlow(book.uuid, f.fd, f.row);
        this.#upsertAtoms(f.fd.uuid, f.fd.atomDetails, f.atoms);
      }
    });
  }

  async getLogBook(uuid: string, options?: LoadOptions): Promise<LogBook> {
    return this.#read('get logbook', () => {
      const row = this.#st.book.get(uuid) as BookRow | undefined;
      if (row === undefined) throw new NotFound(`logbook '${uuid}' not found`, uuid);
      const book = bookFromRow(row);
      if (options?.lazy === true) return book;
      const flows = this.#st.flowsOfBook.all(uuid) as FlowRow[];
      return withFlows(book, assemble(flows, this.#st.atomsOfBook.all(uuid) as unknown[][]));
    });
  }

  async getLogBooks(options?: LoadOptions): Promise<LogBook[]> {
    return this.#read('get logbooks', () => {
      const books = (this.#st.books.all() as BookRow[]).map(bookFromRow);
      if (options?.lazy !== false) return books;
      const flows = assemble(this.#st.allFlows.all() as FlowRow[], this.#st.allAtoms.all() as unknown[][], true);
      const byBook = new Map<string, FlowDetail[]>();
      for (const { parent, flow } of flows) {
        const list = byBook.get(parent);
        if (list === undefined) byBook.set(parent, [flow]);
        else list.push(flow);
      }
      return books.map((b) => withFlows(b, byBook.get(b.uuid) ?? []));
    });
  }

  async destroyLogBook(uuid: string): Promise<void> {
    this.#write('destroy logbook', () => {
      if (this.#st.deleteBook.run(uuid).changes === 0) throw new NotFound(`logbook '${uuid}' not found (nothing to destroy)`, uuid);
    });
  }

  async saveFlowDetail(bookUuid: string, flow: FlowDetail): Promise<void> {
    this.#check('save flow detail');
    const row = flowParams(bookUuid, flow);
    const atoms = flow.atomDetails.map((a) => atomParams(flow.uuid, a));
    this.#write('save flow detail', () => {
      if (this.#st.bookExists.get(bookUuid) === undefined) {
        throw new NotFound(`cannot save flow detail '${flow.uuid}': logbook '${bookUuid}' is not stored`, bookUuid);
      }
      this.#upsertFlow(bookUuid, flow, row);
      this.#upsertAtoms(flow.uuid, flow.atomDetails, atoms);
    });
  }

  async getFlowDetail(uuid: string, options?: LoadOptions): Promise<FlowDetail> {
    return this.#read('get flow detail', () => {
      const row = this.#st.flow.get(uuid) as FlowRow | undefined;
      if (row === undefined) throw new NotFound(`flow detail '${uuid}' not found`, uuid);
      const flow = flowFromRow(row);
      if (options?.lazy === true) return flow;
      return withAtoms(flow, this.#atomsOfFlow(uuid));
    });
  }

  async getBookUuidOfFlow(flowUuid: string): Promise<string> {
    return this.#read('get book of flow', () => {
      const parent = this.#st.flowParent.get(flowUuid) as string | undefined;
      if (parent === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
      return parent;
    });
  }

  async saveAtomDetails(flowUuid: string, atoms: readonly AtomDetail[]): Promise<void> {
    this.#check('save atom details');
    const rows = atoms.map((a) => atomParams(flowUuid, a));
    this.#write('save atom details', () => {
      if (this.#st.flowParent.get(flowUuid) === undefined) {
        throw new NotFound(`cannot save atom details: flow detail '${flowUuid}' is not stored`, flowUuid);
      }
      this.#upsertAtoms(flowUuid, atoms, rows);
    });
  }

  async getAtomDetails(flowUuid: string): Promise<AtomDetail[]> {
    return this.#read('get atom details', () => {
      if (this.#st.flowParent.get(flowUuid) === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
      return this.#atomsOfFlow(flowUuid);
    });
  }

  /** The hot path: serialise, then one IMMEDIATE transaction of an UPDATE and one upsert per atom. */
  async commit(flowUuid: string, change: FlowChange): Promise<void> {
    this.commitSync(flowUuid, change);
  }

  /** `commit()` without the promise: better-sqlite3 writes synchronously anyway. */
  commitSync(flowUuid: string, change: FlowChange): void {
    this.#check('commit');
    const { flow, atoms } = change;
    if (flow !== undefined && flow.uuid !== flowUuid) {
      throw new InvariantViolation(`cannot commit flow detail '${flow.uuid}' under flow uuid '${flowUuid}'`, { subject: flowUuid });
    }
    const fence = change.fence;
    const flowRow = flow === undefined ? undefined : flowUpdateParams(flow);
    const atomRows = atoms === undefined ? undefined : atoms.map((a) => atomParams(flowUuid, a));
    this.#write('commit', () => {
      if (fence === undefined) {
        const found = flowRow !== undefined ? this.#st.updateFlow.run(flowRow).changes > 0 : this.#st.flowParent.get(flowUuid) !== undefined;
        if (!found) throw new NotFound(`cannot commit: flow detail '${flowUuid}' is not stored`, flowUuid);
      } else if (flowRow === undefined || this.#st.updateFlowFenced.run(flowRow, fence).changes === 0) {
        // The token is checked first, in this transaction: a stale writer changes nothing.
        const stored = this.#st.flowFence.get(flowUuid) as number | undefined;
        if (stored === undefined) throw new NotFound(`cannot commit: flow detail '${flowUuid}' is not stored`, flowUuid);
        if (stored !== fence) throw staleFence(flowUuid, fence, stored);
      }
      if (atoms !== undefined && atomRows !== undefined) this.#updateAtoms(flowUuid, atoms, atomRows);
    });
  }

  // ---- ownership ----------------------------------------------------------------------------

  /** Read the holder, ask the verdict, write the new owner and token: one IMMEDIATE transaction. */
  async claim(flowUuid: string, request: ClaimRequest): Promise<Claim> {
    this.#check('claim');
    checkClaimRequest(request);
    let claim: Claim | undefined;
    this.#write('claim', () => {
      const row = this.#holderRow(flowUuid, 'claim');
      const now = Date.now();
      const holder = holderOf(row);
      if (claimVerdict(holder, request, now) === 'held') throw claimedError(flowUuid, holder);
      const taken = { owner: request.owner, host: request.host, pid: request.pid, leaseUntil: now + request.leaseMs };
      const token = row.fence + 1;
      this.#st.claim.run(taken.owner, taken.host, taken.pid, taken.leaseUntil, token, flowUuid);
      claim = claimOf(flowUuid, taken, token);
    });
    return claim!;
  }

  async renew(flowUuid: string, token: number, leaseMs: number): Promise<Claim> {
    this.#check('renew a claim');
    checkToken(token);
    checkLeaseMs(leaseMs);
    let claim: Claim | undefined;
    this.#write('renew a claim', () => {
      const row = this.#st.renew.get(Date.now() + leaseMs, flowUuid, token) as HolderRow | undefined;
      if (row === undefined) {
        const stored = this.#holderRow(flowUuid, 'renew the claim on');
        throw lostClaim(flowUuid, token, stored.fence, stored.owner);
      }
      claim = claimOf(flowUuid, { owner: row.owner!, host: row.owner_host ?? '', pid: row.owner_pid ?? 0, leaseUntil: row.lease_until! }, row.fence);
    });
    return claim!;
  }

  async release(flowUuid: string, token: number): Promise<void> {
    this.#check('release a claim');
    checkToken(token);
    this.#write('release a claim', () => {
      if (this.#st.release.run(flowUuid, token).changes === 0) this.#holderRow(flowUuid, 'release the claim on');
    });
  }

  async getClaim(flowUuid: string): Promise<Claim | undefined> {
    return this.#read('read a claim', () => {
      const row = this.#holderRow(flowUuid, 'read the claim on');
      if (row.owner === null) return undefined;
      return claimOf(flowUuid, { owner: row.owner, host: row.owner_host ?? '', pid: row.owner_pid ?? 0, leaseUntil: row.lease_until ?? 0 }, row.fence);
    });
  }

  async findFlows(query?: FlowQuery): Promise<FlowDetail[]> {
    const q = resolveFlowQuery(query);
    return this.#read('find flows', () => {
      const { sql, params } = findFlowsSql(q.states, q.bookUuid, q.limit);
      // Few distinct shapes (states x book x limit): better-sqlite3 prepares each one quickly.
      return (this.#db.prepare(sql).all(...params) as FlowRow[]).map(flowFromRow);
    });
  }

  async purge(options: PurgeOptions): Promise<number> {
    const { before, states } = resolvePurge(options);
    let removed = 0;
    this.#write('purge', () => {
      const books = new Set<string>();
      for (const [uuid, parent, state] of this.#st.purgeCandidates.all(before) as Array<[string, string, FlowDetail['state']]>) {
        if (!stateIn(state, states)) continue;
        this.#st.deleteFlow.run(uuid);
        books.add(parent);
        removed++;
      }
      for (const b of books) this.#st.deleteBookIfEmpty.run(b, b);
    });
    return removed;
  }

  async clearAll(): Promise<void> {
    this.#write('clear all', () => this.#db.exec(SQL.clear));
  }

  /** Closes the connection if this backend opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) {
      try {
        this.#db.close();
      } catch (err) {
        throw this.#failure('close', err);
      }
    }
    log('closed sqlite store %s', this.path);
  }

  // ---- internals ----------------------------------------------------------------------------

  #holderRow(flowUuid: string, what: string): HolderRow {
    const row = this.#st.holder.get(flowUuid) as HolderRow | undefined;
    if (row === undefined) throw new NotFound(`cannot ${what} flow detail '${flowUuid}': it is not stored`, flowUuid);
    return row;
  }

  #upsertFlow(bookUuid: string, flow: FlowDetail, row: Params): void {
    if (this.#st.upsertFlow.run(row).changes === 0) {
      const owner = this.#st.flowParent.get(flow.uuid) as string | undefined;
      throw new InvariantViolation(`flow detail '${flow.uuid}' belongs to logbook '${String(owner)}', not '${bookUuid}'`, { subject: flow.uuid });
    }
  }

  #upsertAtoms(flowUuid: string, atoms: readonly AtomDetail[], rows: readonly Params[]): void {
    const upsert = this.#st.upsertAtom;
    for (let i = 0; i < rows.length; i++) {
      if (upsert.run(rows[i]).changes === 0) throw this.#notOwned(flowUuid, atoms[i]!);
    }
  }

  /** The commit's way: update rows the flow holds; insert the others (or refuse a foreign one). */
  #updateAtoms(flowUuid: string, atoms: readonly AtomDetail[], rows: readonly Params[]): void {
    const update = this.#st.updateAtom;
    const upsert = this.#st.upsertAtom;
    for (let i = 0; i < rows.length; i++) {
      if (update.run(atomUpdateParams(rows[i]!)).changes > 0) continue;
      if (upsert.run(rows[i]).changes === 0) throw this.#notOwned(flowUuid, atoms[i]!);
    }
  }

  /** A flow's atoms in first-stored order (rows as arrays: no per-row column objects). */
  #atomsOfFlow(flowUuid: string): AtomDetail[] {
    const rows = this.#st.atomsOfFlow.all(flowUuid) as unknown[][];
    const out: AtomDetail[] = new Array(rows.length);
    for (let k = 0; k < rows.length; k++) out[k] = atomFromRaw(rows[k]!);
    return out;
  }

  #notOwned(flowUuid: string, a: AtomDetail): InvariantViolation {
    const owner = this.#st.atomParent.get(a.uuid) as string | undefined;
    return new InvariantViolation(`atom detail '${a.name}' ('${a.uuid}') belongs to flow detail '${String(owner)}', not '${flowUuid}'`, {
      subject: a.name,
    });
  }


  /** Runs `fn` in one IMMEDIATE transaction (callers serialise their values before). */
  #write(what: string, fn: () => void): void {
    this.#check(what);
    try {
      this.#tx.immediate(fn);
    } catch (err) {
      throw this.#failure(what, err);
    }
  }

  #read<T>(what: string, fn: () => T): T {
    this.#check(what);
    try {
      return this.#tx.deferred(fn) as T;
    } catch (err) {
      throw this.#failure(what, err);
    }
  }

  #check(what: string): void {
    if (this.#closed) throw new StorageFailure(`sqlite store '${this.path}': cannot ${what}: the backend is closed`);
  }

  /** Our own errors pass through; driver (and other) errors become a `StorageFailure` saying what happened. */
  #failure(what: string, err: unknown): Error {
    if (err instanceof AtomflowError) return err;
    const where = `sqlite store '${this.path}'`;
    if (err instanceof Database.SqliteError) {
      const meaning = describeSqliteCode(err.code);
      return new StorageFailure(`${where}: ${what} failed: ${meaning} (${err.code}: ${err.message})`, { cause: err });
    }
    if (err instanceof SyntaxError) {
      return new StorageFailure(`${where}: ${what} failed: a stored record is not valid JSON (${err.message})`, { cause: err });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new StorageFailure(`${where}: ${what} failed: ${message}`, { cause: err });
  }

  // ---- schema -------------------------------------------------------------------------------

  #version(): Version {
    const db = this.#db;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").pluck().all() as string[];
    const appId = db.pragma('application_id', { simple: true }) as number;
    if (appId !== 0 && appId !== APPLICATION_ID) return { kind: 'foreign', why: `its application_id is ${appId}, not atomflow's` };
    if (!tables.includes('schema_version')) {
      return tables.length === 0 ? { kind: 'ours', version: 0 } : { kind: 'foreign', why: `it has tables [${tables.join(', ')}] and no schema_version table` };
    }
    let version: unknown;
    try {
      version = db.prepare('SELECT version FROM schema_version WHERE app = ?').pluck().get(SCHEMA_APP);
    } catch (err) {
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_ERROR') return { kind: 'foreign', why: 'its schema_version table is not atomflow\'s' };
      throw err;
    }
    if (typeof version !== 'number') return { kind: 'foreign', why: `its schema_version table has no '${SCHEMA_APP}' row` };
    return { kind: 'ours', version };
  }

  #checkedVersion(): number {
    const v = this.#version();
    if (v.kind === 'foreign') {
      throw new StorageFailure(`sqlite store '${this.path}': not an atomflow store: ${v.why}`);
    }
    if (v.version > MIGRATIONS.length) {
      throw new StorageFailure(
        `sqlite store '${this.path}': written by a newer atomflow (schema version ${v.version}; this version knows up to ${MIGRATIONS.length}); upgrade atomflow to open it`,
      );
    }
    return v.version;
  }

  /** Applies the migrations above the stored version, in one IMMEDIATE transaction (re-checked inside it, for concurrent openers). */
  #migrate(): void {
    const db = this.#db;
    db.transaction(() => {
      const from = this.#checkedVersion();
      if (from === MIGRATIONS.length) return; // another connection migrated first
      db.exec(CREATE_SCHEMA_VERSION);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      for (let v = from; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
      db.prepare(
        'INSERT INTO schema_version (app, version, updated_at) VALUES (?, ?, ?) ON CONFLICT(app) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at',
      ).run(SCHEMA_APP, MIGRATIONS.length, Date.now());
      log('migrated %s from schema version %d to %d', this.path, from, MIGRATIONS.length);
    }).immediate();
  }
}

function holderOf(row: HolderRow): StoredHolder {
  return { owner: row.owner, host: row.owner_host, pid: row.owner_pid, leaseUntil: row.lease_until };
}
