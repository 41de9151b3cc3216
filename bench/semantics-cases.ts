/**
 * Serial batches (issue #11 item 4): an unordered flow on the serial engine is one batch, whose
 * members' outcomes are committed one by one as they complete. In memory and on SQLite.
 */
import { load } from '../index.js';
import { SqliteBackend } from '../persistence/index.js';
import { check, now, scratch, secs, unordered, type Sample } from './cases.js';

export async function unorderedSerialMem(n: number): Promise<Sample> {
  const t0 = now();
  const e = load(unordered(n), { engine: 'serial' });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'unordered flow did not succeed');
  return { seconds: s };
}

export async function unorderedSerialSqlite(n: number): Promise<Sample> {
  const tmp = scratch();
  const backend = new SqliteBackend(tmp.path);
  try {
    const t0 = now();
    const e = load(unordered(n), { engine: 'serial', backend });
    await e.run();
    const s = secs(t0);
    const stored = await backend.getFlowDetail(e.flowDetail.uuid);
    check(stored.state === 'SUCCESS' && stored.atomDetails.length === n, 'the stored run is not SUCCESS with every atom');
    return { seconds: s };
  } finally {
    await backend.close();
    tmp.done();
  }
}
