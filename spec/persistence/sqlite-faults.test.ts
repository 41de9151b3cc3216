/**
 * Issue #11 items 8 and 11: the SQLite file deleted or replaced mid-run is a StorageFailure (not a
 * run that "succeeds" into a file nobody can open); waiting for another connection's lock never
 * blocks the event loop (the run goes on once the lock is released, or fails after busyTimeout with
 * a StorageFailure naming the lock); `locking: 'exclusive'` holds the file from open.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { InvariantViolation, LinearFlow, MemoryBackend, SqliteBackend, StorageFailure, load, openBackend, task, type Backend, type EngineKind, type FlowChange } from '../../index.js';
import { T } from '../support/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-faults-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fresh = (): string => path.join(dir, `f-${++files}.db`);

function removeStore(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}

const engines: readonly EngineKind[] = ['serial', 'parallel'];

for (const engine of engines) {
  describe(`the store's file changes under a running flow (${engine})`, () => {
    test('deleted mid-run: the run rejects with a StorageFailure saying so', async () => {
      const file = fresh();
      const backend = new SqliteBackend(file);
      const flow = new LinearFlow('f').add(new T('a', { ret: 1 }), task({ name: 'b', execute: () => removeStore(file) }), new T('c', { ret: 3 }));
      const e = load(flow, { engine, backend });
      await assert.rejects(e.run(), (err: unknown) => err instanceof StorageFailure && /was deleted while the store was open/.test(err.message));
      await backend.close();
    });

    test('replaced mid-run (another file renamed over it): StorageFailure', async () => {
      const file = fresh();
      const other = fresh();
      await (await openBackend(`sqlite://${other}`)).close();
      const backend = new SqliteBackend(file);
      const flow = new LinearFlow('f').add(new T('a', { ret: 1 }), task({ name: 'b', execute: () => fs.renameSync(other, file) }), new T('c', { ret: 3 }));
      const e = load(flow, { engine, backend });
      await assert.rejects(e.run(), (err: unknown) => err instanceof StorageFailure && /was replaced while the store was open/.test(err.message));
      await backend.close();
    });
  });

  describe(`another connection holds the write lock (${engine})`, () => {
    test('the run waits without blocking the event loop and finishes once the lock is released', async () => {
      const file = fresh();
      const backend = new SqliteBackend(file, { busyTimeout: 60_000 });
      const holder = new Database(file);
      let released = false;
      const flow = new LinearFlow('f').add(
        new T('a', { ret: 1 }),
        task({
          name: 'grab',
          execute: () => {
            holder.prepare('BEGIN IMMEDIATE').run();
            // Released by a timer: it can only fire if the engine's wait leaves the event loop free.
            setTimeout(() => {
              holder.prepare('COMMIT').run();
              released = true;
            }, 50);
          },
        }),
        new T('c', { ret: 3 }),
      );
      const e = load(flow, { engine, backend });
      await e.run();
      assert.ok(released);
      assert.equal(e.storage.getFlowState(), 'SUCCESS');
      assert.equal((await backend.getFlowDetail(e.flowDetail.uuid)).state, 'SUCCESS');
      holder.close();
      await backend.close();
    });

    test('a lock never released: StorageFailure naming the lock after busyTimeout', async () => {
      const file = fresh();
      const backend = new SqliteBackend(file, { busyTimeout: 150 });
      const holder = new Database(file);
      const flow = new LinearFlow('f').add(new T('a', { ret: 1 }), task({ name: 'grab', execute: () => void holder.prepare('BEGIN IMMEDIATE').run() }), new T('c'));
      const e = load(flow, { engine, backend });
      await assert.rejects(e.run(), (err: unknown) => err instanceof StorageFailure && /the lock on '.*' was held by another connection for more than busyTimeout \(150 ms\)/.test(err.message));
      holder.prepare('ROLLBACK').run();
      holder.close();
      await backend.close();
    });
  });
}

describe('SQLite open and reads under a lock', () => {
  test('openBackend waits for a lock asynchronously (a timer releases it meanwhile)', async () => {
    const file = fresh();
    await (await openBackend(`sqlite://${file}`)).close();
    const holder = new Database(file);
    holder.pragma('locking_mode = EXCLUSIVE');
    holder.exec('BEGIN IMMEDIATE; COMMIT'); // holds the whole file
    setTimeout(() => holder.close(), 50);
    const b = await openBackend(`sqlite://${file}`, { busyTimeout: 60_000 });
    assert.deepEqual(await b.getLogBooks(), []);
    await b.close();
  });

  test("locking 'exclusive' holds the file from open: another connection cannot even read", async () => {
    const file = fresh();
    await (await openBackend(`sqlite://${file}`)).close();
    const owner = new SqliteBackend(file, { locking: 'exclusive' });
    const reader = new Database(file, { timeout: 0 });
    assert.throws(() => reader.prepare('SELECT count(*) FROM logbooks').get(), { code: 'SQLITE_BUSY' });
    reader.close();
    assert.throws(() => new SqliteBackend(file, { busyTimeout: 0 }), StorageFailure);
    await owner.close();
    const again = new SqliteBackend(file, { busyTimeout: 0 });
    await again.close();
  });

  test('a path with a NUL byte is refused (it would silently open another file)', async () => {
    assert.throws(() => new SqliteBackend(path.join(dir, 'a\0b.db')), (err: unknown) => err instanceof InvariantViolation && err.option === 'path');
    await assert.rejects(openBackend(`sqlite://${dir}/a%00b.db`), InvariantViolation);
    await assert.rejects(openBackend(`sqlite://${dir}/a\0b.db`), InvariantViolation);
    assert.throws(() => new SqliteBackend(''), InvariantViolation);
    assert.throws(() => new SqliteBackend(42 as never), InvariantViolation);
  });
});

describe("a run whose final state cannot be stored does not report that it ended", () => {
  for (const engine of engines) {
    for (const [label, Base] of [['memory', MemoryBackend], ['sqlite', SqliteBackend]] as const) {
      test(`${engine}, ${label}: run() rejects with the StorageFailure`, async () => {
        class FailsAtTheEnd extends (Base as unknown as new (path?: string) => SqliteBackend) {
          override commitSync(uuid: string, change: FlowChange): void {
            if (change.flow?.state === 'SUCCESS') throw new StorageFailure('disk full (simulated) on the final commit');
            super.commitSync(uuid, change);
          }
        }
        const backend = label === 'memory' ? new (FailsAtTheEnd as unknown as new () => Backend)() : new FailsAtTheEnd(fresh());
        const e = load(new LinearFlow('f').add(new T('a', { ret: 1 }), new T('b', { ret: 2 })), { engine, backend });
        await assert.rejects(e.run(), (err: unknown) => err instanceof StorageFailure && /final commit/.test(err.message));
        assert.equal((await backend.getFlowDetail(e.flowDetail.uuid)).state, 'RUNNING');
        await backend.close();
      });
    }
  }
});
