/**
 * Issue #11 item 10: a listener may be async; one that rejects (or returns a thenable whose
 * `then` throws) is logged like a throwing one, and never breaks the run or the process.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation, LinearFlow, load, task, type Engine } from '../../index.js';
import { engineConfigs, withEngine } from '../support/index.js';

let unhandled = 0;
const onUnhandled = (): void => void unhandled++;
process.on('unhandledRejection', onUnhandled);
after(() => process.off('unhandledRejection', onUnhandled));

function flowOf(): LinearFlow {
  return new LinearFlow('f').add(
    task({ name: 'a', execute: (_a, ctx) => { ctx.progress(0.5, { half: true }); return 1; } }),
    task({ name: 'b', execute: () => 2 }),
  );
}

function hostile(engine: Engine, calls: { n: number }): void {
  for (const event of ['atom', 'flow', 'progress', 'retry'] as const) {
    engine.on(event, async () => {
      calls.n++;
      await Promise.resolve();
      throw new Error(`async ${event} listener failed`);
    });
    engine.on(event, () => {
      calls.n++;
      return Promise.reject(new Error('plain rejection'));
    });
    engine.on(event, (() => {
      calls.n++;
      return { then() { throw new Error('then() throws'); } };
    }) as never);
  }
}

describe('async listeners that reject never break the run or the process', () => {
  for (const config of engineConfigs) {
    test(config, async () => {
      const before = unhandled;
      const engine = load(flowOf(), withEngine(config));
      const calls = { n: 0 };
      hostile(engine, calls);
      await engine.run();
      assert.equal(engine.storage.getFlowState(), 'SUCCESS');
      assert.deepEqual(engine.storage.fetchAll(), {});
      assert.ok(calls.n > 0);
      // Give rejections every chance to surface.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(unhandled, before);
      await engine.backend.close();
    });
  }

  test('on() refuses a listener that is not a function with an InvariantViolation naming it', () => {
    const engine = load(flowOf());
    assert.throws(() => engine.on('atom', 5 as never), (err: unknown) => err instanceof InvariantViolation && err.option === 'listener');
    assert.throws(() => engine.on(Symbol('x') as never, () => {}), (err: unknown) => err instanceof InvariantViolation && err.option === 'event');
    assert.throws(() => engine.on(10n as never, () => {}), InvariantViolation);
  });
});
