/**
 * The PostgreSQL backend's options (validated once into a frozen form) and its connection URI
 * (`postgres://user@host:5432/db?schema=…&durability=…&max=…`). No driver import here.
 */
import { InvariantViolation } from '../lib/errors.js';
import { DEFAULT_PG_SCHEMA } from './postgres-schema.js';
import type { Durability } from './sqlite-options.js';

export interface PostgresBackendOptions {
  /**
   * `'full'` (default): a commit returns once the server has flushed it (`synchronous_commit =
   * on`). `'normal'`: `synchronous_commit = off` — a server crash may lose the last commits
   * (about three WAL writer delays); a crash of this process loses nothing.
   */
  readonly durability?: Durability;
  /** The schema holding the tables (created if missing). Default `atomflow`. */
  readonly schema?: string;
  /** Connections in the pool the backend opens (default 4). Not used with a caller's pool. */
  readonly max?: number;
}

export interface ResolvedPostgresOptions {
  readonly durability: Durability;
  /** Whether `durability` was given (with a caller's pool, only then is the session setting made). */
  readonly durabilityGiven: boolean;
  readonly schema: string;
  readonly max: number;
}

const PG_OPTION_KEYS: ReadonlySet<string> = new Set(['durability', 'schema', 'max']);

/** Validates options once into a frozen form; unknown keys and bad values are `InvariantViolation`s naming the option. */
export function resolvePostgresOptions(options: unknown, extraKeys: readonly string[] = []): ResolvedPostgresOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvariantViolation(`postgres backend options must be an object, got ${options === null ? 'null' : typeof options}`, { option: 'options' });
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!PG_OPTION_KEYS.has(key) && !extraKeys.includes(key)) {
      throw new InvariantViolation(`unknown postgres backend option '${key}' (known: ${[...PG_OPTION_KEYS, ...extraKeys].join(', ')})`, { option: key });
    }
  }
  const durability = o['durability'] ?? 'full';
  if (durability !== 'normal' && durability !== 'full') {
    throw new InvariantViolation(`option 'durability' must be 'normal' or 'full', got ${JSON.stringify(durability)}`, { option: 'durability' });
  }
  const schema = o['schema'] ?? DEFAULT_PG_SCHEMA;
  if (typeof schema !== 'string' || schema === '' || Buffer.byteLength(schema) > 63 || schema.includes('\0')) {
    throw new InvariantViolation(`option 'schema' must be a PostgreSQL schema name (1 to 63 bytes), got ${JSON.stringify(schema)}`, { option: 'schema' });
  }
  const max = o['max'] ?? 4;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    throw new InvariantViolation(`option 'max' must be a positive integer (pool size), got ${String(max)}`, { option: 'max' });
  }
  return Object.freeze({ durability, durabilityGiven: o['durability'] !== undefined, schema, max });
}


/** `postgres://…?schema=x&durability=normal&max=4` → the connection string for `pg` (our parameters taken out) and the options. */
export function splitUri(uri: string, options: PostgresBackendOptions | undefined) {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw new InvariantViolation(`cannot open backend '${uri}': not a valid postgres URI`, { option: 'uri', cause: err });
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new InvariantViolation(`cannot open backend '${uri}': not a postgres:// URI`, { option: 'uri' });
  const fromUri: Record<string, unknown> = {};
  for (const key of ['schema', 'durability', 'max'] as const) {
    const all = url.searchParams.getAll(key);
    if (all.length > 1) throw new InvariantViolation(`cannot open backend '${uri}': query parameter '${key}' is given twice`, { option: key });
    if (all.length === 1) fromUri[key] = key === 'max' && /^\d+$/.test(all[0]!) ? Number(all[0]) : all[0];
    url.searchParams.delete(key);
  }
  const startup = url.searchParams.get('options') ?? undefined;
  url.searchParams.delete('options');
  resolvePostgresOptions(options);
  const merged: Record<string, unknown> = { ...fromUri };
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    if (key in fromUri && fromUri[key] !== value) {
      throw new InvariantViolation(`cannot open backend '${uri}': option '${key}' is ${JSON.stringify(value)} but the URI says ${JSON.stringify(fromUri[key])}`, { option: key });
    }
    merged[key] = value;
  }
  return { connectionString: url.toString(), opts: resolvePostgresOptions(merged), startup };
}

