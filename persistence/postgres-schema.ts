/**
 * The PostgreSQL store's schema as forward-only migrations, its SQL, its options and the words for
 * server error codes (options: `postgres-options.ts`; opening: `postgres-migrate.ts`). No driver import here: `postgres.ts` is the one file that talks to `pg`.
 *
 * The tables are SQLite's (`sqlite-schema.ts`): logbooks ⊃ flowdetails ⊃ atomdetails, `seq` for
 * first-stored order (`bigint GENERATED ALWAYS AS IDENTITY`), `uuid text UNIQUE` as the key the
 * foreign keys (ON DELETE CASCADE) and upserts use, JSON kept as `text` (so SQL NULL vs `'null'`
 * and byte-for-byte round trips match SQLite) and times as epoch milliseconds (`double
 * precision`: exact for integer milliseconds, as SQLite's INTEGER columns keep them). Everything
 * lives in one schema (default `atomflow`), named in every statement, so a caller's pool needs no
 * `search_path`. Leases are `timestamptz` and checked against the database clock (`now()`).
 */

/** The key of our row in `schema_version` (as in SQLite). */
export const PG_SCHEMA_APP = 'atomflow';
export const DEFAULT_PG_SCHEMA = 'atomflow';

/** `"name"`, quoted as an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The tables every version of our schema may hold (a schema with others is not ours). */
export const OUR_TABLES: ReadonlySet<string> = new Set(['schema_version', 'logbooks', 'flowdetails', 'atomdetails', 'jobs']);

export const createSchemaVersion = (s: string): string => `
CREATE TABLE IF NOT EXISTS ${s}.schema_version (
  app        text PRIMARY KEY,
  version    integer NOT NULL,
  updated_at double precision NOT NULL
)`;

/**
 * Forward-only migrations: entry i takes the schema (given quoted) from version i to i + 1. Append
 * only; never edit an entry that has shipped. They run in one transaction under an advisory lock.
 */
export const PG_MIGRATIONS: ReadonlyArray<(s: string) => string> = Object.freeze([
  // 1: the three tables.
  (s: string) => `
CREATE TABLE ${s}.logbooks (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uuid       text NOT NULL UNIQUE,
  format     integer NOT NULL,
  name       text NOT NULL,
  meta       text NOT NULL,
  created_at double precision NOT NULL,
  updated_at double precision
);
CREATE TABLE ${s}.flowdetails (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uuid        text NOT NULL UNIQUE,
  parent_uuid text NOT NULL REFERENCES ${s}.logbooks(uuid) ON DELETE CASCADE,
  format      integer NOT NULL,
  name        text NOT NULL,
  state       text,
  meta        text NOT NULL,
  created_at  double precision NOT NULL,
  updated_at  double precision
);
CREATE INDEX flowdetails_parent ON ${s}.flowdetails(parent_uuid, created_at, seq);
CREATE TABLE ${s}.atomdetails (
  seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uuid           text NOT NULL UNIQUE,
  parent_uuid    text NOT NULL REFERENCES ${s}.flowdetails(uuid) ON DELETE CASCADE,
  format         integer NOT NULL,
  name           text NOT NULL,
  kind           text NOT NULL,
  version        text NOT NULL,
  state          text NOT NULL,
  intention      text NOT NULL,
  results        text,
  failure        text,
  revert_results text,
  revert_failure text,
  meta           text NOT NULL,
  created_at     double precision NOT NULL,
  updated_at     double precision
);
CREATE INDEX atomdetails_parent ON ${s}.atomdetails(parent_uuid, seq);
`,
  // 2: run ownership (who holds a flow detail, until when, its fencing token) and listing flow
  // details by state without reading their atoms (SQLite's migration 2).
  (s: string) => `
ALTER TABLE ${s}.flowdetails
  ADD COLUMN owner text,
  ADD COLUMN owner_host text,
  ADD COLUMN owner_pid integer,
  ADD COLUMN lease_until timestamptz,
  ADD COLUMN fence bigint NOT NULL DEFAULT 0;
CREATE INDEX flowdetails_state ON ${s}.flowdetails(state, seq);
`,
  // 3: the jobboard (see postgres-board.ts; SQLite's migration 3): posted runs, who claimed them,
  // until when (database clock), with which token; jobs_token is the board's token sequence (a
  // claim also raises the flow's fence to its token).
  (s: string) => `
CREATE SEQUENCE ${s}.jobs_token;
CREATE TABLE ${s}.jobs (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uuid        text NOT NULL UNIQUE,
  name        text NOT NULL,
  book_uuid   text NOT NULL REFERENCES ${s}.logbooks(uuid) ON DELETE CASCADE,
  flow_uuid   text NOT NULL UNIQUE REFERENCES ${s}.flowdetails(uuid) ON DELETE CASCADE,
  post_key    text UNIQUE,
  details     text NOT NULL,
  priority    integer NOT NULL DEFAULT 0,
  state       text NOT NULL,
  owner       text,
  owner_host  text,
  owner_pid   integer,
  token       bigint NOT NULL DEFAULT 0,
  lease_until timestamptz,
  attempts    integer NOT NULL DEFAULT 0,
  reason      text,
  outcome     text,
  result      text,
  created_at  double precision NOT NULL,
  updated_at  double precision
);
CREATE INDEX jobs_claim ON ${s}.jobs(state, priority DESC, seq);
CREATE INDEX jobs_lease ON ${s}.jobs(state, lease_until);
`,
]);

