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
 * - Waiting for another connection's lock never blocks the event loop for long: the connection's
 *   own busy timeout is a short slice (`BUSY_SLICE_MS`); past it, the asynchronous methods retry
 *   with `setTimeout` backoff until `busyTimeout` has passed in all, then fail with a
 *   `StorageFailure` naming the lock. `commitSync()` tries once (one slice) and raises
 *   `StorageBusy`, on which the engine falls back to the asynchronous `commit()`.
 * - The file is checked before each write (its device and inode, one `stat`): a store deleted or
 *   replaced while open is a `StorageFailure`, not writes that silently go nowhere.
 */
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import createDebug from 'debug';
import { describeValue } from '../lib/describe.js';
import { AtomflowError, InvariantViolation, NotFound, StorageBusy, StorageFailure } from '../lib/errors.js';
import { resolveFlowQuery, resolvePurge, stateIn, type Backend, type Claim, type ClaimRequest, type FlowChange, type FlowQuery, type LoadOptions, type PurgeOptions } from './backend.js';
import { checkAtoms, checkBook, checkChange, checkFlow, checkUuid, type AtomDetail, type FlowDetail, type LogBook } from './models.js';
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

/** Engine steps that do not end a run check the file at most this often (ms); other writes always. */
export const FILE_CHECK_MS = 20;

/** How long one synchronous attempt may wait for a lock (the connection's busy_timeout), in ms. */
export const BUSY_SLICE_MS = 10;

