/**
 * The SQLite store's schema as forward-only migrations and its SQL (the row codec is in `rows.ts`,
 * shared with PostgreSQL). No driver import here: `sqlite.ts` is the one file that talks to better-sqlite3.
 *
 * Columns follow TaskFlow's SQL schema (logbooks ⊃ flowdetails ⊃ atomdetails, `parent_uuid`
 * foreign keys with ON DELETE CASCADE, JSON text columns) with our fields. Each table has an
 * explicit `seq INTEGER PRIMARY KEY` (SQLite's rowid, made explicit so VACUUM keeps it) that gives
 * first-stored order, and `uuid TEXT NOT NULL UNIQUE` as the record's key (what the foreign keys
 * and upserts use).
 *
 * JSON columns hold JSON text for a defined value and SQL NULL for `undefined`, so a `null`
 * result (`'null'`) and no result (NULL) stay apart.
 */

import type { Params } from './rows.js';

/** Marks the file as ours in its header (`PRAGMA application_id`): 'AFLW'. */
export const APPLICATION_ID = 0x41464c57;
/** The key of our row in `schema_version`. */
export const SCHEMA_APP = 'atomflow';

export const CREATE_SCHEMA_VERSION = `
CREATE TABLE IF NOT EXISTS schema_version (
  app        TEXT PRIMARY KEY NOT NULL,
  version    INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
)`;

/**
 * Forward-only migrations: entry i takes the schema from version i to version i + 1. Append only;
 * never edit an entry that has shipped.
 */
export const MIGRATIONS: readonly string[] = Object.freeze([
  // 1: the three tables.
  `
CREATE TABLE logbooks (
  seq        INTEGER PRIMARY KEY,
  uuid       TEXT NOT NULL UNIQUE,
  format     INTEGER NOT NULL,
  name       TEXT NOT NULL,
  meta       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER
);
CREATE TABLE flowdetails (
  seq         INTEGER PRIMARY KEY,
  uuid        TEXT NOT NULL UNIQUE,
  parent_uuid TEXT NOT NULL REFERENCES logbooks(uuid) ON DELETE CASCADE,
  format      INTEGER NOT NULL,
  name        TEXT NOT NULL,
  state       TEXT,
  meta        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER
);
CREATE INDEX flowdetails_parent ON flowdetails(parent_uuid, created_at, seq);
CREATE TABLE atomdetails (
  seq            INTEGER PRIMARY KEY,
  uuid           TEXT NOT NULL UNIQUE,
  parent_uuid    TEXT NOT NULL REFERENCES flowdetails(uuid) ON DELETE CASCADE,
  format         INTEGER NOT NULL,
  name           TEXT NOT NULL,
  kind           TEXT NOT NULL,
  version        TEXT NOT NULL,
  state          TEXT NOT NULL,
  intention      TEXT NOT NULL,
  results        TEXT,
  failure        TEXT,
  revert_results TEXT,
  revert_failure TEXT,
  meta           TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER
);
CREATE INDEX atomdetails_parent ON atomdetails(parent_uuid, seq);
`,
  // 2: run ownership (who holds a flow detail, until when, and its fencing token) and listing
  // flow details by state without reading their atoms.
  `
ALTER TABLE flowdetails ADD COLUMN owner TEXT;
ALTER TABLE flowdetails ADD COLUMN owner_host TEXT;
ALTER TABLE flowdetails ADD COLUMN owner_pid INTEGER;
ALTER TABLE flowdetails ADD COLUMN lease_until INTEGER;
ALTER TABLE flowdetails ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
CREATE INDEX flowdetails_state ON flowdetails(state, seq);
`,
  // 3: the jobboard (see persistence/sqlite-board.ts): posted runs, who claimed them, until when,
  // with which token; job_tokens is the board's token counter (a claim also raises the flow's fence).
  `
CREATE TABLE jobs (
  seq         INTEGER PRIMARY KEY,
  uuid        TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  book_uuid   TEXT NOT NULL REFERENCES logbooks(uuid) ON DELETE CASCADE,
  flow_uuid   TEXT NOT NULL UNIQUE REFERENCES flowdetails(uuid) ON DELETE CASCADE,
  post_key    TEXT UNIQUE,
  details     TEXT NOT NULL,
  priority    INTEGER NOT NULL DEFAULT 0,
  state       TEXT NOT NULL,
  owner       TEXT,
  owner_host  TEXT,
  owner_pid   INTEGER,
  token       INTEGER NOT NULL DEFAULT 0,
  lease_until INTEGER,
  attempts    INTEGER NOT NULL DEFAULT 0,
  reason      TEXT,
  outcome     TEXT,
  result      TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER
);
CREATE INDEX jobs_claim ON jobs(state, priority DESC, seq);
CREATE INDEX jobs_lease ON jobs(state, lease_until);
CREATE TABLE job_tokens (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
);
INSERT INTO job_tokens (id, value) VALUES (1, 0);
`,
]);