// ---- SQL ----------------------------------------------------------------------------------

const BOOK_COLS = 'uuid, format, name, meta, created_at, updated_at';
const FLOW_COLS = 'uuid, parent_uuid, format, name, state, meta, created_at, updated_at';
/** The atom columns after uuid and parent_uuid, in `atomParams` order (minus its first two). */
const ATOM_DATA = ['format', 'name', 'kind', 'version', 'state', 'intention', 'results', 'failure', 'revert_results', 'revert_failure', 'meta', 'created_at', 'updated_at'] as const;
const ATOM_DATA_TYPES = ['int', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'float8', 'float8'] as const;
/** The columns every atom read selects, in `atomFromRaw`'s order (rows as arrays). */
const ATOM_RAW_COLS = 'uuid, format, name, kind, version, state, intention, results, failure, revert_results, revert_failure, meta, created_at, updated_at';
const LEASE_MS = `floor(extract(epoch FROM lease_until) * 1000)::float8`;
const CLAIM_COLS = `owner, owner_host, owner_pid, fence::float8 AS token, ${LEASE_MS} AS lease_until`;
const TAKE = `owner = $2, owner_host = $3, owner_pid = $4, lease_until = now() + $5::float8 * interval '1 millisecond', fence = fence + 1`;

/** Up to this many atoms, a commit sends them as VALUES rows (measured ~2× cheaper than unnest here); more go as column arrays. */
export const VALUES_MAX = 8;

/**
 * The atom upsert under the parent uuid `parent`, in the given order (first-stored order is `seq`): keeps `seq` and `created_at` of a stored row; a
 * row owned by another parent is left alone (not returned). The atoms come from `rows` VALUES rows
 * of fourteen parameters each (uuid then ATOM_DATA), or — `rows` undefined — from fourteen column
 * arrays (`unnest`); `first` is the number of the first parameter, `from` a FROM item before them
 * (the commit's flow CTE).
 */
function atomUpsert(s: string, parent: string, first: number, from = '', rows?: number): string {
  const types = ['text', ...ATOM_DATA_TYPES];
  const cols = ['uuid', ...ATOM_DATA];
  const source =
    rows === undefined
      ? `unnest(${types.map((t, k) => `$${first + k}::${t}[]`).join(', ')}) WITH ORDINALITY`
      : `(VALUES ${Array.from({ length: rows }, (_, r) => `(${types.map((t, k) => `$${first + r * types.length + k}::${t}`).join(', ')})`).join(', ')})`;
  return `INSERT INTO ${s}.atomdetails (uuid, parent_uuid, ${ATOM_DATA.join(', ')})
    SELECT u.uuid, ${parent}, ${ATOM_DATA.map((c) => `u.${c}`).join(', ')}
    FROM ${from}${source} AS u(${cols.join(', ')}${rows === undefined ? ', ord' : ''})${rows === undefined ? '\n    ORDER BY u.ord' : ''}
    ON CONFLICT (uuid) DO UPDATE SET ${ATOM_DATA.filter((c) => c !== 'created_at').map((c) => `${c} = excluded.${c}`).join(', ')}
    WHERE atomdetails.parent_uuid = excluded.parent_uuid
    RETURNING uuid`;
}