/** Opens without waiting more than one slice for a lock (`openBackend` retries asynchronously). */
export const OPEN_WITHOUT_WAITING: unique symbol = Symbol('atomflow.sqlite.openWithoutWaiting');

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
  /** The file's identity when opened (device and inode), checked before each write. */
  readonly #file: { readonly dev: number; readonly ino: number } | undefined;
  /** When the file was last checked (performance.now()). */
  #fileCheckedAt = Number.NEGATIVE_INFINITY;
  /** The total wait for a lock (ms): the `busyTimeout` option. */
  readonly busyTimeout: number;

  /**
   * Opens (creating if needed) a store at a path or ':memory:', or uses a connection the caller
   * opened (which `close()` then leaves open: the caller owns it). Throws `StorageFailure` when the
   * file is not an atomflow store, and `InvariantViolation` for bad options.
   */
  constructor(pathOrDb: string | Database.Database, options?: SqliteBackendOptions) {
    const opts = resolveSqliteOptions(options);
    if (typeof pathOrDb === 'string') {
      if (pathOrDb === '' || pathOrDb.includes('\0')) {
        throw new InvariantViolation(`sqlite path must be a file path or ':memory:' without NUL characters, got ${describeValue(pathOrDb)}`, { option: 'path' });
      }
    } else if (!(pathOrDb instanceof Database)) {
      throw new InvariantViolation(`SqliteBackend takes a file path, ':memory:' or a better-sqlite3 Database, not ${describeValue(pathOrDb)}`, { option: 'path' });
    }
    this.durability = opts.durability;
    this.locking = opts.locking;
    this.busyTimeout = opts.busyTimeout;
    this.path = typeof pathOrDb === 'string' ? pathOrDb : pathOrDb.name;
    this.#owned = typeof pathOrDb === 'string';
    // Opening waits for locks synchronously up to busyTimeout (a constructor cannot wait
    // otherwise); openBackend() opens with one slice and retries asynchronously.
    const openWait = (options as { [OPEN_WITHOUT_WAITING]?: boolean } | undefined)?.[OPEN_WITHOUT_WAITING] === true ? Math.min(BUSY_SLICE_MS, opts.busyTimeout) : opts.busyTimeout;
    let db: Database.Database;
    try {
      db = typeof pathOrDb === 'string' ? new Database(pathOrDb, { timeout: openWait }) : pathOrDb;
    } catch (err) {
      throw this.#failure('open', err);
    }
    this.#db = db;
    try {
      // Connection settings first; nothing is written to the file before we know it is ours.
      db.pragma(`busy_timeout = ${openWait}`);
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
      // Exclusive: take the write lock now and keep it (SQLite would otherwise take it at the first
      // write, and until then another connection could still read the store).
      if (opts.locking === 'exclusive' && !db.memory && !db.readonly) db.exec('BEGIN IMMEDIATE; COMMIT');
      db.pragma(`busy_timeout = ${Math.min(BUSY_SLICE_MS, opts.busyTimeout)}`);
      this.#file = db.memory || typeof pathOrDb !== 'string' ? undefined : fileIdentity(this.path);
    } catch (err) {
      if (this.#owned) db.close();
      this.#closed = true;
      throw this.#failure('open', err);
    }
    log('opened sqlite store %s (durability %s)', this.path, this.durability);
  }

  async saveLogBook(book: LogBook): Promise<void> {
    this.#check('save logbook');
    checkBook(book);
    const bookRow = bookParams(book);
    const flows = book.flowDetails.map((fd) => ({ fd, row: flowParams(book.uuid, fd), atoms: fd.atomDetails.map((a) => atomParams(fd.uuid, a)) }));
    await this.#retrying('save logbook', () =>
      this.#write('save logbook', () => {
        this.#st.upsertBook.run(bookRow);
        for (const f of flows) {
          this.#upsertFlow(book.uuid, f.fd, f.row);
          this.#upsertAtoms(f.fd.uuid, f.fd.atomDetails, f.atoms);
        }
      }),
    );
  }

  async getLogBook(uuid: string, options?: LoadOptions): Promise<LogBook> {
    checkUuid(uuid, 'uuid');
    return this.#retrying('get logbook', () => this.#read('get logbook', () => {
      const row = this.#st.book.get(uuid) as BookRow | undefined;
      if (row === undefined) throw new NotFound(`logbook '${uuid}' not found`, uuid);
      const book = bookFromRow(row);
      if (options?.lazy === true) return book;
      const flows = this.#st.flowsOfBook.all(uuid) as FlowRow[];
      return withFlows(book, assemble(flows, this.#st.atomsOfBook.all(uuid) as unknown[][]));
    }));
  }

  async getLogBooks(options?: LoadOptions): Promise<LogBook[]> {
    return this.#retrying('get logbooks', () => this.#read('get logbooks', () => {
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
    }));
  }

  async destroyLogBook(uuid: string): Promise<void> {
    checkUuid(uuid, 'uuid');
    await this.#retrying('destroy logbook', () =>
      this.#write('destroy logbook', () => {
        if (this.#st.deleteBook.run(uuid).changes === 0) throw new NotFound(`logbook '${uuid}' not found (nothing to destroy)`, uuid);
      }),
    );
  }

  async saveFlowDetail(bookUuid: string, flow: FlowDetail): Promise<void> {
    checkUuid(bookUuid, 'bookUuid');
    this.#check('save flow detail');
    checkFlow(flow);
    if (typeof bookUuid !== 'string') throw new InvariantViolation(`saveFlowDetail() needs the logbook uuid, not ${describeValue(bookUuid)}`, { option: 'bookUuid' });
    const row = flowParams(bookUuid, flow);
    const atoms = flow.atomDetails.map((a) => atomParams(flow.uuid, a));
    await this.#retrying('save flow detail', () =>
      this.#write('save flow detail', () => {
        if (this.#st.bookExists.get(bookUuid) === undefined) {
          throw new NotFound(`cannot save flow detail '${flow.uuid}': logbook '${bookUuid}' is not stored`, bookUuid);
        }
        this.#upsertFlow(bookUuid, flow, row);
        this.#upsertAtoms(flow.uuid, flow.atomDetails, atoms);
      }),
    );
  }

  async getFlowDetail(uuid: string, options?: LoadOptions): Promise<FlowDetail> {
    checkUuid(uuid, 'uuid');
    return this.#retrying('get flow detail', () => this.#read('get flow detail', () => {
      const row = this.#st.flow.get(uuid) as FlowRow | undefined;
      if (row === undefined) throw new NotFound(`flow detail '${uuid}' not found`, uuid);
      const flow = flowFromRow(row);
      if (options?.lazy === true) return flow;
      return withAtoms(flow, this.#atomsOfFlow(uuid));
    }));
  }

  async getBookUuidOfFlow(flowUuid: string): Promise<string> {
    checkUuid(flowUuid, 'flowUuid');
    return this.#retrying('get book of flow', () => this.#read('get book of flow', () => {
      const parent = this.#st.flowParent.get(flowUuid) as string | undefined;
      if (parent === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
      return parent;
    }));
  }

  async saveAtomDetails(flowUuid: string, atoms: readonly AtomDetail[]): Promise<void> {
    checkUuid(flowUuid, 'flowUuid');
    this.#check('save atom details');
    checkAtoms(atoms);
    const rows = atoms.map((a) => atomParams(flowUuid, a));
    await this.#retrying('save atom details', () =>
      this.#write('save atom details', () => {
        if (this.#st.flowParent.get(flowUuid) === undefined) {
          throw new NotFound(`cannot save atom details: flow detail '${flowUuid}' is not stored`, flowUuid);
        }
        this.#upsertAtoms(flowUuid, atoms, rows);
      }),
    );
  }

  async getAtomDetails(flowUuid: string): Promise<AtomDetail[]> {
    checkUuid(flowUuid, 'flowUuid');
    return this.#retrying('get atom details', () => this.#read('get atom details', () => {
      if (this.#st.flowParent.get(flowUuid) === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
      return this.#atomsOfFlow(flowUuid);
    }));
  }

  /**
   * The hot path: serialise, then one IMMEDIATE transaction of an UPDATE and one upsert per atom.
   * While another connection holds the lock, waits (asynchronously) up to `busyTimeout`.
   */
  async commit(flowUuid: string, change: FlowChange): Promise<void> {
    await this.#retrying('commit', () => this.commitSync(flowUuid, change));
  }

  /**
   * `commit()` without the promise: better-sqlite3 writes synchronously anyway. Waits at most one
   * short slice for a lock, then raises `StorageBusy` (nothing written): the caller may retry
   * through `commit()`, which waits without blocking the event loop.
   */
  commitSync(flowUuid: string, change: FlowChange): void {
    checkUuid(flowUuid, 'flowUuid');
    this.#check('commit');
    checkChange(change);
    const { flow, atoms } = change;
    if (flow !== undefined && flow.uuid !== flowUuid) {
      throw new InvariantViolation(`cannot commit flow detail '${flow.uuid}' under flow uuid '${flowUuid}'`, { subject: flowUuid });
    }
    const fence = change.fence;
    const flowRow = flow === undefined ? undefined : flowUpdateParams(flow);
    const atomRows = atoms === undefined ? undefined : atoms.map((a) => atomParams(flowUuid, a));
    // The file check is paced on the hot path, but a run's final state is never written unchecked.
    const final = flow !== undefined && (flow.state === 'SUCCESS' || flow.state === 'REVERTED' || flow.state === 'FAILURE' || flow.state === 'SUSPENDED');
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
    }, !final);
  }

  // ---- ownership ----------------------------------------------------------------------------

  /** Read the holder, ask the verdict, write the new owner and token: one IMMEDIATE transaction. */
  async claim(flowUuid: string, request: ClaimRequest): Promise<Claim> {
    this.#check('claim');
    checkClaimRequest(request);
    let claim: Claim | undefined;
    await this.#retrying('claim', () => this.#write('claim', () => {
      const row = this.#holderRow(flowUuid, 'claim');
      const now = Date.now();
      const holder = holderOf(row);
      if (claimVerdict(holder, request, now) === 'held') throw claimedError(flowUuid, holder);
      const taken = { owner: request.owner, host: request.host, pid: request.pid, leaseUntil: now + request.leaseMs };
      const token = row.fence + 1;
      this.#st.claim.run(taken.owner, taken.host, taken.pid, taken.leaseUntil, token, flowUuid);
      claim = claimOf(flowUuid, taken, token);
    }));
    return claim!;
  }

  async renew(flowUuid: string, token: number, leaseMs: number): Promise<Claim> {
    this.#check('renew a claim');
    checkToken(token);
    checkLeaseMs(leaseMs);
    let claim: Claim | undefined;
    await this.#retrying('renew a claim', () => this.#write('renew a claim', () => {
      const row = this.#st.renew.get(Date.now() + leaseMs, flowUuid, token) as HolderRow | undefined;
      if (row === undefined) {
        const stored = this.#holderRow(flowUuid, 'renew the claim on');
        throw lostClaim(flowUuid, token, stored.fence, stored.owner);
      }
      claim = claimOf(flowUuid, { owner: row.owner!, host: row.owner_host ?? '', pid: row.owner_pid ?? 0, leaseUntil: row.lease_until! }, row.fence);
    }));
    return claim!;
  }

  async release(flowUuid: string, token: number): Promise<void> {
    this.#check('release a claim');
    checkToken(token);
    await this.#retrying('release a claim', () => this.#write('release a claim', () => {
      if (this.#st.release.run(flowUuid, token).changes === 0) this.#holderRow(flowUuid, 'release the claim on');
    }));
  }

  async getClaim(flowUuid: string): Promise<Claim | undefined> {
    return this.#retrying('read a claim', () => this.#read('read a claim', () => {
      const row = this.#holderRow(flowUuid, 'read the claim on');
      if (row.owner === null) return undefined;
      return claimOf(flowUuid, { owner: row.owner, host: row.owner_host ?? '', pid: row.owner_pid ?? 0, leaseUntil: row.lease_until ?? 0 }, row.fence);
    }));
  }

  async findFlows(query?: FlowQuery): Promise<FlowDetail[]> {
    const q = resolveFlowQuery(query);
    return this.#retrying('find flows', () => this.#read('find flows', () => {
      const { sql, params } = findFlowsSql(q.states, q.bookUuid, q.limit);
      // Few distinct shapes (states x book x limit): better-sqlite3 prepares each one quickly.
      return (this.#db.prepare(sql).all(...params) as FlowRow[]).map(flowFromRow);
    }));
  }

  async purge(options: PurgeOptions): Promise<number> {
    const { before, states } = resolvePurge(options);
    let removed = 0;
    await this.#retrying('purge', () => this.#write('purge', () => {
      removed = 0;
      const books = new Set<string>();
      for (const [uuid, parent, state] of this.#st.purgeCandidates.all(before) as Array<[string, string, FlowDetail['state']]>) {
        if (!stateIn(state, states)) continue;
        this.#st.deleteFlow.run(uuid);
        books.add(parent);
        removed++;
      }
      for (const b of books) this.#st.deleteBookIfEmpty.run(b, b);
    }));
    return removed;
  }

  async clearAll(): Promise<void> {
    await this.#retrying('clear all', () => this.#write('clear all', () => this.#db.exec(SQL.clear)));
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
    for (let k = 0; k < rows.length; k++) out[k] = atomFromRaw(rows[k]!, flowUuid);
    return out;
  }

  #notOwned(flowUuid: string, a: AtomDetail): InvariantViolation {
    const owner = this.#st.atomParent.get(a.uuid) as string | undefined;
    return new InvariantViolation(`atom detail '${a.name}' ('${a.uuid}') belongs to flow detail '${String(owner)}', not '${flowUuid}'`, {
      subject: a.name,
    });
  }


  /**
   * Runs `fn` now, and again after an asynchronous pause each time it raises `StorageBusy`, until
   * `busyTimeout` has passed in all; then a `StorageFailure` naming the lock.
   */
  async #retrying<T>(what: string, fn: () => T): Promise<T> {
    let started: number | undefined;
    let pause = 2;
    for (;;) {
      try {
        return fn();
      } catch (err) {
        if (!(err instanceof StorageBusy)) throw err;
        const now = Date.now();
        started ??= now - Math.min(BUSY_SLICE_MS, this.busyTimeout);
        const left = this.busyTimeout - (now - started);
        if (left <= 0) {
          throw new StorageFailure(
            `sqlite store '${this.path}': ${what} failed: ${err.lock} was held by another connection for more than busyTimeout (${this.busyTimeout} ms)`,
            { cause: err.cause ?? err },
          );
        }
        log('%s: %s busy, retrying in %d ms', this.path, what, Math.min(pause, left));
        await sleep(Math.min(pause, left));
        pause = Math.min(pause * 2, 100);
      }
    }
  }

  /** Runs `fn` in one IMMEDIATE transaction (callers serialise their values before). */
  #write(what: string, fn: () => void, paced = false): void {
    this.#check(what);
    this.#checkFile(what, paced);
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
      // A stored row that cannot be read: say where and what was being read.
      if (err instanceof StorageFailure && err.cause !== undefined && !(err.cause instanceof Database.SqliteError)) {
        throw new StorageFailure(`sqlite store '${this.path}': ${what} failed: ${err.message}`, { cause: err.cause });
      }
      throw this.#failure(what, err);
    }
  }

  #check(what: string): void {
    if (this.#closed) throw new StorageFailure(`sqlite store '${this.path}': cannot ${what}: the backend is closed`);
  }

  /**
   * The file must still be the one opened: deleted or replaced (another inode) while open, writes
   * would go to a file nobody can open again. One `stat` (1.5-6 µs measured) per write, except
   * that `paced` writes (engine steps that do not end a run) check at most every FILE_CHECK_MS.
   */
  #checkFile(what: string, paced: boolean): void {
    const file = this.#file;
    if (file === undefined) return;
    if (paced) {
      const now = performance.now();
      if (now - this.#fileCheckedAt < FILE_CHECK_MS) return;
      this.#fileCheckedAt = now;
    }
    let now: { dev: number; ino: number } | undefined;
    try {
      now = statSync(this.path, { throwIfNoEntry: false });
    } catch (err) {
      throw new StorageFailure(`sqlite store '${this.path}': ${what} failed: the database file cannot be checked (${describeValue((err as Error)?.message)})`, { cause: err });
    }
    if (now === undefined) {
      throw new StorageFailure(`sqlite store '${this.path}': ${what} failed: the database file was deleted while the store was open; nothing more is written`);
    }
    if (now.ino !== file.ino || now.dev !== file.dev) {
      throw new StorageFailure(`sqlite store '${this.path}': ${what} failed: the database file was replaced while the store was open; nothing more is written`);
    }
  }

  /** Our own errors pass through; driver (and other) errors become a `StorageFailure` saying what happened. */
  #failure(what: string, err: unknown): Error {
    if (err instanceof AtomflowError) return err;
    const where = `sqlite store '${this.path}'`;
    if (err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY')) {
      return new StorageBusy(`the lock on '${this.path}'`, `${where}: ${what} failed: ${describeSqliteCode(err.code)} (${err.code}: ${err.message})`, { cause: err });
    }
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

function fileIdentity(path: string): { dev: number; ino: number } | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? undefined : { dev: st.dev, ino: st.ino };
}

function holderOf(row: HolderRow): StoredHolder {
  return { owner: row.owner, host: row.owner_host, pid: row.owner_pid, leaseUntil: row.lease_until };
}
