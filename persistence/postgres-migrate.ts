/**
 * Opening a PostgreSQL store: the schema created if missing, refused when it is not ours or newer
 * than this atomflow, and the missing forward-only migrations applied. Driver-free: it runs its
 * SQL through the function it is given, inside the caller's transaction (which holds the schema's
 * advisory lock first, so concurrent openers migrate once).
 */
import { StorageFailure } from '../lib/errors.js';
import { OUR_TABLES, PG_MIGRATIONS, PG_SCHEMA_APP, createSchemaVersion, quoteIdent } from './postgres-schema.js';

/** Runs one SQL text (with parameters) and answers its rows. */
export type SqlRunner = (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }>;

/** The advisory lock of a schema's migrations (held until the transaction ends). */
const LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('atomflow'), hashtext($1))";

/** Takes the lock, checks and migrates `schema`; answers the version it was at. */
export async function migrateSchema(run: SqlRunner, schema: string): Promise<number> {
  const s = quoteIdent(schema);
  await run(LOCK_SQL, [schema]);
  await run(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  const tables = (
    (await run("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')", [schema]))
      .rows as Array<{ relname: string }>
  ).map((r) => r.relname);
  const where = `postgres schema '${schema}'`;
  const strangers = tables.filter((t) => !OUR_TABLES.has(t));
  let from = 0;
  if (tables.includes('schema_version')) {
    let row: { version: unknown } | undefined;
    try {
      row = (await run(`SELECT version FROM ${s}.schema_version WHERE app = $1`, [PG_SCHEMA_APP])).rows[0] as { version: unknown } | undefined;
    } catch (err) {
      throw new StorageFailure(`${where} is not an atomflow store: its schema_version table is not atomflow's`, { cause: err });
    }
    if (typeof row?.version !== 'number') throw new StorageFailure(`${where} is not an atomflow store: its schema_version table has no '${PG_SCHEMA_APP}' row`);
    from = row.version;
  } else if (tables.length > 0) {
    throw new StorageFailure(`${where} is not an atomflow store: it has tables [${tables.join(', ')}] and no schema_version table`);
  }
  if (strangers.length > 0) throw new StorageFailure(`${where} is not an atomflow store: it holds tables that are not atomflow's [${strangers.join(', ')}]`);
  if (from > PG_MIGRATIONS.length) {
    throw new StorageFailure(`${where}: written by a newer atomflow (schema version ${from}; this version knows up to ${PG_MIGRATIONS.length}); upgrade atomflow to open it`);
  }
  if (from < PG_MIGRATIONS.length) {
    await run(createSchemaVersion(s));
    for (let v = from; v < PG_MIGRATIONS.length; v++) await run(PG_MIGRATIONS[v]!(s));
    await run(
      `INSERT INTO ${s}.schema_version (app, version, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (app) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      [PG_SCHEMA_APP, PG_MIGRATIONS.length, Date.now()],
    );
  }
  return from;
}