/** Every statement but the commit's, for one (quoted) schema. */
export function pgStatements(s: string) {
  return {
    upsertBook: `INSERT INTO ${s}.logbooks (${BOOK_COLS}) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (uuid) DO UPDATE SET format = excluded.format, name = excluded.name, meta = excluded.meta, updated_at = excluded.updated_at`,
    upsertFlow: `INSERT INTO ${s}.flowdetails (${FLOW_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (uuid) DO UPDATE SET format = excluded.format, name = excluded.name, state = excluded.state, meta = excluded.meta,
        updated_at = excluded.updated_at
      WHERE flowdetails.parent_uuid = excluded.parent_uuid`,
    /** `$1` the flow uuid, `$2…$15` the column arrays. */
    upsertAtoms: atomUpsert(s, '$1', 2),
    deleteBook: `DELETE FROM ${s}.logbooks WHERE uuid = $1`,
    book: `SELECT ${BOOK_COLS} FROM ${s}.logbooks WHERE uuid = $1`,
    books: `SELECT ${BOOK_COLS} FROM ${s}.logbooks ORDER BY created_at, seq`,
    bookExists: `SELECT 1 FROM ${s}.logbooks WHERE uuid = $1`,
    flow: `SELECT ${FLOW_COLS} FROM ${s}.flowdetails WHERE uuid = $1`,
    flowParent: `SELECT parent_uuid FROM ${s}.flowdetails WHERE uuid = $1`,
    flowsOfBook: `SELECT ${FLOW_COLS} FROM ${s}.flowdetails WHERE parent_uuid = $1 ORDER BY created_at, seq`,
    allFlows: `SELECT ${FLOW_COLS} FROM ${s}.flowdetails ORDER BY created_at, seq`,
    atomParent: `SELECT parent_uuid FROM ${s}.atomdetails WHERE uuid = $1`,
    saveBook: saveBookStatement(s),
    /** After a refused book save: which of its flows is stored under another book, which of its atoms under another flow. */
    foreignFlow: `SELECT uuid, parent_uuid FROM ${s}.flowdetails WHERE uuid = ANY($1::text[]) AND parent_uuid <> $2::text LIMIT 1`,
    foreignAtomOfBook: `SELECT uuid, parent_uuid FROM ${s}.atomdetails WHERE uuid = ANY($1::text[]) AND parent_uuid <> ALL($2::text[]) LIMIT 1`,
    /** After a refused commit: which of its atoms is stored under another flow. */
    foreignAtom: `SELECT uuid, parent_uuid FROM ${s}.atomdetails WHERE uuid = ANY($1::text[]) AND parent_uuid <> $2::text LIMIT 1`,
    atomsOfFlow: `SELECT ${ATOM_RAW_COLS} FROM ${s}.atomdetails WHERE parent_uuid = $1 ORDER BY seq`,
    /** A flow's atoms, and one row of NULLs for a stored flow without atoms; no rows for an unknown flow. */
    atomsOfFlowChecked: `SELECT ${ATOM_RAW_COLS.replace(/(\w+)/g, 'a.$1')} FROM ${s}.flowdetails f
      LEFT JOIN ${s}.atomdetails a ON a.parent_uuid = f.uuid WHERE f.uuid = $1 ORDER BY a.seq`,
    atomsOfBook: `SELECT ${ATOM_RAW_COLS.replace(/(\w+)/g, 'a.$1')}, a.parent_uuid FROM ${s}.atomdetails a JOIN ${s}.flowdetails f ON a.parent_uuid = f.uuid
      WHERE f.parent_uuid = $1 ORDER BY a.seq`,
    allAtoms: `SELECT ${ATOM_RAW_COLS}, parent_uuid FROM ${s}.atomdetails ORDER BY seq`,
    clear: `DELETE FROM ${s}.atomdetails; DELETE FROM ${s}.flowdetails; DELETE FROM ${s}.logbooks`,
    /** After a refused fenced commit: is the flow there, and who holds it now. */
    fenceOf: `SELECT fence::float8 AS fence, owner FROM ${s}.flowdetails WHERE uuid = $1`,
    // ownership: $1 flow uuid, $2 owner, $3 host, $4 pid, $5 lease ms
    claimFree: `UPDATE ${s}.flowdetails SET ${TAKE}
      WHERE uuid = $1 AND (owner IS NULL OR lease_until IS NULL OR lease_until <= now()) RETURNING ${CLAIM_COLS}`,
    /** A takeover of a dead same-host holder: only if nobody claimed since it was seen ($6 the seen token). */
    claimSeen: `UPDATE ${s}.flowdetails SET ${TAKE} WHERE uuid = $1 AND fence = $6 RETURNING ${CLAIM_COLS}`,
    holder: `SELECT ${CLAIM_COLS}, (owner IS NOT NULL AND lease_until > now()) AS held FROM ${s}.flowdetails WHERE uuid = $1`,
    renew: `UPDATE ${s}.flowdetails SET lease_until = now() + $3::float8 * interval '1 millisecond'
      WHERE uuid = $1 AND fence = $2 AND owner IS NOT NULL RETURNING ${CLAIM_COLS}`,
    release: `UPDATE ${s}.flowdetails SET owner = NULL, owner_host = NULL, owner_pid = NULL, lease_until = NULL WHERE uuid = $1 AND fence = $2`,
    // listing and retention
    /**
     * `$1` epoch ms, `$2` states: removes those flow details last updated before `$1`, and the books
     * this leaves empty, in one statement. Answers how many flow details went.
     */
    purge: `WITH gone AS (
        DELETE FROM ${s}.flowdetails WHERE coalesce(state, 'PENDING') = ANY($2::text[]) AND coalesce(updated_at, created_at) < $1::float8
        RETURNING uuid, parent_uuid
      ), books AS (
        DELETE FROM ${s}.logbooks l WHERE l.uuid IN (SELECT parent_uuid FROM gone)
          AND NOT EXISTS (SELECT 1 FROM ${s}.flowdetails f WHERE f.parent_uuid = l.uuid AND f.uuid NOT IN (SELECT uuid FROM gone))
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM gone)::int AS n`,
  } as const;
}

