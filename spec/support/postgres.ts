/**
 * PostgreSQL for the specs: the server from `ATOMFLOW_PG_URL` (default the local test database),
 * one pool per test process made on first use, and fresh schemas (`af_<purpose>_<pid>_<random>`)
 * that are all dropped, and the pool ended, when the process's tests are done.
 */
import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresBackend, type Durability } from '../../index.js';

export const PG_URL = process.env['ATOMFLOW_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

let pool: pg.Pool | undefined;
const schemas = new Set<string>();

/** The process's shared pool (idle connection errors are logged, not thrown). */
export function pgPool(): pg.Pool {
  if (pool === undefined) {
    // Tests need no fsync per commit: the pool's connections start with synchronous_commit off
    // (and generic plans, as the pools openBackend makes).
    pool = new pg.Pool({ connectionString: PG_URL, max: 4, options: '-c synchronous_commit=off -c plan_cache_mode=force_generic_plan' });
    pool.on('error', () => {}); // a connection a test terminated while idle
  }
  return pool;
}

/** A new schema name, remembered for dropping at the end (the backend creates it on first use). */
export function freshSchema(purpose: string): string {
  const name = `af_${purpose}_${process.pid}_${randomBytes(4).toString('hex')}`;
  schemas.add(name);
  return name;
}

/** A URI for a fresh schema (for child processes and openBackend). */
export function freshUri(purpose: string, query = ''): string {
  return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${freshSchema(purpose)}${query}`;
}

/** A backend on the shared pool and a fresh schema (the pool's own synchronous_commit unless `durability` is given). */
export function pgBackend(purpose: string, durability?: Durability): PostgresBackend {
  return new PostgresBackend({ pool: pgPool(), schema: freshSchema(purpose), ...(durability ? { durability } : {}) });
}

export async function dropSchema(name: string): Promise<void> {
  await pgPool().query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  schemas.delete(name);
}

after(async () => {
  if (pool === undefined && schemas.size === 0) return;
  for (const name of [...schemas]) await dropSchema(name); // also schemas only child processes used
  const p = pool;
  pool = undefined;
  await p?.end();
});
