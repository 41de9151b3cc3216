/** Execution info: every execute and revert recorded, ordered as documented, persisted and reloaded. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinearFlow, SqliteBackend, Times, UnorderedFlow, load, task, type ExecutionRecord, type LoadOptions } from '../../index.js';
import { executionInfoFromJSON } from '../../persistence/models.js';
import { addOne, Crunch } from '../support/thread-atoms.js';

const ORDER = [
  'submittedAt',
  'startedAt',
  'argsStartedAt',
  'argsEndedAt',
  'taskStartedAt',
  'taskEndedAt',
  'resultStartedAt',
  'resultEndedAt',
  'endedAt',
  'receivedAt',
] as const;

/** Every time set, in the documented order. */
function assertOrdered(r: ExecutionRecord | undefined, what: string): void {
  assert.ok(r, `${what}: recorded`);
  for (let k = 1; k < ORDER.length; k++) {
    const a: unknown = r[ORDER[k - 1]!];
    const b: unknown = r[ORDER[k]!];
    assert.equal(typeof a, 'number', `${what}: ${ORDER[k - 1]} set`);
    assert.equal(typeof b, 'number', `${what}: ${ORDER[k]} set`);
    assert.ok((a as number) <= (b as number), `${what}: ${ORDER[k - 1]} (${a}) <= ${ORDER[k]} (${b})`);
  }
  assert.equal(r.hostname, os.hostname());
  assert.equal(r.pid, process.pid);
}

