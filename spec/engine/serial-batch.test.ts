/**
 * Serial batches are durable member by member: every member of a ready batch runs before any
 * outcome is analysed (events unchanged, as TaskFlow's serial engine), but each member's outcome
 * is stored as it completes, each member is stored as started only when it really starts, and its
 * start is stamped then. Seen from inside the batch, through the backend, on memory and SQLite.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LinearFlow, MemoryBackend, UnorderedFlow, load, task, type Engine, type FlowItem } from '../../index.js';
import type { AtomDetail, FlowChange } from '../../persistence/index.js';
import { Capture, withEngine } from '../support/index.js';

/** Stored state of every atom, by name. */
async function storedStates(e: Engine): Promise<Record<string, string>> {
  const fd = await e.backend.getFlowDetail(e.flowDetail.uuid);
  return Object.fromEntries(fd.atomDetails.map((d) => [d.name, d.state]));
}

/** Spins until the wall clock has moved on by a millisecond (no sleep: it only has to advance). */
function tickClock(): void {
  const t = Date.now();
  while (Date.now() <= t) {
    // spin
  }
}

for (const config of ['serial', 'serial+sqlite'] as const) {
  describe(`${config} engine: serial batches are stored member by member`, () => {
    test('while c runs, a and b are stored SUCCESS with their results, d not started yet', async () => {
      let engine: Engine | undefined;
      let seen: Record<string, string> | undefined;
      let seenB: unknown;
      const step = (name: string, probe = false): FlowItem =>
        task({
          name,
          provides: name,
          execute: async () => {
            if (probe) {
              seen = await storedStates(engine!);
              const fd = await engine!.backend.getFlowDetail(engine!.flowDetail.uuid);
              seenB = fd.atomDetails.find((d) => d.name === 'b')!.results;
            }
            return `${name}!`;
          },
        });
      engine = load(new UnorderedFlow('u').add(step('a'), step('b'), step('c', true), step('d')), withEngine(config));
      const cap = new Capture(engine);
      await engine.run();
      assert.deepEqual(seen, { a: 'SUCCESS', b: 'SUCCESS', c: 'RUNNING', d: 'PENDING' });
      assert.equal(seenB, 'b!');
      // Events as before: every start, then every outcome.
      assert.deepEqual(cap.values, [
        'u.f RUNNING',
        'a.t RUNNING',
        'b.t RUNNING',
        'c.t RUNNING',
        'd.t RUNNING',
        'a.t SUCCESS(a!)',
        'b.t SUCCESS(b!)',
        'c.t SUCCESS(c!)',
        'd.t SUCCESS(d!)',
        'u.f SUCCESS',
      ]);
      assert.deepEqual(await storedStates(engine), { a: 'SUCCESS', b: 'SUCCESS', c: 'SUCCESS', d: 'SUCCESS' });
    });

    test('a batch of reverts: reverted members are stored REVERTED while the next one reverts', async () => {
      let engine: Engine | undefined;
      let seen: Record<string, string> | undefined;
      const member = (name: string, probe = false): FlowItem =>
        task({
          name,
          execute: () => name,
          revert: async () => {
            if (probe) seen = await storedStates(engine!);
          },
        });
      const flow = new LinearFlow('f').add(
        new UnorderedFlow('u').add(member('a'), member('b', true), member('c')),
        task({
          name: 'boom',
          execute: () => {
            throw new Error('boom');
          },
        }),
      );
      engine = load(flow, withEngine(config));
      await assert.rejects(engine.run(), /boom/);
      // Reverted later-first: c, then b (in flight), then a (not started).
      assert.deepEqual(seen, { a: 'SUCCESS', b: 'REVERTING', c: 'REVERTED', boom: 'REVERTED' });
    });

    test("each member's start is stamped when it starts, its end when it ends", async () => {
      const step = (name: string): FlowItem =>
        task({
          name,
          execute: () => {
            tickClock();
            return name;
          },
        });
      const e = load(new UnorderedFlow('u').add(step('a'), step('b'), step('c')), withEngine(config));
      await e.run();
      const fd = await e.backend.getFlowDetail(e.flowDetail.uuid);
      const x = (name: string) => (fd.atomDetails.find((d) => d.name === name) as AtomDetail).meta.execution!;
      for (const [prev, next] of [
        ['a', 'b'],
        ['b', 'c'],
      ] as const) {
        assert.ok(x(prev).executeEndedAt! > x(prev).executeStartedAt!, `${prev} took some time`);
        assert.ok(x(next).executeStartedAt! >= x(prev).executeEndedAt!, `${next} started after ${prev} ended`);
      }
    });
  });
}

describe('serial engine: what is committed between the members of a synchronous batch', () => {
  test('each outcome is committed before the next member starts; members not started keep their record', async () => {
    const log: string[] = [];
    class Recording extends MemoryBackend {
      override commitSync(flowUuid: string, change: FlowChange): void {
        for (const a of change.atoms ?? []) log.push(`${a.name} ${a.state}`);
        super.commitSync(flowUuid, change);
      }
    }
    const member = (name: string, fail = false): FlowItem =>
      task({
        name,
        execute: () => {
          log.push(`exec ${name}`);
          if (fail) throw new Error(`${name} broke`);
          return name;
        },
      });
    const e = load(new UnorderedFlow('u').add(member('a'), member('b', true), member('c')), { engine: 'serial', backend: new Recording() });
    const cap = new Capture(e, { flows: false });
    await assert.rejects(e.run(), /b broke/);
    assert.deepEqual(log.slice(0, log.indexOf('exec c') + 1), ['a RUNNING', 'b PENDING', 'c PENDING', 'exec a', 'a SUCCESS', 'b RUNNING', 'exec b', 'b FAILURE', 'c RUNNING', 'exec c']);
    // ... while events still come after the whole batch, and the failure is analysed with it.
    assert.deepEqual(cap.values.slice(0, 6), ['a.t RUNNING', 'b.t RUNNING', 'c.t RUNNING', 'a.t SUCCESS(a)', 'b.t FAILURE(Failure: Error: b broke)', 'c.t SUCCESS(c)']);
    assert.equal(e.storage.getFlowState(), 'REVERTED');
  });
});