export type PgStatementName = keyof ReturnType<typeof pgStatements>;

/**
 * `findFlows` with the filters given (one text per combination, so that a generic plan can use the
 * state index): states `= ANY($1)`, then the book uuid, then the limit, numbered in that order.
 */
export function findFlowsStatement(s: string, by: { readonly state: boolean; readonly book: boolean; readonly limit: boolean }): string {
  const where: string[] = [];
  let n = 0;
  // 'PENDING' also matches a flow detail that never ran (state NULL), as in every backend.
  if (by.state) where.push(`(state = ANY($${++n}::text[]) OR (state IS NULL AND 'PENDING' = ANY($${n}::text[])))`);
  if (by.book) where.push(`parent_uuid = $${++n}::text`);
  return `SELECT ${FLOW_COLS} FROM ${s}.flowdetails${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, seq${
    by.limit ? ` LIMIT $${++n}::bigint` : ''
  }`;
}

/** Which parts a commit carries (one statement text per combination). */
export interface CommitShape {
  readonly flow: boolean;
  /** How many atoms (0: none); up to VALUES_MAX they are VALUES rows, beyond column arrays. */
  readonly atoms: number;
  readonly fenced: boolean;
}

/** The marker of the error a commit raises when an atom it upserts belongs to another flow. */
export const FOREIGN_ATOM = 'atomflow: foreign atom detail';
/** The same for a flow detail stored in another book (`saveBookStatement`). */
export const FOREIGN_FLOW = 'atomflow: foreign flow detail';

const FLOW_DATA = ['format', 'name', 'state', 'meta', 'created_at', 'updated_at'] as const;
const FLOW_DATA_TYPES = ['int', 'text', 'text', 'text', 'float8', 'float8'] as const;

