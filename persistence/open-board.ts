/**
 * Opens a jobboard's store from a connection URI — the same URIs as `openBackend`, since a board
 * lives in the same store as its runs:
 *
 * | URI                                  | store                                     |
 * |--------------------------------------|-------------------------------------------|
 * | `sqlite:///abs/path.db`              | `SqliteBoardStore` (one host, many processes) |
 * | `sqlite::memory:`                    | `SqliteBoardStore` private to this process |
 * | `postgres://…?schema=x` (`postgresql://`) | `PostgresBoardStore` (loaded lazily, with `pg`) |
 *
 * SQLite query parameters: `durability`, `busyTimeout`, `locking` (as `openBackend`).
 */
import { InvariantViolation } from '../lib/errors.js';
import type { BoardStore } from './board-store.js';
import type { SqliteBackendOptions } from './sqlite-options.js';
import { SqliteBoardStore } from './sqlite-board.js';

const SUPPORTED = 'sqlite:///absolute/path.db, sqlite::memory:, postgres://user@host:port/db?schema=name';

function refuse(uri: string, why: string): never {
  throw new InvariantViolation(`cannot open jobboard '${uri}': ${why}; supported: ${SUPPORTED}`, { option: 'uri' });
}

function sqliteOptions(uri: string, query: string): SqliteBackendOptions {
  const out: Record<string, unknown> = {};
  if (query === '') return out;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const value = decodeURIComponent(eq < 0 ? '' : part.slice(eq + 1));
    if (key in out) refuse(uri, `query parameter '${key}' is given twice`);
    if (key === 'durability' || key === 'locking') out[key] = value;
    else if (key === 'busyTimeout') out[key] = /^\d+$/.test(value) ? Number(value) : value;
    else refuse(uri, `unknown query parameter '${key}' (known: durability, busyTimeout, locking)`);
  }
  return out as SqliteBackendOptions;
}

export async function openBoardStore(uri: string): Promise<BoardStore> {
  if (typeof uri !== 'string' || uri.length === 0) throw new InvariantViolation('jobboard URI must be a non-empty string', { option: 'uri' });
  const q = uri.indexOf('?');
  const base = q < 0 ? uri : uri.slice(0, q);
  const query = q < 0 ? '' : uri.slice(q + 1);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(base)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite': {
      const options = sqliteOptions(uri, query);
      const rest = base.slice('sqlite:'.length);
      if (rest === ':memory:') return new SqliteBoardStore(':memory:', options);
      if (!rest.startsWith('///')) refuse(uri, 'a sqlite URI needs three slashes and an absolute path (sqlite:///abs/path.db)');
      let path = decodeURIComponent(rest.slice(2));
      if (/^\/[A-Za-z]:[\\/]/.test(path)) path = path.slice(1);
      if (path === '/' || path.endsWith('/')) refuse(uri, 'the sqlite URI names a directory, not a database file');
      return new SqliteBoardStore(path, options);
    }
    case 'postgres':
    case 'postgresql': {
      const { PostgresBoardStore } = await import('./postgres-board.js');
      return PostgresBoardStore.open(uri);
    }
    case undefined:
      return refuse(uri, 'no scheme');
    default:
      return refuse(uri, `unsupported scheme '${scheme}'`);
  }
}
