/**
 * Per-atom timeouts on every engine: the timeout aborts the atom's signal and fails it with
 * AtomTimeout (retries and reverts apply), a late result is ignored, an atom that ignores its signal
 * does not hold up suspend(), and timers exist only for atoms that have a timeout. Time is a
 * ManualClock: nothing here waits for real time to pass.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AtomTimeout,
  Failure,
  InvariantViolation,
  LinearFlow,
  ManualClock,
  Times,
  load,
  task,
  type AtomContext,
  type EngineKind,
  type Task,
} from '../../index.js';

/** A promise and its resolvers. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** An atom that tells when it started and then waits for `release` (ignoring its signal unless told). */
function gate(name: string, opts: { timeoutMs?: number; honour?: boolean; provides?: string; revert?: () => unknown } = {}) {
  const started = deferred<AtomContext>();
  const release = deferred<unknown>();
  const t = task({
    name,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.provides ? { provides: opts.provides } : {}),
    execute: (_args, ctx) => {
      started.resolve(ctx);
      if (opts.honour) ctx.signal.addEventListener('abort', () => release.reject(ctx.signal.reason));
      return release.promise;
    },
    ...(opts.revert ? { revert: opts.revert } : {}),
  });
  return { task: t as Task, started, release };
}

const kinds: readonly EngineKind[] = ['serial', 'parallel'];