const configs: ReadonlyArray<[string, LoadOptions]> = [
  ['serial', { engine: 'serial' }],
  ['parallel', { engine: 'parallel' }],
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

for (const [label, options] of configs) {
  describe(`execution info (${label})`, () => {
    test('execute and revert recorded in order, with the atoms whose results were used as parents', async () => {
      const flow = new LinearFlow('chain').add(
        task({ name: 'a', provides: 'x', execute: async () => 1 }),
        task({ name: 'b', requires: ['x', 'seed'], provides: 'y', execute: ({ x, seed }) => x + seed, revert: () => 'undone b' }),
        task({ name: 'c', requires: ['y'], execute: async () => Promise.reject(new Error('boom')) }),
      );
      const e = load(flow, { ...options, store: { seed: 10 } });
      await assert.rejects(e.run(), /boom/);
      const a = e.storage.getExecutionInfo('a');
      const b = e.storage.getExecutionInfo('b');
      const c = e.storage.getExecutionInfo('c');
      for (const [name, x] of [['a', a], ['b', b]] as const) {
        assertOrdered(x.execute, `${name} execute`);
        assert.equal(x.execute!.success, true);
        assertOrdered(x.revert, `${name} revert`);
        assert.equal(x.revert!.success, true);
        assert.ok(x.execute!.receivedAt! <= x.revert!.submittedAt, `${name}: reverted after its execute was received`);
      }
      assertOrdered(c.execute, 'c execute');
      assert.equal(c.execute!.success, false);
      assert.deepEqual(a.execute!.parents, []);
      assert.deepEqual(b.execute!.parents, ['a'], 'the store is no parent');
      assert.deepEqual(c.execute!.parents, ['b']);
      assert.ok(b.execute!.receivedAt! <= c.execute!.submittedAt);
      assert.deepEqual(e.storage.getExecutionInfo('a'), e.storage.getAtomDetail('a').meta.execution);
    });

    test('a re-run keeps the earlier attempts (retries visible)', async () => {
      let calls = 0;
      const flaky = task({ name: 'flaky', execute: () => (++calls < 3 ? Promise.reject(new Error(`try ${calls}`)) : 'ok') });
      const e = load(new LinearFlow('r', { retry: new Times({ attempts: 3 }) }).add(flaky), options);
      await e.run();
      const x = e.storage.getExecutionInfo('flaky');
      assert.equal(x.earlier?.length, 2);
      for (const [k, attempt] of x.earlier!.entries()) {
        assertOrdered(attempt.execute, `attempt ${k + 1}`);
        assert.equal(attempt.execute!.success, false);
        assertOrdered(attempt.revert, `attempt ${k + 1} revert`);
      }
      assertOrdered(x.execute, 'last attempt');
      assert.equal(x.execute!.success, true);
      assert.equal(x.revert, undefined);
      assert.ok(x.earlier![1]!.revert!.receivedAt! <= x.execute!.submittedAt);
    });

    test('persisted with the atom and read back after reopening the store (SQLite)', async () => {
      const file = path.join(tmp, `info-${label}.db`);
      const backend = new SqliteBackend(file);
      const flow = (): LinearFlow =>
        new LinearFlow('p').add(task({ name: 'one', provides: 'v', execute: () => 1 }), task({ name: 'two', requires: ['v'], execute: async ({ v }) => v + 1 }));
      const e = load(flow(), { ...options, backend });
      await e.run();
      const before = { one: e.storage.getExecutionInfo('one'), two: e.storage.getExecutionInfo('two') };
      await backend.close();
      const reopened = new SqliteBackend(file);
      try {
        const stored = await reopened.getFlowDetail(e.flowDetail.uuid);
        for (const d of stored.atomDetails) assert.deepEqual(d.meta.execution?.execute, before[d.name as 'one' | 'two'].execute);
        const again = load(flow(), { ...options, backend: reopened, flowDetail: e.flowDetail.uuid });
        await again.prepare();
        assert.deepEqual(again.storage.getExecutionInfo('two').execute, before.two.execute);
        assert.deepEqual(again.storage.getExecutionInfo('two').execute!.parents, ['one']);
      } finally {
        await reopened.close();
      }
    });
  });
}

test('a serial batch member starts when it really starts (after the one before it ended)', async () => {
  const slow = (name: string) => task({ name, execute: () => new Promise((resolve) => setImmediate(resolve, name)) });
  const e = load(new UnorderedFlow('batch').add(slow('p'), slow('q'), slow('r')), { engine: 'serial' });
  await e.run();
  const recs = ['p', 'q', 'r'].map((n) => e.storage.getExecutionInfo(n).execute!).sort((x, y) => x.startedAt! - y.startedAt!);
  for (let k = 1; k < recs.length; k++) assert.ok(recs[k - 1]!.endedAt! <= recs[k]!.startedAt!, 'one after the other');
});

test('execution info on threads: each phase stamped on the thread, in order', async () => {
  const flow = new UnorderedFlow('t').add(new Crunch({ name: 'crunch', provides: 'doubled', inject: { n: 21, ms: 1 } }), addOne);
  const e = load(flow, { engine: 'parallel', executor: 'threads', maxWorkers: 2, store: { x: 1 } });
  await e.run();
  for (const name of ['crunch', 'addOne']) {
    const r = e.storage.getExecutionInfo(name).execute;
    assertOrdered(r, name);
    assert.notEqual(r!.threadId, 0, `${name} ran on a pool thread`);
    assert.equal(r!.success, true);
  }
  assert.equal(e.storage.fetch('doubled'), 42);
});

test('the stored shape of earlier versions (executeStartedAt, ...) reads as execution info', () => {
  const x = executionInfoFromJSON({ hostname: 'h', pid: 9, executeStartedAt: 100, executeEndedAt: 250, revertStartedAt: 300, revertEndedAt: 320 });
  assert.equal(x?.execute?.hostname, 'h');
  assert.equal(x?.execute?.pid, 9);
  assert.equal(x?.execute?.startedAt, 100);
  assert.equal(x?.execute?.taskStartedAt, 100);
  assert.equal(x?.execute?.taskEndedAt, 250);
  assert.equal(x?.execute?.receivedAt, 250);
  assert.equal(x?.revert?.startedAt, 300);
  assert.equal(x?.revert?.endedAt, 320);
  const running = executionInfoFromJSON({ hostname: 'h', pid: 9, executeStartedAt: 100 });
  assert.equal(running?.execute?.endedAt, null, 'no end: still running when stored');
  assert.equal(running?.execute?.success, false);
});

test('a store written with the old shape is read in the new one (SQLite)', async () => {
  const file = path.join(tmp, 'legacy.db');
  const backend = new SqliteBackend(file);
  try {
    const e = load(task({ name: 'old', execute: () => 1 }), { backend });
    await e.run();
    const d = e.storage.getAtomDetail('old');
    const { updateAtom, updateFlow } = await import('../../persistence/models.js');
    const legacy = updateAtom(d, { meta: { progress: 1, execution: { hostname: 'h', pid: 7, executeStartedAt: 5, executeEndedAt: 8 } as never } });
    await backend.commit(e.flowDetail.uuid, { flow: updateFlow(e.flowDetail, {}), atoms: [legacy] });
    const stored = await backend.getFlowDetail(e.flowDetail.uuid);
    const x = stored.atomDetails[0]!.meta.execution;
    assert.equal(x?.execute?.pid, 7);
    assert.equal(x?.execute?.startedAt, 5);
    assert.equal(x?.execute?.endedAt, 8);
  } finally {
    await backend.close();
  }
});

test('getExecutionInfo: {} before the atom ran; unknown names are refused', () => {
  const e = load(task({ name: 'later', execute: () => 1 }));
  assert.deepEqual(e.storage.getExecutionInfo('later'), {});
  assert.throws(() => e.storage.getExecutionInfo('nope'), { name: 'NotFound' });
});