/**
 * `saveLogBook` as ONE statement: the book upserted from `$1…$6`; its flow details from seven
 * column arrays (`$7…$13`: uuid then FLOW_DATA), each only if not stored under another book; the
 * atom details of every flow from fifteen column arrays (`$14…$28`: uuid, parent uuid, ATOM_DATA),
 * only under the flows just written and not stored under another flow. A flow or atom left alone
 * makes the final SELECT raise (FOREIGN_FLOW / FOREIGN_ATOM, SQLSTATE 22P02): nothing is written.
 * (Foreign keys are checked at the end of the statement, after the book and flows are in.)
 */
export function saveBookStatement(s: string): string {
  const flowArrays = ['text', ...FLOW_DATA_TYPES].map((t, k) => `$${7 + k}::${t}[]`).join(', ');
  const atomArrays = ['text', 'text', ...ATOM_DATA_TYPES].map((t, k) => `$${14 + k}::${t}[]`).join(', ');
  return `WITH b AS (
  INSERT INTO ${s}.logbooks (${BOOK_COLS}) VALUES ($1::text, $2::int, $3::text, $4::text, $5::float8, $6::float8)
  ON CONFLICT (uuid) DO UPDATE SET format = excluded.format, name = excluded.name, meta = excluded.meta, updated_at = excluded.updated_at
  RETURNING uuid
), f AS (
  INSERT INTO ${s}.flowdetails (uuid, parent_uuid, ${FLOW_DATA.join(', ')})
  SELECT u.uuid, b.uuid, ${FLOW_DATA.map((c) => `u.${c}`).join(', ')} FROM b, unnest(${flowArrays}) WITH ORDINALITY AS u(uuid, ${FLOW_DATA.join(', ')}, ord)
  ORDER BY u.ord
  ON CONFLICT (uuid) DO UPDATE SET format = excluded.format, name = excluded.name, state = excluded.state, meta = excluded.meta, updated_at = excluded.updated_at
  WHERE flowdetails.parent_uuid = excluded.parent_uuid
  RETURNING uuid
), a AS (
  INSERT INTO ${s}.atomdetails (uuid, parent_uuid, ${ATOM_DATA.join(', ')})
  SELECT u.uuid, u.parent_uuid, ${ATOM_DATA.map((c) => `u.${c}`).join(', ')}
  FROM unnest(${atomArrays}) WITH ORDINALITY AS u(uuid, parent_uuid, ${ATOM_DATA.join(', ')}, ord) JOIN f ON f.uuid = u.parent_uuid
  ORDER BY u.ord
  ON CONFLICT (uuid) DO UPDATE SET ${ATOM_DATA.filter((c) => c !== 'created_at').map((c) => `${c} = excluded.${c}`).join(', ')}
  WHERE atomdetails.parent_uuid = excluded.parent_uuid
  RETURNING 1
)
SELECT CASE
  WHEN n.f < cardinality($7::text[]) THEN ('${FOREIGN_FLOW}: ' || n.f)::int
  WHEN n.a < cardinality($14::text[]) THEN ('${FOREIGN_ATOM}: ' || n.a)::int
END AS bad
FROM (SELECT (SELECT count(*) FROM f)::int AS f, (SELECT count(*) FROM a)::int AS a) AS n`;
}

/** `saveBookStatement`'s parameters after the book's: flow columns (7 arrays), then atom columns (15 arrays). */
export function bookColumns(
  flows: ReadonlyArray<ReadonlyArray<string | number | null>>,
  atoms: ReadonlyArray<ReadonlyArray<string | number | null>>,
): Array<Array<string | number | null>> {
  const out: Array<Array<string | number | null>> = [];
  // flowParams rows: uuid, parent, format, name, state, meta, created_at, updated_at (parent dropped)
  for (const c of [0, 2, 3, 4, 5, 6, 7]) out.push(flows.map((r) => r[c]!));
  // atomParams rows: uuid, parent, then ATOM_DATA
  for (let c = 0; c < 15; c++) out.push(atoms.map((r) => r[c]!));
  return out;
}