for (const engine of kinds) {
  describe(`timeouts (${engine} engine)`, () => {
    test('the timeout aborts the signal and fails the atom with AtomTimeout; the flow reverts', async () => {
      const clock = new ManualClock();
      const reverted: string[] = [];
      const first = task({ name: 'first', execute: () => 1, revert: () => void reverted.push('first') });
      const g = gate('slow', { timeoutMs: 50 });
      const e = load(new LinearFlow('f').add(first, g.task), { engine, clock });
      const running = e.run();
      const ctx = await g.started.promise;
      assert.equal(clock.pending, 1, 'one timer, for the one atom with a timeout');
      clock.advance(49);
      assert.equal(ctx.signal.aborted, false);
      clock.advance(1);
      assert.equal(ctx.signal.aborted, true);
      assert.ok(ctx.signal.reason instanceof AtomTimeout);
      const error = await running.then(() => undefined, (err: unknown) => err);
      assert.ok(error instanceof AtomTimeout, String(error));
      assert.equal(error.atom, 'slow');
      assert.equal(error.timeoutMs, 50);
      assert.equal(error.action, 'execute');
      assert.equal(e.storage.getFlowState(), 'REVERTED');
      assert.deepEqual(reverted, ['first']);
      const failure = e.storage.getExecuteFailures()['slow'];
      assert.ok(failure instanceof Failure);
      assert.ok(failure.check(AtomTimeout));
      const info = e.storage.getExecutionInfo('slow').execute!;
      assert.equal(info.success, false);
      assert.equal(clock.pending, 0, 'no timer left behind');
      // The late result arrives: nothing changes.
      g.release.resolve('too late');
      await new Promise((r) => setImmediate(r));
      assert.equal(e.storage.getAtomState('slow'), 'REVERTED');
      assert.equal(e.storage.getAtomDetail('slow').results, undefined);
    });

    test('a timed-out atom is retried like any failure, and succeeds in time on the next attempt', async () => {
      const clock = new ManualClock();
      let attempt = 0;
      const started: Array<ReturnType<typeof deferred<void>>> = [deferred(), deferred()];
      const flaky = task({
        name: 'flaky',
        timeoutMs: 100,
        execute: (_args, ctx) => {
          const k = attempt++;
          started[k]?.resolve();
          if (k === 0) return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
          return Promise.resolve('in time');
        },
      });
      const e = load(new LinearFlow('r', { retry: new Times({ attempts: 2 }) }).add(flaky), { engine, clock });
      const running = e.run();
      await started[0]!.promise;
      clock.advance(100);
      await running;
      assert.equal(e.storage.get('flaky'), 'in time');
      const history = e.storage.getRetryHistory('r_retry');
      assert.equal(history.length, 2);
      assert.ok(history.at(0)!.failures['flaky']!.check(AtomTimeout));
      assert.equal(e.storage.getExecutionInfo('flaky').earlier?.length, 1);
      assert.equal(clock.pending, 0);
    });

    test('a result that comes after the timeout is ignored', async () => {
      const clock = new ManualClock();
      const g = gate('late', { timeoutMs: 10, provides: 'v' });
      const e = load(g.task, { engine, clock, onFailure: 'halt' });
      const running = e.run();
      await g.started.promise;
      clock.advance(10);
      g.release.resolve(99);
      await assert.rejects(running, AtomTimeout);
      assert.equal(e.storage.getAtomState('late'), 'FAILURE');
      assert.throws(() => e.storage.fetch('v'));
    });

    test('a revert that times out fails the revert (REVERT_FAILURE, action revert)', async () => {
      const clock = new ManualClock();
      const revertStarted = deferred();
      const stuck = task({
        name: 'stuck',
        timeoutMs: 20,
        execute: () => 1,
        revert: () => {
          revertStarted.resolve();
          return new Promise(() => {});
        },
      });
      const boom = task({ name: 'boom', execute: () => Promise.reject(new Error('boom')) });
      const e = load(new LinearFlow('rv').add(stuck, boom), { engine, clock });
      const running = e.run();
      await revertStarted.promise;
      clock.advance(20);
      const error = await running.then(() => undefined, (err: unknown) => err);
      assert.equal(e.storage.getAtomState('stuck'), 'REVERT_FAILURE');
      const f = e.storage.getRevertFailures()['stuck']!;
      assert.ok(f.check(AtomTimeout));
      assert.match(f.message, /revert within 20 ms/);
      assert.ok(error);
    });

    test('suspend() with an atom that ignores its signal: the run ends SUSPENDED at its timeout, the atom left to run again', async () => {
      const clock = new ManualClock();
      const g = gate('deaf', { timeoutMs: 1000 });
      const after = task({ name: 'after', execute: () => 'after' });
      const flow = () => new LinearFlow('s').add(g.task, after);
      const e = load(flow(), { engine, clock });
      const running = e.run();
      await g.started.promise;
      e.suspend();
      clock.advance(1000);
      await running;
      assert.equal(e.storage.getFlowState(), 'SUSPENDED');
      assert.equal(e.storage.getAtomState('deaf'), 'RUNNING', 'marked for re-run, not failed');
      assert.deepEqual(e.storage.getExecuteFailures(), {});
      assert.equal(e.storage.getAtomState('after'), 'PENDING');
      // Run again: the abandoned atom runs again (this time it answers).
      g.release.resolve('late and ignored');
      let second = 0;
      const again = load(
        new LinearFlow('s').add(task({ name: 'deaf', timeoutMs: 1000, execute: () => ++second }), task({ name: 'after', execute: () => 'after' })),
        { engine, clock, backend: e.backend, flowDetail: e.flowDetail.uuid },
      );
      await again.run();
      assert.equal(again.storage.getFlowState(), 'SUCCESS');
      assert.equal(again.storage.get('deaf'), 1);
    });

    test('the load option timeoutMs is the default for atoms without their own', async () => {
      const clock = new ManualClock();
      const g = gate('defaulted');
      const own = gate('own', { timeoutMs: 500 });
      const e = load(new LinearFlow('d').add(g.task), { engine, clock, timeoutMs: 30, onFailure: 'halt' });
      const running = e.run();
      await g.started.promise;
      clock.advance(30);
      await assert.rejects(running, (err: unknown) => err instanceof AtomTimeout && err.timeoutMs === 30);
      const e2 = load(own.task, { engine, clock, timeoutMs: 30, onFailure: 'halt' });
      const r2 = e2.run();
      await own.started.promise;
      clock.advance(30);
      assert.equal(e2.storage.getAtomState('own'), 'RUNNING', 'its own timeout wins');
      clock.advance(470);
      await assert.rejects(r2, (err: unknown) => err instanceof AtomTimeout && err.timeoutMs === 500);
    });

    test('no timeout, no timer; timers of atoms that finish in time are cleared', async () => {
      const clock = new ManualClock();
      const g = gate('untimed');
      const e = load(new LinearFlow('n').add(g.task, task({ name: 'quick', timeoutMs: 5, execute: async () => 'q' })), { engine, clock });
      const running = e.run();
      await g.started.promise;
      assert.equal(clock.pending, 0);
      g.release.resolve('done');
      await running;
      assert.equal(clock.pending, 0);
      assert.equal(e.storage.get('quick'), 'q');
    });

    test("the run's abort still interrupts an atom with a timeout (it stays RUNNING, nothing fails)", async () => {
      const clock = new ManualClock();
      const g = gate('abortable', { timeoutMs: 1000, honour: true });
      const controller = new AbortController();
      const e = load(g.task, { engine, clock });
      const running = e.run({ signal: controller.signal });
      await g.started.promise;
      controller.abort();
      await running;
      assert.equal(e.storage.getFlowState(), 'SUSPENDED');
      assert.equal(e.storage.getAtomState('abortable'), 'RUNNING');
      assert.equal(clock.pending, 0);
    });
  });
}

test('timeoutMs is validated on atoms and in load options', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '10', 2 ** 31]) {
    assert.throws(() => task({ name: 't', timeoutMs: bad as number, execute: () => 1 }), InvariantViolation, String(bad));
    assert.throws(() => load(task({ name: 't', execute: () => 1 }), { timeoutMs: bad as number }), InvariantViolation, String(bad));
  }
  assert.equal(task({ name: 't', timeoutMs: 1.5, execute: () => 1 }).timeoutMs, 1.5);
});