// ---- SQL ----------------------------------------------------------------------------------

const BOOK_COLS = 'uuid, format, name, meta, created_at, updated_at';
const FLOW_COLS = 'uuid, parent_uuid, format, name, state, meta, created_at, updated_at';
const ATOM_COLS =
  'uuid, parent_uuid, format, name, kind, version, state, intention, results, failure, revert_results, revert_failure, meta, created_at, updated_at';

/**
 * The columns every atom read selects, in `atomFromRaw`'s order (rows come as arrays); reads
 * spanning several flows add the parent uuid after them (at ATOM_PARENT).
 */
const ATOM_RAW_COLS =
  'uuid, format, name, kind, version, state, intention, results, failure, revert_results, revert_failure, meta, created_at, updated_at';


/**
 * `findFlows()` as SQL with its parameters: flow rows (oldest first) by state, book and limit;
 * 'PENDING' also matches a flow detail that never ran (state NULL). Uses flowdetails_state.
 */
export function findFlowsSql(states: readonly string[] | undefined, bookUuid: string | undefined, limit: number | undefined): { sql: string; params: Params } {
  const where: string[] = [];
  const params: Params = [];
  if (states !== undefined) {
    const named = states.length === 0 ? '0' : `state IN (${states.map(() => '?').join(', ')})`;
    params.push(...states);
    where.push(states.includes('PENDING') ? `(${named} OR state IS NULL)` : named);
  }
  if (bookUuid !== undefined) {
    where.push('parent_uuid = ?');
    params.push(bookUuid);
  }
  let sql = `SELECT ${FLOW_COLS} FROM flowdetails${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, seq`;
  if (limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(limit);
  }
  return { sql, params };
}

