/**
 * Graph link deciders (depths, history, ignore) and suspension (TaskFlow's decider tests and
 * test_suspend), on every engine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphFlow, LinearFlow, NotFound, load, task, type Depth } from '../../index.js';
import { withEngine, Capture, Progressing, T, suiteConfigs, forEngine, iterStates, sleep, type Journal } from '../support/index.js';

for (const engine of suiteConfigs) {
  const test = forEngine(engine);
  describe(`${engine} engine: deciders`, () => {
    const depthCases: Array<[Depth, string[], number]> = [
      ['ALL', ['SUCCESS', 'IGNORE', 'IGNORE', 'IGNORE', 'IGNORE'], 1],
      ['FLOW', ['SUCCESS', 'IGNORE', 'SUCCESS', 'IGNORE', 'IGNORE'], 2],
      ['NEIGHBORS', ['SUCCESS', 'IGNORE', 'SUCCESS', 'IGNORE', 'SUCCESS'], 3],
      ['ATOM', ['SUCCESS', 'IGNORE', 'SUCCESS', 'SUCCESS', 'SUCCESS'], 4],
    ];
    for (const [depth, states, runs] of depthCases) {
      test(`depth ${depth} ignores ${runs === 1 ? 'all successors' : 'per depth'}`, async () => {
        const j: Journal = [];
        const sub = new LinearFlow('g_1').add(new T('g_1-1', { journal: j }));
        const g = new GraphFlow('g').add(new T('g-1', { journal: j }), new T('g-2', { journal: j }), sub, new T('g-3', { journal: j }), new T('g-4', { journal: j }));
        g.link('g-1', 'g-2', { decider: () => false, deciderDepth: depth });
        g.link('g-2', sub);
        g.link('g-2', 'g-3');
        g.link('g-3', 'g-4');
        g.link('g-1', sub, { decider: () => true, deciderDepth: depth });
        const e = load(g, withEngine(engine));
        await e.run();
        assert.equal(e.storage.getFlowState(), 'SUCCESS');
        assert.deepEqual(['g-1', 'g-2', 'g_1-1', 'g-3', 'g-4'].map((n) => e.storage.getAtomState(n)), states);
        assert.equal(j.length, runs);
      });
    }

    test('deciders get the results of every decider source; an ignored subflow emits IGNORE only', async () => {
      const histories: Array<Record<string, unknown>> = [];
      const sub = new LinearFlow('sub').add(new Progressing('task3'), new Progressing('task4'));
      const g = new GraphFlow('g').add(new Progressing('task1'), new Progressing('task2'), sub);
      g.link('task1', 'task2');
      g.link('task2', sub, { decider: (h) => (histories.push(h), false) });
      g.link('task1', sub, { decider: (h) => (histories.push(h), false) });
      const e = load(g, withEngine(engine));
      const cap = new Capture(e, { flows: false });
      await e.run();
      assert.deepEqual(cap.values, ['task1.t RUNNING', 'task1.t SUCCESS(5)', 'task2.t RUNNING', 'task2.t SUCCESS(5)', 'task3.t IGNORE', 'task4.t IGNORE']);
      assert.equal(histories.length, 2);
      for (const h of histories) assert.deepEqual(h, { task1: 5, task2: 5 });
      assert.throws(() => e.storage.get('task3'), /ignored/);
    });

    test('an ignored atom that would fail never runs; reset() brings ignored atoms back', async () => {
      let allow = false;
      const g = new GraphFlow('g').add(new T('a', { ret: 1 }), new T('bad', { fail: true }));
      g.link('a', 'bad', { decider: () => allow });
      const e = load(g, withEngine(engine));
      await e.run();
      assert.equal(e.storage.getAtomState('bad'), 'IGNORE');
      await e.reset();
      assert.equal(e.storage.getAtomState('bad'), 'PENDING');
      allow = true;
      await assert.rejects(e.run(), /fail-bad/);
    });

    test('jumping over an ignored provider at ATOM depth uses an earlier provider in scope', async () => {
      const inc = (name: string) => task({ name, requires: ['value'], provides: 'value', execute: ({ value }: { value: number }) => value + 1 });
      const g = new GraphFlow('g').add(task({ name: 'a', provides: 'value', execute: () => 1 }), inc('b'));
      g.link('a', 'b', { decider: () => false, deciderDepth: 'ATOM' });
      const c = task({ name: 'c', requires: ['value'], provides: 'out', execute: ({ value }: { value: number }) => value + 1 });
      const root = new LinearFlow('root').add(g, c);
      const e = load(root, withEngine(engine));
      await e.run();
      assert.equal(e.storage.getAtomState('b'), 'IGNORE');
      assert.equal(e.storage.fetch('out'), 2);
    });

    test('a consumer of an ignored provider fails at schedule time: FAILURE without revert', async () => {
      const j: Journal = [];
      const g = new GraphFlow('g').add(new T('s', { journal: j, ret: 5 }));
      const p = new T('p', { provides: 'x', ret: 1, journal: j });
      const u = new T('u', { requires: ['x'], journal: j });
      g.add(p, u);
      g.link('s', p, { decider: () => false, deciderDepth: 'ATOM' });
      const e = load(g, withEngine(engine));
      await assert.rejects(e.run(), NotFound);
      assert.equal(e.storage.getFlowState(), 'FAILURE');
      assert.equal(e.storage.getAtomState('s'), 'SUCCESS');
      assert.deepEqual(j, ['s execute']);
    });
  });

  describe(`${engine} engine: suspension`, () => {
    test('suspend at the first WAITING: the running atom finishes, the rest wait for the next run', async () => {
      const flow = new LinearFlow('f').add(new T('a'), new T('b'), new T('c'));
      const e = load(flow, withEngine(engine));
      const cap = new Capture(e);
      const { states } = await iterStates(e, (s) => {
        if (s === 'WAITING') e.suspend();
      });
      assert.deepEqual(states, ['RESUMING', 'SCHEDULING', 'WAITING', 'ANALYZING', 'SUSPENDED']);
      assert.deepEqual(cap.values, ['f.f RUNNING', 'a.t RUNNING', 'f.f SUSPENDING', 'a.t SUCCESS(None)', 'f.f SUSPENDED']);
      cap.clear();
      await e.run();
      assert.deepEqual(cap.values, ['f.f RUNNING', 'b.t RUNNING', 'b.t SUCCESS(None)', 'c.t RUNNING', 'c.t SUCCESS(None)', 'f.f SUCCESS']);
    });

    test('a task that calls suspend() finishes; nothing after it starts', async () => {
      const j2: Journal = [];
      const flow3 = new LinearFlow('susp');
      let engineRef: ReturnType<typeof load> | undefined;
      flow3.add(new T('first', { journal: j2, ret: 'ok' }), task({ name: 'boom', execute: () => void (j2.push('boom execute'), engineRef!.suspend()) }), new T('second', { journal: j2 }));
      engineRef = load(flow3, withEngine(engine));
      await engineRef.run();
      assert.equal(engineRef.storage.getFlowState(), 'SUSPENDED');
      assert.deepEqual(['first', 'boom', 'second'].map((n) => engineRef!.storage.getAtomState(n)), ['SUCCESS', 'SUCCESS', 'PENDING']);
      assert.deepEqual(j2, ['first execute', 'boom execute']);
      await engineRef.run();
      assert.equal(engineRef.storage.getFlowState(), 'SUCCESS');
      assert.deepEqual(j2, ['first execute', 'boom execute', 'second execute']);
    });

    test('closing runIter right after SCHEDULING suspends cleanly before any atom runs', async () => {
      const j: Journal = [];
      const e = load(new LinearFlow('f').add(new T('a', { journal: j })), withEngine(engine));
      for await (const s of e.runIter()) if (s === 'SCHEDULING') break;
      assert.equal(e.storage.getFlowState(), 'SUSPENDED');
      assert.deepEqual(j, []);
      await e.run();
      assert.deepEqual(j, ['a execute']);
    });

    test('suspend during revert: the rest of the revert and the original error come on the next run', async () => {
      const flow = new LinearFlow('f').add(new T('a'), new T('b'), new T('c', { fail: true }));
      const e = load(flow, withEngine(engine));
      const cap = new Capture(e);
      e.on('atom', (ev) => {
        if (ev.name === 'b' && ev.state === 'REVERTED') e.suspend();
      });
      await e.run();
      assert.deepEqual(cap.values.slice(-5), ['c.t REVERTED(None)', 'b.t REVERTING', 'b.t REVERTED(None)', 'f.f SUSPENDING', 'f.f SUSPENDED']);
      assert.equal(e.storage.getAtomState('a'), 'SUCCESS');
      assert.equal(e.storage.getAtomIntention('a'), 'REVERT');
      cap.clear();
      await assert.rejects(e.run(), /fail-c/);
      assert.deepEqual(cap.values, ['f.f RUNNING', 'a.t REVERTING', 'a.t REVERTED(None)', 'f.f REVERTED']);
    });

    test('aborting the run signal acts as suspend; an in-flight revert is never cancelled', async () => {
      const ac = new AbortController();
      const j: Journal = [];
      const flow = new LinearFlow('f').add(
        task({ name: 'a', execute: () => void j.push('a'), revert: async (_x, ctx) => void (await sleep(5), j.push(`a revert aborted=${ctx.signal.aborted}`)) }),
        task({
          name: 'b',
          execute: async () => {
            await sleep(5);
            throw new Error('b failed');
          },
          revert: async (_x, ctx) => {
            ac.abort();
            await sleep(5);
            j.push(`b revert aborted=${ctx.signal.aborted}`);
          },
        }),
      );
      const e = load(flow, withEngine(engine));
      await e.run({ signal: ac.signal });
      assert.equal(e.storage.getFlowState(), 'SUSPENDED');
      assert.deepEqual(j, ['a', 'b revert aborted=false']);
      await assert.rejects(e.run(), /b failed/);
      assert.deepEqual(j, ['a', 'b revert aborted=false', 'a revert aborted=false']);
    });
  });
}
