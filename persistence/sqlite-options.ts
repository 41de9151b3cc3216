/**
 * The SQLite backend's options (validated once into a frozen form) and the words for driver error
 * codes. No driver import here.
 */
import { describeValue } from '../lib/describe.js';
import { InvariantViolation } from '../lib/errors.js';

export type Durability = 'normal' | 'full';

/** `'shared'`: other connections may use the file too. `'exclusive'`: this backend holds it until closed. */
export type Locking = 'shared' | 'exclusive';

export interface SqliteBackendOptions {
  /** `'normal'` (default): survives process crashes. `'full'`: also power loss (an fsync per commit). */
  readonly durability?: Durability;
  /** How long (ms) to wait for another connection's write lock before failing with SQLITE_BUSY. Default 5000. */
  readonly busyTimeout?: number;
  /**
   * `'shared'` (default): other connections and processes may read and write the file while this
   * backend has it open. `'exclusive'`: the file is locked by this backend from its first access
   * until `close()` (SQLite's exclusive locking mode); others get SQLITE_BUSY. Each commit then
   * skips SQLite's per-transaction file locking (measured ~10 µs per engine step here), for a
   * service that owns its store. Same durability either way.
   */
  readonly locking?: Locking;
}

export interface ResolvedSqliteOptions {
  readonly durability: Durability;
  readonly busyTimeout: number;
  readonly locking: Locking;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['durability', 'busyTimeout', 'locking']);

/** Validates options once into a frozen form; unknown keys and bad values are `InvariantViolation`s naming the option. */
export function resolveSqliteOptions(options: unknown): ResolvedSqliteOptions {
  if (options === undefined) return Object.freeze({ durability: 'normal', busyTimeout: 5000, locking: 'shared' });
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvariantViolation(`sqlite backend options must be an object, got ${options === null ? 'null' : typeof options}`, { option: 'options' });
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key)) {
      throw new InvariantViolation(`unknown sqlite backend option '${key}' (known: ${[...OPTION_KEYS].join(', ')})`, { option: key });
    }
  }
  const durability = o['durability'] ?? 'normal';
  if (durability !== 'normal' && durability !== 'full') {
    throw new InvariantViolation(`option 'durability' must be 'normal' or 'full', got ${describeValue(durability)}`, { option: 'durability' });
  }
  const busyTimeout = o['busyTimeout'] ?? 5000;
  if (typeof busyTimeout !== 'number' || !Number.isInteger(busyTimeout) || busyTimeout < 0) {
    throw new InvariantViolation(`option 'busyTimeout' must be a non-negative integer (ms), got ${describeValue(busyTimeout)}`, { option: 'busyTimeout' });
  }
  const locking = o['locking'] ?? 'shared';
  if (locking !== 'shared' && locking !== 'exclusive') {
    throw new InvariantViolation(`option 'locking' must be 'shared' or 'exclusive', got ${describeValue(locking)}`, { option: 'locking' });
  }
  return Object.freeze({ durability, busyTimeout, locking });
}

const CODE_MEANINGS: Readonly<Record<string, string>> = {
  SQLITE_BUSY: 'the database is busy (another connection held the write lock longer than the busy timeout)',
  SQLITE_LOCKED: 'a table is locked by another statement of this connection',
  SQLITE_READONLY: 'the database is read-only',
  SQLITE_CORRUPT: 'the database file is corrupt',
  SQLITE_NOTADB: 'the file is not a SQLite database',
  SQLITE_FULL: 'the disk or the database is full',
  SQLITE_IOERR: 'a disk I/O error occurred',
  SQLITE_CANTOPEN: 'the database file cannot be opened',
  SQLITE_CONSTRAINT: 'a constraint was violated',
  SQLITE_PERM: 'permission denied',
};

/** What a driver error code means, in words (extended codes such as 'SQLITE_IOERR_WRITE' by their primary code). */
export function describeSqliteCode(code: string): string {
  const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
  return CODE_MEANINGS[primary] ?? 'the SQLite driver reported an error';
}