/** Upserts keep `seq` and `created_at` (first store); a row owned by another parent is left alone (0 changes). */
export const SQL = {
  upsertBook: `INSERT INTO logbooks (${BOOK_COLS}) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT(uuid) DO UPDATE SET format = excluded.format, name = excluded.name, meta = excluded.meta,
      updated_at = excluded.updated_at`,
  upsertFlow: `INSERT INTO flowdetails (${FLOW_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(uuid) DO UPDATE SET format = excluded.format, name = excluded.name, state = excluded.state,
      meta = excluded.meta, updated_at = excluded.updated_at
    WHERE flowdetails.parent_uuid = excluded.parent_uuid`,
  updateFlow: `UPDATE flowdetails SET format = ?, name = ?, state = ?, meta = ?, updated_at = ? WHERE uuid = ?`,
  /** The fenced commit's flow write: no row changes unless the stored token is the writer's. */
  updateFlowFenced: `UPDATE flowdetails SET format = ?, name = ?, state = ?, meta = ?, updated_at = ? WHERE uuid = ? AND fence = ?`,
  flowFence: 'SELECT fence FROM flowdetails WHERE uuid = ?',
  holder: 'SELECT owner, owner_host, owner_pid, lease_until, fence FROM flowdetails WHERE uuid = ?',
  claim: 'UPDATE flowdetails SET owner = ?, owner_host = ?, owner_pid = ?, lease_until = ?, fence = ? WHERE uuid = ?',
  renew: `UPDATE flowdetails SET lease_until = ? WHERE uuid = ? AND fence = ? AND owner IS NOT NULL
    RETURNING owner, owner_host, owner_pid, lease_until, fence`,
  release: 'UPDATE flowdetails SET owner = NULL, owner_host = NULL, owner_pid = NULL, lease_until = NULL WHERE uuid = ? AND fence = ?',
  upsertAtom: `INSERT INTO atomdetails (${ATOM_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(uuid) DO UPDATE SET format = excluded.format, name = excluded.name, kind = excluded.kind,
      version = excluded.version, state = excluded.state, intention = excluded.intention, results = excluded.results,
      failure = excluded.failure, revert_results = excluded.revert_results, revert_failure = excluded.revert_failure,
      meta = excluded.meta, updated_at = excluded.updated_at
    WHERE atomdetails.parent_uuid = excluded.parent_uuid`,
  /** The commit's fast path: an atom row the flow already holds (no insert attempt, no key checks). */
  updateAtom: `UPDATE atomdetails SET format = ?, name = ?, kind = ?, version = ?, state = ?, intention = ?, results = ?,
      failure = ?, revert_results = ?, revert_failure = ?, meta = ?, updated_at = ?
    WHERE uuid = ? AND parent_uuid = ?`,
  deleteBook: 'DELETE FROM logbooks WHERE uuid = ?',
  book: `SELECT ${BOOK_COLS} FROM logbooks WHERE uuid = ?`,
  books: `SELECT ${BOOK_COLS} FROM logbooks ORDER BY created_at, seq`,
  bookExists: 'SELECT 1 FROM logbooks WHERE uuid = ?',
  flow: `SELECT ${FLOW_COLS} FROM flowdetails WHERE uuid = ?`,
  flowParent: 'SELECT parent_uuid FROM flowdetails WHERE uuid = ?',
  flowsOfBook: `SELECT ${FLOW_COLS} FROM flowdetails WHERE parent_uuid = ? ORDER BY created_at, seq`,
  allFlows: `SELECT ${FLOW_COLS} FROM flowdetails ORDER BY created_at, seq`,
  atomParent: 'SELECT parent_uuid FROM atomdetails WHERE uuid = ?',
  atomsOfFlow: `SELECT ${ATOM_RAW_COLS} FROM atomdetails WHERE parent_uuid = ? ORDER BY seq`,
  atomsOfBook: `SELECT ${ATOM_RAW_COLS.replace(/(\w+)/g, 'a.$1')}, a.parent_uuid FROM atomdetails a JOIN flowdetails f ON a.parent_uuid = f.uuid
    WHERE f.parent_uuid = ? ORDER BY a.seq`,
  allAtoms: `SELECT ${ATOM_RAW_COLS}, parent_uuid FROM atomdetails ORDER BY seq`,
  /** `purge()`: flow details to remove (their atoms go with them: ON DELETE CASCADE). */
  purgeCandidates: `SELECT uuid, parent_uuid, state FROM flowdetails WHERE COALESCE(updated_at, created_at) < ?`,
  deleteFlow: 'DELETE FROM flowdetails WHERE uuid = ?',
  deleteBookIfEmpty: 'DELETE FROM logbooks WHERE uuid = ? AND NOT EXISTS (SELECT 1 FROM flowdetails WHERE parent_uuid = ?)',
  clear: 'DELETE FROM atomdetails; DELETE FROM flowdetails; DELETE FROM logbooks;',
} as const;

/** A flow detail's ownership columns (migration 2). */
export interface HolderRow {
  owner: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  lease_until: number | null;
  fence: number;
}

// The row codec lives in rows.ts (shared with the PostgreSQL backend); re-exported for sqlite.ts.
export {
  ATOM_PARENT,
  atomFromRaw,
  atomParams,
  atomUpdateParams,
  bookFromRow,
  bookParams,
  flowFromRow,
  flowParams,
  flowUpdateParams,
  withAtoms,
  withFlows,
  type BookRow,
  type FlowRow,
  type Params,
} from './rows.js';
