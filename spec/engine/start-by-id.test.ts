/**
 * Choosing a run's id (`load(flow, { flowUuid })`, an idempotent start) and `resume()`'s
 * `onLoad` hook and `error.engine`, on the memory, SQLite and PostgreSQL backends.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvariantViolation, LinearFlow, MemoryBackend, SqliteBackend, WrappedFailure, load, resume, task, type Backend } from '../../index.js';
import { pgBackend } from '../support/postgres.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-start-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

const backends: ReadonlyArray<[string, () => Backend]> = [
  ['memory', () => new MemoryBackend()],
  ['sqlite', () => new SqliteBackend(path.join(dir, `s-${++files}.db`))],
  ['postgres', () => pgBackend('start')],
];

function counting(calls: string[], failAt?: string): LinearFlow {
  const step = (name: string) =>
    task({
      name,
      provides: name,
      execute: () => {
        calls.push(name);
        if (name === failAt) throw new Error(`${name} declined`);
        return `${name}-done`;
      },
      revert: () => void calls.push(`undo-${name}`),
    });
  return new LinearFlow('order').add(step('reserve'), step('charge'), step('ship'));
}

for (const [kind, make] of backends) {
  describe(`start by id on ${kind}`, () => {
    test('the run takes the chosen id', async () => {
      const backend = make();
      const e = load(counting([]), { backend, flowUuid: 'order-17' });
      await e.run();
      assert.equal(e.flowDetail.uuid, 'order-17');
      assert.equal((await backend.getFlowDetail('order-17')).state, 'SUCCESS');
      await backend.close();
    });

    test('starting a finished id again runs nothing and answers the stored outcome', async () => {
      const backend = make();
      const calls: string[] = [];
      await load(counting(calls), { backend, flowUuid: 'order-1' }).run();
      const again = load(counting(calls), { backend, flowUuid: 'order-1', store: { ignored: true } });
      await again.run();
      assert.deepEqual(calls, ['reserve', 'charge', 'ship']);
      assert.deepEqual(again.storage.fetchAll(), { reserve: 'reserve-done', charge: 'charge-done', ship: 'ship-done' });
      const states: string[] = [];
      for await (const s of load(counting(calls), { backend, flowUuid: 'order-1' }).runIter()) states.push(s);
      assert.deepEqual(states, ['SUCCESS']);
      assert.equal((await backend.findFlows()).length, 1);
      await backend.close();
    });

    test('a reverted id started again rejects with its stored failures, without running', async () => {
      const backend = make();
      const calls: string[] = [];
      await assert.rejects(load(counting(calls, 'charge'), { backend, flowUuid: 'order-2' }).run(), /charge declined/);
      const before = calls.length;
      await assert.rejects(load(counting(calls, 'charge'), { backend, flowUuid: 'order-2' }).run(), (e: unknown) => {
        assert.ok(e instanceof WrappedFailure);
        assert.match(e.message, /charge declined/);
        return true;
      });
      assert.equal(calls.length, before);
      await backend.close();
    });

    test('an unfinished id started again continues where it stopped', async () => {
      const backend = make();
      const calls: string[] = [];
      const first = load(counting(calls), { backend, flowUuid: 'order-3' });
      first.on('atom', (ev) => {
        if (ev.name === 'reserve' && ev.state === 'SUCCESS') first.suspend();
      });
      await first.run();
      assert.equal(first.flowDetail.state, 'SUSPENDED');
      await load(counting(calls), { backend, flowUuid: 'order-3' }).run();
      assert.deepEqual(calls, ['reserve', 'charge', 'ship']);
      await backend.close();
    });
  });

  describe(`resume() on ${kind}`, () => {
    test('onLoad sees the engine before the run starts; a rolled-back run rejects with error.engine', async () => {
      const backend = make();
      const calls: string[] = [];
      const first = load(counting(calls), { backend });
      first.on('atom', (ev) => {
        if (ev.name === 'reserve' && ev.state === 'SUCCESS') first.suspend();
      });
      await first.run();
      const uuid = first.flowDetail.uuid;
      const events: string[] = [];
      const err = await resume(uuid, {
        backend,
        factory: () => counting(calls, 'ship'),
        onLoad: async (engine) => {
          engine.on('atom', (ev) => events.push(`${ev.name} ${ev.state}`));
        },
      }).then(
        () => assert.fail('the resumed run should roll back'),
        (e: unknown) => e as Error & { engine?: { flowDetail: { state: string | null; uuid: string } } },
      );
      assert.match(err.message, /ship declined/);
      assert.ok(err.engine, 'error.engine is set');
      assert.equal(err.engine.flowDetail.uuid, uuid);
      assert.equal(err.engine.flowDetail.state, 'REVERTED');
      assert.equal(events[0], 'charge RUNNING');
      assert.ok(events.includes('ship FAILURE'), events.join(', '));
      assert.ok(events.includes('reserve REVERTED'), events.join(', '));
      await backend.close();
    });
  });
}

describe('start by id: bad input', () => {
  test('flowUuid must be a usable string and is not combined with flowDetail', () => {
    const flow = counting([]);
    for (const bad of ['', 5, 'a\0b', 'x'.repeat(256)]) {
      assert.throws(() => load(flow, { flowUuid: bad as string }), (e: unknown) => e instanceof InvariantViolation && e.option === 'flowUuid');
    }
    assert.throws(() => load(flow, { flowUuid: 'a', flowDetail: 'b' }), (e: unknown) => e instanceof InvariantViolation && e.option === 'flowUuid');
  });

  test('resume() refuses a non-function onLoad', async () => {
    await assert.rejects(
      resume('x', { backend: new MemoryBackend(), factory: () => counting([]), onLoad: 5 as never }),
      (e: unknown) => e instanceof InvariantViolation && e.option === 'onLoad',
    );
  });
});
