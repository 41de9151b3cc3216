/**
 * The engine with a persistent backend: what is stored and when, continuing stored runs (same
 * process and new engine), a store that fails mid-run, atoms removed or changed between runs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  IncompatibleVersion,
  LinearFlow,
  MemoryBackend,
  SqliteBackend,
  StorageFailure,
  WrappedFailure,
  load,
  resume,
  task,
  type Backend,
  type FlowChange,
} from '../../index.js';
import { T, type Journal } from '../support/index.js';
import { freshSchema, pgPool } from '../support/postgres.js';
import { PostgresBackend } from '../../index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-eng-'));
  dirs.push(dir);
  return path.join(dir, 'run.db');
}

/** A backend whose commits fail while `broken` is set (as a full disk or a locked file would). */
class FlakyBackend extends MemoryBackend {
  broken = false;
  failAfter = Infinity;
  override async commit(flowUuid: string, change: FlowChange): Promise<void> {
    if (this.broken || this.failAfter-- <= 0) {
      this.broken = true;
      throw new StorageFailure('disk full (simulated)', { cause: new Error('SQLITE_FULL') });
    }
    return super.commit(flowUuid, change);
  }
}

/** The persistent stores these tests run on: each `store()` is a new store; its opener opens a backend on it (again). */
const stores: ReadonlyArray<{ name: string; store: () => () => Backend }> = [
  { name: 'SQLite', store: () => { const file = tmpDb(); return () => new SqliteBackend(file); } },
  { name: 'PostgreSQL', store: () => { const schema = freshSchema('engine'); return () => new PostgresBackend({ pool: pgPool(), schema }); } },
];

for (const { name, store } of stores) describe(`engine with a persistent backend (${name})`, () => {
  test('events come after the transition is stored: a listener reads the same state from the backend', async () => {
    const backend = store()();
    const e = load(new LinearFlow('f').add(new T('a', { ret: 1 }), new T('b', { ret: 2 })), { backend });
    const seen: string[] = [];
    const checks: Array<Promise<void>> = [];
    e.on('atom', (ev) => {
      checks.push(
        (async () => {
          const stored = (await backend.getAtomDetails(e.flowDetail.uuid)).find((d) => d.name === ev.name)!;
          // The stored state is the event's state or a later one, never an earlier one.
          seen.push(`${ev.name} ${ev.state} stored=${stored.state}`);
        })(),
      );
    });
    await e.run();
    await Promise.all(checks);
    for (const line of seen) {
      const [, state, stored] = /^\w+ (\w+) stored=(\w+)$/.exec(line)!;
      assert.ok(state === stored || (state === 'RUNNING' && stored === 'SUCCESS'), line);
    }
    const fd = await backend.getFlowDetail(e.flowDetail.uuid);
    assert.equal(fd.state, 'SUCCESS');
    assert.deepEqual(fd.atomDetails.map((d) => [d.name, d.state, d.results]), [['a', 'SUCCESS', 1], ['b', 'SUCCESS', 2]]);
    assert.equal(typeof fd.atomDetails[0]!.meta.execution?.execute?.startedAt, 'number');
    await backend.close();
  });

  test('the engine store is persisted with the run and used when it is continued', async () => {
    const open = store();
    let backend: Backend = open();
    const use = () => task({ name: 'use', requires: ['x'], provides: 'y', execute: ({ x }: { x: number }) => x * 2 });
    const first = new LinearFlow('f').add(task({ name: 'stop', execute: () => void e.suspend() }), use());
    const e = load(first, { backend, store: { x: 21 } });
    await e.run();
    assert.equal(e.storage.getFlowState(), 'SUSPENDED');
    const uuid = e.flowDetail.uuid;
    await backend.close();
    backend = open();
    const again = await resume(uuid, { backend, factory: () => new LinearFlow('f').add(task({ name: 'stop', execute: () => undefined }), use()) });
    assert.equal(again.storage.fetch('y'), 42);
    assert.equal(again.storage.getFlowState(), 'SUCCESS');
    await backend.close();
  });

  test('a store that fails mid-run stops the run with StorageFailure; once healthy, the run continues', async () => {
    const backend = new FlakyBackend();
    const j: Journal = [];
    const flow = new LinearFlow('f').add(new T('a', { journal: j }), new T('b', { journal: j }), new T('c', { journal: j }), new T('d', { journal: j }));
    const e = load(flow, { backend });
    await e.prepare();
    backend.failAfter = 3;
    await assert.rejects(e.run(), (err: unknown) => err instanceof StorageFailure && err.cause instanceof Error);
    const stored = await backend.getFlowDetail(e.flowDetail.uuid);
    assert.equal(stored.state, 'RUNNING', 'nothing after the failed commit was stored');
    const storedStates = Object.fromEntries(stored.atomDetails.map((d) => [d.name, d.state]));
    backend.broken = false;
    backend.failAfter = Infinity;
    await e.run();
    assert.equal(e.storage.getFlowState(), 'SUCCESS');
    const final = await backend.getFlowDetail(e.flowDetail.uuid);
    assert.deepEqual(final.atomDetails.map((d) => d.state), ['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS']);
    // Atoms stored SUCCESS before the failure never ran again.
    for (const [name, state] of Object.entries(storedStates)) {
      if (state === 'SUCCESS') assert.equal(j.filter((x) => x === `${name} execute`).length, 1, name);
    }
  });

  test('a run suspended mid-revert still reverts and re-raises after the failed atom was removed from the flow', async () => {
    const open = store();
    const backend = open();
    const e = load(new LinearFlow('f').add(new T('a'), new T('b'), new T('c', { fail: true })), { backend });
    e.on('atom', (ev) => {
      if (ev.name === 'b' && ev.state === 'REVERTED') e.suspend();
    });
    await e.run();
    assert.equal(e.storage.getFlowState(), 'SUSPENDED');
    const reopened = open();
    const j: Journal = [];
    const again = load(new LinearFlow('f').add(new T('a', { journal: j }), new T('b', { journal: j })), { backend: reopened, flowDetail: e.flowDetail.uuid });
    await assert.rejects(again.run(), (err: unknown) => err instanceof WrappedFailure && err.failures[0]!.message === 'fail-c');
    assert.deepEqual(j, ['a revert']);
    assert.equal(again.storage.getFlowState(), 'REVERTED');
    await backend.close();
    await reopened.close();
  });

  test('a stored atom written by another version is reported clearly', async () => {
    const backend = new MemoryBackend();
    const e = load(new LinearFlow('f').add(task({ name: 'a', version: '1.0', execute: () => 1 })), { backend });
    await e.run();
    const again = load(new LinearFlow('f').add(task({ name: 'a', version: '2.0', execute: () => 1 })), { backend, flowDetail: e.flowDetail.uuid });
    await assert.rejects(again.run(), (err: unknown) => err instanceof IncompatibleVersion && err.atom === 'a' && err.stored === '1.0');
  });

  test('an unknown flow detail uuid is a clear NotFound', async () => {
    await assert.rejects(load(new LinearFlow('f'), { backend: new MemoryBackend(), flowDetail: 'nope' }).run(), /no stored flow detail 'nope'/);
  });
});