/**
 * The engine step as ONE statement (one round trip, one implicit transaction; all CTEs see one
 * snapshot): `f` updates the flow row (or, without flow fields, finds it — locking it when fenced,
 * so that a concurrent claim waits or wins) only if it exists and — fenced — its token is still
 * `$fence`; `a` upserts the atoms from column arrays only when `f` found the row. An atom stored
 * under another flow is left alone by the upsert (its arbiter is the uuid index, whatever the
 * plan); the final SELECT then raises an error (`FOREIGN_ATOM`, SQLSTATE 22P02), which rolls the
 * whole statement back. Otherwise the counts tell the outcome: f = 1 written; f = 0 unknown flow or
 * fenced out (the caller reads once to tell which).
 *
 * Parameters: `$1` flow uuid; with flow: `$2…$6` format, name, state, meta, updated_at; then the
 * fence if fenced; then the atoms: fourteen per atom (`atomValues`) up to VALUES_MAX, else the
 * fourteen column arrays (`atomColumns`).
 */
export function commitStatement(s: string, shape: CommitShape): string {
  let n = 1;
  const flowSet = shape.flow ? `format = $2::int, name = $3::text, state = $4::text, meta = $5::text, updated_at = $6::float8` : '';
  if (shape.flow) n = 6;
  const fence = shape.fenced ? ` AND fence = $${++n}::bigint` : '';
  const first = n + 1;
  const f = shape.flow
    ? `f AS (UPDATE ${s}.flowdetails SET ${flowSet} WHERE uuid = $1::text${fence} RETURNING uuid)`
    : `f AS (SELECT uuid FROM ${s}.flowdetails WHERE uuid = $1::text${fence}${shape.fenced ? ' FOR NO KEY UPDATE' : ''})`;
  if (shape.atoms === 0) return `WITH ${f}\nSELECT (SELECT count(*) FROM f)::int AS f`;
  const asValues = shape.atoms <= VALUES_MAX;
  const count = asValues ? String(shape.atoms) : `cardinality($${first}::text[])`;
  return `WITH ${f},
a AS (${atomUpsert(s, 'f.uuid', first, 'f, ', asValues ? shape.atoms : undefined)})
SELECT n.f, CASE WHEN n.f = 1 AND n.a < ${count} THEN ('${FOREIGN_ATOM}: ' || n.a)::int END AS bad
FROM (SELECT (SELECT count(*) FROM f)::int AS f, (SELECT count(*) FROM a)::int AS a) AS n`;
}

/** The atom rows' parameters as VALUES rows: fourteen per atom (`atomParams` rows without their parent). */
export function atomValues(rows: ReadonlyArray<ReadonlyArray<string | number | null>>): Array<string | number | null> {
  const out: Array<string | number | null> = [];
  for (const row of rows) {
    out.push(row[0]!);
    for (let c = 2; c < 15; c++) out.push(row[c]!);
  }
  return out;
}

/** The atom rows' columns as fourteen arrays (uuid first; `atomParams` rows without their parent). */
export function atomColumns(rows: ReadonlyArray<ReadonlyArray<string | number | null>>): Array<Array<string | number | null>> {
  const cols: Array<Array<string | number | null>> = Array.from({ length: 14 }, () => new Array<string | number | null>(rows.length));
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    cols[0]![r] = row[0]!;
    for (let c = 1; c < 14; c++) cols[c]![r] = row[c + 1]!;
  }
  return cols;
}

// ---- errors -------------------------------------------------------------------------------

const CLASS_MEANINGS: Readonly<Record<string, string>> = {
  '08': 'the connection to the server failed',
  '53': 'the server is out of resources (disk, memory or connections)',
  '57': 'the server stopped the operation (shut down, restarted or the connection was terminated)',
  '40': 'the transaction was rolled back (serialization failure or deadlock)',
  '42': 'the SQL was refused (a missing table or a permission)',
  '23': 'a constraint was violated',
  '25': 'the transaction is in a bad state',
  '28': 'authentication failed',
  '3D': 'the database does not exist',
  '58': 'the server had a system error (I/O)',
  XX: 'the server reported an internal error (corruption?)',
};

const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'ENETUNREACH', 'EAI_AGAIN']);

/** What a server or socket error code means, in words. */
export function describePgCode(code: string | undefined): string {
  if (code === undefined) return 'the driver reported an error';
  if (SOCKET_CODES.has(code)) return 'the connection to the server failed';
  return CLASS_MEANINGS[code.slice(0, 2)] ?? 'the server reported an error';
}

/** Serialization failure or deadlock: the statement did nothing and may be retried. */
export function isRetryable(code: string | undefined): boolean {
  return code === '40001' || code === '40P01';
}
