/**
 * Ids: logbooks and flow details take nanoid ids; atom details derive theirs from their flow
 * detail's (`<flow uuid>.<index>`); stores written with random atom ids (before) still load and
 * continue, and an atom added to a stored run gets a fresh random id (no clash with derived ones).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinearFlow, SqliteBackend, load, task } from '../../index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-ids-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const flow = (names: string[], log: string[] = []) => new LinearFlow('f').add(...names.map((n) => task({ name: n, execute: () => (log.push(n), n) })));

test('a new run: nanoid ids for the book and flow detail, derived ids for its atoms', async () => {
  const backend = new SqliteBackend(path.join(dir, 'new.db'));
  try {
    const e = load(flow(['a', 'b', 'c']), { backend });
    await e.run();
    assert.match(e.book.uuid, /^[A-Za-z0-9_-]{21}$/);
    assert.match(e.flowDetail.uuid, /^[A-Za-z0-9_-]{21}$/);
    const stored = await backend.getAtomDetails(e.flowDetail.uuid);
    assert.deepEqual(stored.map((d) => d.uuid), [0, 1, 2].map((i) => `${e.flowDetail.uuid}.${i}`));
  } finally {
    await backend.close();
  }
});

test('a store written with random atom ids still loads and continues; an added atom gets a random id', async () => {
  const file = path.join(dir, 'old.db');
  const oldId = () => randomBytes(16).toString('base64url'); // the previous id format
  let backend = new SqliteBackend(file);
  const first = load(flow(['a', 'b']), { backend, ids: oldId, onFailure: 'halt' });
  let n = 0;
  first.on('atom', (ev) => {
    if (ev.state === 'SUCCESS' && ++n === 1) first.suspend();
  });
  await first.run();
  const uuid = first.flowDetail.uuid;
  const before = (await backend.getAtomDetails(uuid)).map((d) => d.uuid);
  await backend.close();

  backend = new SqliteBackend(file);
  try {
    const ran: string[] = [];
    const again = load(flow(['a', 'b', 'c'], ran), { backend, flowDetail: uuid });
    await again.run();
    assert.deepEqual(ran, ['b', 'c'], 'a finished before, so only b and the new c run');
    const stored = await backend.getAtomDetails(uuid);
    assert.deepEqual(stored.slice(0, 2).map((d) => d.uuid), before, 'stored ids are kept');
    const added = stored.find((d) => d.name === 'c')!.uuid;
    assert.ok(!added.includes('.') && !before.includes(added), `a fresh random id for the added atom (${added})`);
  } finally {
    await backend.close();
  }
});
