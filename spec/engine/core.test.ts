/**
 * Engine behaviour suite (TaskFlow's test_engines / test_suspend, in our words), run once per
 * engine kind with whole event transcripts compared.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EngineLocked,
  Failure,
  GraphFlow,
  LinearFlow,
  UnorderedFlow,
  WrappedFailure,
  load,
  run,
  task,
} from '../../index.js';
import { withEngine, Capture, Failing, Nasty, NastyFailing, Progressing, RuntimeError, T, suiteConfigs, forEngine, iterStates, raised, sleep, type Journal } from '../support/index.js';

for (const engine of suiteConfigs) {
  const test = forEngine(engine);
  describe(`${engine} engine`, () => {
    test('linear flow reverts in exact reverse order and re-raises the original error', async () => {
      const flow = new LinearFlow('lin').add(new T('t1', { ret: 1 }), new T('t2', { ret: 2 }), new T('t3', { fail: true }), new T('t4'));
      const e = load(flow, withEngine(engine));
      const cap = new Capture(e);
      let thrown: unknown;
      await e.run().catch((err: unknown) => (thrown = err));
      assert.deepEqual(raised(engine, thrown), { type: 'RuntimeError', message: 'fail-t3' });
      assert.deepEqual(cap.values, [
        'lin.f RUNNING',
        't1.t RUNNING',
        't1.t SUCCESS(1)',
        't2.t RUNNING',
        't2.t SUCCESS(2)',
        't3.t RUNNING',
        't3.t FAILURE(Failure: RuntimeError: fail-t3)',
        't3.t REVERTING',
        't3.t REVERTED(None)',
        't2.t REVERTING',
        't2.t REVERTED(None)',
        't1.t REVERTING',
        't1.t REVERTED(None)',
        'lin.f REVERTED',
      ]);
      assert.equal(e.storage.getAtomState('t4'), 'PENDING');
      assert.equal(e.storage.getAtomIntention('t4'), 'REVERT');
      assert.equal(e.storage.getAtomIntention('t1'), 'REVERT');
      assert.deepEqual(e.storage.fetchAll(), {});
      assert.ok(e.storage.get('t3') instanceof Failure);
      assert.throws(() => e.storage.get('t1'), /not known/);
      assert.equal(e.storage.getRevertResult('t1'), undefined);
    });

    test('revert gets its own Failure as result and every execute failure', async () => {
      const seen: Array<[string, unknown, string[]]> = [];
      const mk = (name: string, fail: boolean) =>
        task({
          name,
          execute: () => {
            if (fail) throw new Error(`fail-${name}`);
            return `R-${name}`;
          },
          revert: (_a, ctx) => void seen.push([name, ctx.result instanceof Failure ? ctx.result.toString() : ctx.result, Object.keys(ctx.flowFailures)]),
        });
      await assert.rejects(run(new LinearFlow('f').add(mk('t1', false), mk('t2', true)), withEngine(engine)), /fail-t2/);
      assert.deepEqual(seen, [
        ['t2', 'Failure: Error: fail-t2', ['t2']],
        ['t1', 'R-t1', ['t2']],
      ]);
    });

    test('nested linear flows revert children in reverse order', async () => {
      const j: Journal = [];
      const flow = new LinearFlow('root').add(new T('task1', { journal: j }), new LinearFlow('child').add(new T('task2', { journal: j }), new T('fail', { fail: true, journal: j })));
      await assert.rejects(load(flow, withEngine(engine)).run(), /fail-fail/);
      assert.deepEqual(j, ['task1 execute', 'task2 execute', 'fail execute', 'fail revert', 'task2 revert', 'task1 revert']);
    });

    test('graph flow orders by requires/provides whatever the add order, and reverts backwards', async () => {
      const j: Journal = [];
      const flow = new GraphFlow('g').add(
        new T('task4', { requires: ['c'], journal: j }),
        new T('task2', { requires: ['a'], provides: 'b', ret: 2, journal: j }),
        new T('task3', { requires: ['b'], provides: 'c', fail: true, journal: j }),
        new T('task1', { provides: 'a', ret: 1, journal: j }),
      );
      const e = load(flow, withEngine(engine));
      await assert.rejects(e.run(), /fail-task3/);
      assert.deepEqual(j, ['task1 execute', 'task2 execute {"a":1}', 'task3 execute {"b":2}', 'task3 revert', 'task2 revert', 'task1 revert']);
      assert.equal(e.storage.getAtomState('task4'), 'PENDING');
      assert.equal(e.storage.getFlowState(), 'REVERTED');
    });

    test('a revert that throws stops reverting: FAILURE and the revert error', async () => {
      const flow = new LinearFlow('lin').add(new T('t1'), new T('nasty', { rfail: true }), new T('t3', { fail: true }));
      const e = load(flow, withEngine(engine));
      const cap = new Capture(e);
      let thrown: unknown;
      await e.run().catch((err: unknown) => (thrown = err));
      assert.deepEqual(raised(engine, thrown), { type: 'TypeError', message: 'rfail-nasty' });
      assert.deepEqual(cap.values.slice(-6), [
        't3.t FAILURE(Failure: RuntimeError: fail-t3)',
        't3.t REVERTING',
        't3.t REVERTED(None)',
        'nasty.t REVERTING',
        'nasty.t REVERT_FAILURE(Failure: TypeError: rfail-nasty)',
        'lin.f FAILURE',
      ]);
      assert.equal(e.storage.getAtomState('t1'), 'SUCCESS');
      assert.equal(e.storage.getAtomIntention('t1'), 'REVERT');
      assert.deepEqual(Object.keys(e.storage.getExecuteFailures()), ['t3']);
      assert.deepEqual(Object.keys(e.storage.getRevertFailures()), ['nasty']);
    });

    test('running again after a failed revert retries the revert and finishes reverting', async () => {
      let attempts = 0;
      const flaky = task({
        name: 'flaky',
        execute: () => 'x',
        revert: () => {
          attempts++;
          if (attempts === 1) throw new Error('revert broke');
        },
      });
      const j: Journal = [];
      const flow = new LinearFlow('f').add(new T('t1', { journal: j }), flaky, new T('boom', { fail: true }));
      const e = load(flow, withEngine(engine));
      await assert.rejects(e.run(), /revert broke/);
      assert.equal(e.storage.getFlowState(), 'FAILURE');
      const cap = new Capture(e);
      await assert.rejects(e.run(), /fail-boom/);
      assert.deepEqual(cap.values, ['f.f RUNNING', 'flaky.t REVERTING', 'flaky.t REVERTED(None)', 't1.t REVERTING', 't1.t REVERTED(None)', 'f.f REVERTED']);
      assert.deepEqual(j, ['t1 execute', 't1 revert']);
    });

    test('a task whose execute and revert both fail', async () => {
      const e = load(new LinearFlow('f').add(new NastyFailing({ name: 'nf' })), withEngine(engine));
      const cap = new Capture(e);
      await assert.rejects(e.run(), /Gotcha!/);
      assert.deepEqual(cap.values, ['f.f RUNNING', 'nf.t RUNNING', 'nf.t FAILURE(Failure: RuntimeError: Woot!)', 'nf.t REVERTING', 'nf.t REVERT_FAILURE(Failure: RuntimeError: Gotcha!)', 'f.f FAILURE']);
    });

    test("onFailure 'halt' leaves the run un-reverted in FAILURE, and a re-run continues", async () => {
      let fail = true;
      const j: Journal = [];
      const flaky = task({
        name: 'flaky',
        execute: () => {
          j.push('flaky execute');
          if (fail) throw new Error('not yet');
          return 1;
        },
      });
      const e = load(new LinearFlow('f').add(new T('t1', { journal: j }), flaky, new T('t3', { journal: j })), withEngine(engine, { onFailure: 'halt' }));
      await assert.rejects(e.run(), /not yet/);
      assert.equal(e.storage.getFlowState(), 'FAILURE');
      assert.equal(e.storage.getAtomState('t1'), 'SUCCESS');
      assert.equal(e.storage.getAtomIntention('t1'), 'EXECUTE');
      assert.equal(e.storage.getAtomState('t3'), 'PENDING');
      fail = false;
      await e.run();
      assert.equal(e.storage.getFlowState(), 'SUCCESS');
      assert.deepEqual(j, ['t1 execute', 'flaky execute', 'flaky execute', 't3 execute']);
    });

    test('several failures are raised as one WrappedFailure', async () => {
      const flow = new UnorderedFlow('u').add(new T('a', { fail: true }), new T('b', { fail: true }), new T('c'));
      const e = load(flow, withEngine(engine));
      let thrown: unknown;
      await e.run().catch((err: unknown) => (thrown = err));
      assert.ok(thrown instanceof WrappedFailure);
      assert.equal(thrown.length, 2);
      assert.equal(thrown.check(RuntimeError), RuntimeError);
      assert.deepEqual(thrown.failures.map((f) => f.message).sort(), ['fail-a', 'fail-b']);
      for (const n of ['a', 'b', 'c']) assert.equal(e.storage.getAtomState(n), 'REVERTED');
    });

    test('after SUCCESS a second run does nothing but report the flow', async () => {
      const j: Journal = [];
      const e = load(new LinearFlow('f').add(new T('a', { journal: j })), withEngine(engine));
      await e.run();
      const cap = new Capture(e);
      await e.run();
      assert.deepEqual(cap.values, ['f.f RUNNING', 'f.f SUCCESS']);
      assert.deepEqual(j, ['a execute']);
    });

    test('after REVERTED a second run resets and runs again', async () => {
      const e = load(new LinearFlow('fail').add(new Failing('fail')), withEngine(engine));
      await assert.rejects(e.run(), /Woot!/);
      const cap = new Capture(e);
      await assert.rejects(e.run(), /Woot!/);
      assert.deepEqual(cap.values, [
        'fail.t PENDING',
        'fail.f PENDING',
        'fail.f RUNNING',
        'fail.t RUNNING',
        'fail.t FAILURE(Failure: RuntimeError: Woot!)',
        'fail.t REVERTING',
        'fail.t REVERTED(None)',
        'fail.f REVERTED',
      ]);
    });

    test('reset() starts over', async () => {
      const j: Journal = [];
      const e = load(new LinearFlow('f').add(new T('a', { journal: j }), new T('b', { journal: j })), withEngine(engine));
      await e.run();
      const cap = new Capture(e);
      await e.reset();
      assert.deepEqual(cap.values, ['a.t PENDING', 'b.t PENDING', 'f.f PENDING']);
      await e.run();
      assert.deepEqual(j, ['a execute', 'b execute', 'a execute', 'b execute']);
    });

    test('priority orders ready atoms, for execution and for revert', async () => {
      const j: Journal = [];
      const flow = new UnorderedFlow('u');
      for (let i = 0; i < 6; i++) flow.add(new T(`task${i}`, { priority: i, journal: j }));
      const g = new LinearFlow('g').add(flow, new T('boom', { fail: true }));
      await assert.rejects(load(g, withEngine(engine, { maxWorkers: 1 })).run(), /fail-boom/);
      assert.deepEqual(
        j.filter((x) => x.endsWith('execute')),
        ['task5 execute', 'task4 execute', 'task3 execute', 'task2 execute', 'task1 execute', 'task0 execute'],
      );
      assert.deepEqual(
        j.filter((x) => x.endsWith('revert')),
        ['task5 revert', 'task4 revert', 'task3 revert', 'task2 revert', 'task1 revert', 'task0 revert'],
      );
    });

    test('progress events: 0.0 and 1.0 from the engine around what the task reports', async () => {
      const e = load(
        task({
          name: 'p',
          execute: (_a, ctx) => {
            ctx.progress(0.5, { step: 'half' });
            ctx.progress(1.7);
          },
        }),
        withEngine(engine),
      );
      const seen: Array<number | string> = [];
      e.on('progress', (ev) => seen.push(ev.details ? `${ev.progress}:${JSON.stringify(ev.details)}` : ev.progress));
      await e.run();
      assert.deepEqual(seen, [0, '0.5:{"step":"half"}', 1, 1]);
      assert.equal(e.storage.getProgress('p'), 1);
    });

    test('a second run() while one is running is refused', async () => {
      const e = load(task({ name: 'slow', execute: () => sleep(20) }), withEngine(engine));
      const first = e.run();
      await assert.rejects(e.run(), EngineLocked);
      await first;
    });

    test('a single task can be the root; the flow is named after it', async () => {
      const e = load(new Progressing('solo', { provides: 'v' }), withEngine(engine));
      const cap = new Capture(e);
      await e.run();
      assert.deepEqual(cap.values, ['solo.f RUNNING', 'solo.t RUNNING', 'solo.t SUCCESS(5)', 'solo.f SUCCESS']);
      assert.deepEqual(e.storage.fetchAll(), { v: 5 });
    });

    test('empty flows of every pattern succeed with the TaskFlow loop states', async () => {
      for (const f of [new LinearFlow('l'), new UnorderedFlow('u'), new GraphFlow('g')]) {
        const { states, error } = await iterStates(load(f, withEngine(engine)));
        assert.equal(error, undefined);
        assert.deepEqual(states, ['RESUMING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'SUCCESS']);
      }
    });

    test('runIter: two linear tasks, and a failing one that raises after REVERTED', async () => {
      const ok = await iterStates(load(new LinearFlow('l').add(new T('a'), new T('b')), withEngine(engine)));
      assert.deepEqual(ok.states, ['RESUMING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'SUCCESS']);
      const bad = await iterStates(load(new LinearFlow('l').add(new T('a', { fail: true })), withEngine(engine)));
      assert.deepEqual(bad.states, ['RESUMING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'REVERTED']);
      assert.equal(raised(engine, bad.error).type, 'RuntimeError');
    });

    test('a Nasty task reverting last makes the flow FAILURE', async () => {
      const e = load(new LinearFlow('f').add(new Nasty({ name: 'n' }), new Failing('boom')), withEngine(engine));
      await assert.rejects(e.run(), /Gotcha!/);
      assert.equal(e.storage.getFlowState(), 'FAILURE');
      assert.equal(e.storage.getAtomState('n'), 'REVERT_FAILURE');
    });
  });
}

describe('serial engine specifics', () => {
  test('every atom of a ready batch runs before any result is analysed', async () => {
    const flow = new UnorderedFlow('u').add(new T('a', { priority: 3 }), new T('b', { fail: true, priority: 2 }), new T('c', { priority: 1 }));
    const e = load(flow, { engine: 'serial' });
    const cap = new Capture(e, { flows: false });
    await assert.rejects(e.run(), /fail-b/);
    assert.deepEqual(cap.values.slice(0, 6), ['a.t RUNNING', 'b.t RUNNING', 'c.t RUNNING', 'a.t SUCCESS(None)', 'b.t FAILURE(Failure: RuntimeError: fail-b)', 'c.t SUCCESS(None)']);
    for (const n of ['a', 'b', 'c']) assert.equal(e.storage.getAtomState(n), 'REVERTED');
  });

  test('unordered pair is one batch: RESUMING, SCHEDULING, WAITING, ANALYZING, SUCCESS', async () => {
    const { states } = await iterStates(load(new UnorderedFlow('u').add(new T('a'), new T('b')), { engine: 'serial' }));
    assert.deepEqual(states, ['RESUMING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'SUCCESS']);
  });
});

describe('parallel engine specifics', () => {
  test('a running sibling finishes after a failure and is then reverted with its result', async () => {
    const reverts: Array<[string, unknown]> = [];
    // 'slow' finishes only once 'fastfail' has been reverted (no timing involved).
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = task({
      name: 'slow',
      execute: async () => {
        await gate;
        return 'slow-done';
      },
      revert: (_a, ctx) => void reverts.push(['slow', ctx.result]),
    });
    const fastfail = task({
      name: 'fastfail',
      execute: async () => {
        await sleep(1);
        throw new RuntimeError('fast fails');
      },
    });
    const flow = new LinearFlow('root').add(new T('first'), new UnorderedFlow('uf').add(slow, fastfail));
    const e = load(flow, { engine: 'parallel' });
    const cap = new Capture(e);
    e.on('atom', (ev) => {
      if (ev.name === 'fastfail' && ev.state === 'REVERTED') release();
    });
    await assert.rejects(e.run(), /fast fails/);
    assert.deepEqual(cap.values, [
      'root.f RUNNING',
      'first.t RUNNING',
      'first.t SUCCESS(None)',
      'slow.t RUNNING',
      'fastfail.t RUNNING',
      'fastfail.t FAILURE(Failure: RuntimeError: fast fails)',
      'fastfail.t REVERTING',
      'fastfail.t REVERTED(None)',
      'slow.t SUCCESS(slow-done)',
      'slow.t REVERTING',
      'slow.t REVERTED(None)',
      'first.t REVERTING',
      'first.t REVERTED(None)',
      'root.f REVERTED',
    ]);
    assert.deepEqual(reverts, [['slow', 'slow-done']]);
  });

  test('ready atoms run concurrently up to maxWorkers', async () => {
    let running = 0;
    let peak = 0;
    const flow = new UnorderedFlow('u');
    for (let i = 0; i < 8; i++) {
      flow.add(
        task({
          name: `w${i}`,
          execute: async () => {
            running++;
            peak = Math.max(peak, running);
            await sleep(10);
            running--;
          },
        }),
      );
    }
    await load(flow, { engine: 'parallel', maxWorkers: 3 }).run();
    assert.equal(peak, 3);
  });
});
