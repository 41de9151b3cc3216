/**
 * Serial batches (issue #11 item 4): an unordered flow on the serial engine is one batch, whose
 * members' outcomes are committed one by one as they complete. In memory and on SQLite.
 */
import { load } from '../index.js';
import { SqliteBackend } from '../persistence/index.js';
import { check, now, secs, unordered, type Sample } from './cases.js';
import { timedSqliteRun } from './sqlite-cases.js';

export async function unorderedSerialMem(n: number): Promise<Sample> {
  const t0 = now();
  const e = load(unordered(n), { engine: 'serial' });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'unordered flow did not succeed');
  return { seconds: s };
}

export function unorderedSerialSqlite(n: number): Promise<Sample> {
  return timedSqliteRun(n, unordered, (path) => new SqliteBackend(path));
}
