/**
 * Opens a backend from a connection URI (TaskFlow's `backends.fetch({'connection': uri})`).
 *
 * | URI                                   | backend                                   |
 * |---------------------------------------|-------------------------------------------|
 * | `memory://`                           | `MemoryBackend`                           |
 * | `sqlite:///abs/path.db`               | `SqliteBackend` on the file `/abs/path.db` |
 * | `sqlite::memory:`                     | `SqliteBackend` on a private in-memory db |
 * | `postgres://user@host:5432/db`        | `PostgresBackend` (also `postgresql://`)  |
 *
 * A sqlite URI takes three slashes and an absolute path (percent-encoded where needed, e.g.
 * `%20` for a space); `sqlite://relative.db` is refused, because its meaning would depend on the
 * working directory. Options go in `options` or in the query: `sqlite:///x.db?durability=full`
 * (`durability`: 'normal' | 'full'; `busyTimeout`: ms; `locking`: 'shared' | 'exclusive'). A postgres
 * URI takes `schema` (default `atomflow`), `durability` (default 'full') and `max` (pool size,
 * default 4); its other parameters go to `pg`. `pg` is loaded only for a postgres URI. Other
 * schemes fail.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describeValue } from '../lib/describe.js';
import { InvariantViolation, StorageBusy, StorageFailure } from '../lib/errors.js';
import type { Backend } from './backend.js';
import { MemoryBackend } from './memory.js';
import type { PostgresBackendOptions } from './postgres-options.js';
import { resolveSqliteOptions, type SqliteBackendOptions } from './sqlite-options.js';
import { OPEN_WITHOUT_WAITING, SqliteBackend } from './sqlite.js';

export type OpenBackendOptions = SqliteBackendOptions | PostgresBackendOptions;

const SUPPORTED = 'memory://, sqlite:///absolute/path.db, sqlite::memory:, postgres://user@host:port/db';

/** decodeURIComponent, with a malformed escape (`%ZZ`) refused as bad input naming the URI. */
function decode(uri: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    throw new InvariantViolation(`cannot open backend ${describeValue(uri)}: malformed percent-encoding in ${describeValue(text)}`, { option: 'uri', cause: err });
  }
}

/** A SqliteBackend, waiting for another connection's lock asynchronously (up to busyTimeout). */
async function openSqlite(path: string, options: SqliteBackendOptions): Promise<SqliteBackend> {
  const total = resolveSqliteOptions(options).busyTimeout;
  const started = Date.now();
  let pause = 2;
  for (;;) {
    try {
      return new SqliteBackend(path, { ...options, [OPEN_WITHOUT_WAITING]: true } as SqliteBackendOptions);
    } catch (err) {
      const busy = err instanceof StorageBusy || (err instanceof StorageFailure && (err.cause as { code?: unknown } | undefined)?.code === 'SQLITE_BUSY');
      if (!busy || Date.now() - started >= total) throw err;
      await sleep(Math.min(pause, Math.max(1, total - (Date.now() - started))));
      pause = Math.min(pause * 2, 100);
    }
  }
}

function refuse(uri: string, why: string): never {
  throw new InvariantViolation(`cannot open backend '${uri}': ${why}; supported: ${SUPPORTED}`, { option: 'uri' });
}

/** `?durability=full&busyTimeout=100` → options (unknown or repeated parameters refused). */
function queryOptions(uri: string, query: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (query === '') return out;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const key = decode(uri, eq < 0 ? part : part.slice(0, eq));
    const value = decode(uri, eq < 0 ? '' : part.slice(eq + 1));
    if (key in out) refuse(uri, `query parameter '${key}' is given twice`);
    if (key === 'durability' || key === 'locking') out[key] = value;
    else if (key === 'busyTimeout') out[key] = /^\d+$/.test(value) ? Number(value) : value;
    else throw new InvariantViolation(`cannot open backend '${uri}': unknown query parameter '${key}' (known: durability, busyTimeout, locking)`, { option: key });
  }
  return out;
}

/** Options from the URI and from `options`, which must agree where both are given. */
function mergeOptions(uri: string, fromUri: Record<string, unknown>, options: OpenBackendOptions | undefined): SqliteBackendOptions {
  resolveSqliteOptions(options); // unknown keys, bad values
  const merged: Record<string, unknown> = { ...fromUri };
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    if (key in fromUri && fromUri[key] !== value) {
      throw new InvariantViolation(
        `cannot open backend '${uri}': option '${key}' is ${describeValue(value)} but the URI says ${describeValue(fromUri[key])}`,
        { option: key },
      );
    }
    merged[key] = value;
  }
  resolveSqliteOptions(merged); // validates the URI's values too
  return merged as SqliteBackendOptions;
}

export async function openBackend(uri: string, options?: OpenBackendOptions): Promise<Backend> {
  if (typeof uri !== 'string') throw new InvariantViolation(`backend URI must be a string, got ${describeValue(uri)}`, { option: 'uri' });
  if (uri.includes('\0')) throw new InvariantViolation(`backend URI must not contain NUL characters: ${describeValue(uri)}`, { option: 'uri' });
  const q = uri.indexOf('?');
  const base = q < 0 ? uri : uri.slice(0, q);
  const query = q < 0 ? '' : uri.slice(q + 1);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(base)?.[1]?.toLowerCase();
  if (scheme === undefined) refuse(uri, 'no scheme');

  switch (scheme) {
    case 'memory': {
      if (base !== 'memory://' && base !== 'memory:') refuse(uri, "a memory URI is just 'memory://'");
      mergeOptions(uri, queryOptions(uri, query), options); // validated; nothing to persist, so ignored
      return new MemoryBackend();
    }
    case 'sqlite': {
      const opts = mergeOptions(uri, queryOptions(uri, query), options);
      const rest = base.slice('sqlite:'.length);
      if (rest === ':memory:') return new SqliteBackend(':memory:', opts);
      if (!rest.startsWith('///')) {
        refuse(uri, rest.startsWith('//') ? 'a sqlite URI needs three slashes and an absolute path (sqlite:///abs/path.db); relative paths are not supported' : 'malformed sqlite URI');
      }
      let path = decode(uri, rest.slice(2));
      if (path.includes('\0')) refuse(uri, 'the path contains a NUL character (%00)');
      if (/^\/[A-Za-z]:[\\/]/.test(path)) path = path.slice(1); // sqlite:///C:/dir/x.db on Windows
      if (path === '/' || path.endsWith('/')) refuse(uri, 'the sqlite URI names a directory, not a database file');
      return openSqlite(path, opts);
    }
    case 'postgres':
    case 'postgresql': {
      const { PostgresBackend } = await import('./postgres.js');
      return PostgresBackend.open(uri, options as PostgresBackendOptions | undefined);
    }
    default:
      return refuse(uri, `unsupported scheme '${scheme}'`);
  }
}
