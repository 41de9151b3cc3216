/**
 * What an atom's context tells it about the run: flowUuid, atomUuid, attempt and the
 * idempotency key (stable across suspends and resumes of one attempt, new for every attempt).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LinearFlow, Times, load, task, type AtomContext } from '../../index.js';
import { engineConfigs, withEngine } from '../support/index.js';

interface Seen {
  readonly flowUuid: string;
  readonly atomUuid: string;
  readonly attempt: number;
  readonly key: string;
}

function see(ctx: AtomContext): Seen {
  return { flowUuid: ctx.flowUuid, atomUuid: ctx.atomUuid, attempt: ctx.attempt, key: ctx.idempotencyKey };
}

for (const engine of engineConfigs) {
  describe(`atom context on the ${engine} engine`, () => {
    test('names the run, the atom and the first attempt', async () => {
      const seen: Seen[] = [];
      const e = load(task({ name: 'charge', execute: (_a: object, ctx: AtomContext) => void seen.push(see(ctx)) }), withEngine(engine));
      await e.run();
      assert.equal(seen.length, 1);
      const atom = e.flowDetail.atomDetails.find((d) => d.name === 'charge')!;
      assert.deepEqual(seen[0], { flowUuid: e.flowDetail.uuid, atomUuid: atom.uuid, attempt: 1, key: `${atom.uuid}:1` });
    });

    test('each attempt under a retry gets a new attempt number and key; the stored record keeps it', async () => {
      const seen: Seen[] = [];
      let calls = 0;
      const flow = new LinearFlow('pay', { retry: new Times({ attempts: 3 }) }).add(
        task({
          name: 'charge',
          execute: (_a: object, ctx: AtomContext) => {
            seen.push(see(ctx));
            if (++calls < 3) throw new Error('declined');
          },
        }),
      );
      const e = load(flow, withEngine(engine, { revertScope: 'subflow' }));
      await e.run();
      assert.deepEqual(
        seen.map((s) => s.attempt),
        [1, 2, 3],
      );
      assert.equal(new Set(seen.map((s) => s.key)).size, 3);
      assert.equal(new Set(seen.map((s) => s.atomUuid)).size, 1);
      assert.equal(e.flowDetail.atomDetails.find((d) => d.name === 'charge')!.meta.attempt, 3);
    });

    test('a run suspended while the atom was in flight continues the same attempt (same key)', async () => {
      const seen: Seen[] = [];
      const ac = new AbortController();
      let first = true;
      const flow = new LinearFlow('f').add(
        task({
          name: 'slow',
          execute: async (_a: object, ctx: AtomContext) => {
            seen.push(see(ctx));
            if (first) {
              first = false;
              ac.abort();
              // An atom that honours its signal: it stops, and runs again on the next run().
              throw ctx.signal.reason ?? new Error('aborted');
            }
          },
        }),
      );
      const e = load(flow, withEngine(engine));
      await e.run({ signal: ac.signal });
      assert.equal(e.flowDetail.state, 'SUSPENDED');
      await e.run();
      assert.equal(seen.length, 2);
      assert.equal(seen[0]!.key, seen[1]!.key);
      assert.equal(seen[1]!.attempt, 1);
    });

    test('reset() starts a new attempt', async () => {
      const seen: Seen[] = [];
      const e = load(task({ name: 'a', execute: (_x: object, ctx: AtomContext) => void seen.push(see(ctx)) }), withEngine(engine));
      await e.run();
      await e.reset();
      await e.run();
      assert.deepEqual(
        seen.map((s) => s.attempt),
        [1, 2],
      );
      assert.notEqual(seen[0]!.key, seen[1]!.key);
    });
  });
}
