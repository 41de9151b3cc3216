/**
 * Readiness looks at the whole graph, not only at direct neighbours (TASKFLOW-SEMANTICS.md §3.5;
 * TaskFlow's selector walks every descendant to revert and every ancestor to execute): an ignored
 * atom does not let the atoms before it revert while something after it is still to be reverted,
 * nor the atoms after it execute while something before it still runs. On every engine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphFlow, LinearFlow, UnorderedFlow, load, task } from '../../index.js';
import { Capture, T, engineConfigs, withEngine, type Journal } from '../support/index.js';

/** Position of `entry` in the transcript (it must be there). */
function at(values: readonly string[], entry: string): number {
  const k = values.indexOf(entry);
  assert.notEqual(k, -1, `'${entry}' is not in ${JSON.stringify(values)}`);
  return k;
}

for (const engine of engineConfigs) {
  describe(`${engine} engine: revert order across ignored atoms`, () => {
    test('a →(no, ATOM) b → c(fails): a starts reverting only once c is REVERTED', async () => {
      const j: Journal = [];
      const g = new GraphFlow('g').add(new T('a', { journal: j }), new T('b', { journal: j }), new T('c', { fail: true, journal: j }));
      g.link('a', 'b', { decider: () => false, deciderDepth: 'ATOM' });
      g.link('b', 'c');
      const e = load(g, withEngine(engine));
      const cap = new Capture(e, { flows: false });
      await assert.rejects(e.run(), /fail-c/);
      assert.deepEqual(cap.values, [
        'a.t RUNNING',
        'a.t SUCCESS(None)',
        'b.t IGNORE',
        'c.t RUNNING',
        'c.t FAILURE(Failure: RuntimeError: fail-c)',
        'c.t REVERTING',
        'c.t REVERTED(None)',
        'a.t REVERTING',
        'a.t REVERTED(None)',
      ]);
      assert.deepEqual(j, ['a execute', 'c execute', 'c revert', 'a revert']);
      assert.deepEqual(['a', 'b', 'c'].map((n) => e.storage.getAtomState(n)), ['REVERTED', 'IGNORE', 'REVERTED']);
      assert.equal(e.storage.getFlowState(), 'REVERTED');
    });

    test('a →(no, ATOM) b → c → d(fails): a finishes reverting only after c', async () => {
      const j: Journal = [];
      const g = new GraphFlow('g').add(new T('a', { journal: j }), new T('b', { journal: j }), new T('c', { journal: j }), new T('d', { fail: true, journal: j }));
      g.link('a', 'b', { decider: () => false, deciderDepth: 'ATOM' });
      g.link('b', 'c');
      g.link('c', 'd');
      const e = load(g, withEngine(engine));
      const cap = new Capture(e, { flows: false });
      await assert.rejects(e.run(), /fail-d/);
      const v = cap.values;
      assert.ok(at(v, 'a.t REVERTING') > at(v, 'c.t REVERTED(None)'), `a reverted before c: ${JSON.stringify(v)}`);
      assert.ok(at(v, 'c.t REVERTING') > at(v, 'd.t REVERTED(None)'), `c reverted before d: ${JSON.stringify(v)}`);
      assert.deepEqual(j, ['a execute', 'c execute', 'd execute', 'd revert', 'c revert', 'a revert']);
      assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => e.storage.getAtomState(n)), ['REVERTED', 'IGNORE', 'REVERTED', 'REVERTED']);
    });

    test('a chain of ignored atoms (a →(no, NEIGHBORS) b1 → b2 → z(fails)) holds back a until z is reverted', async () => {
      const j: Journal = [];
      const g = new GraphFlow('g').add(new T('a', { journal: j }), new T('b1'), new T('b2'), new T('z', { fail: true, journal: j }));
      g.link('a', 'b1', { decider: () => false, deciderDepth: 'NEIGHBORS' });
      g.link('b1', 'b2');
      g.link('b2', 'z');
      const e = load(g, withEngine(engine));
      const cap = new Capture(e, { flows: false });
      await assert.rejects(e.run(), /fail-z/);
      assert.ok(at(cap.values, 'a.t REVERTING') > at(cap.values, 'z.t REVERTED(None)'), JSON.stringify(cap.values));
      assert.deepEqual(j, ['a execute', 'z execute', 'z revert', 'a revert']);
      assert.deepEqual(['b1', 'b2'].map((n) => e.storage.getAtomState(n)), ['IGNORE', 'IGNORE']);
    });

    test('an atom after an ignored one waits for everything before the ignored one (s →(no, NEIGHBORS) b → c → d, x → c)', async () => {
      const j: Journal = [];
      let open: () => void = () => {};
      const gate = new Promise<void>((resolve) => (open = resolve));
      const x = task({
        name: 'x',
        execute: async () => {
          await gate;
          j.push('x done');
        },
      });
      const g = new GraphFlow('g').add(x, new T('s', { journal: j }), new T('b', { journal: j }), new T('c', { journal: j }), new T('d', { journal: j }));
      g.link('s', 'b', { decider: () => false, deciderDepth: 'NEIGHBORS' });
      g.link('b', 'c');
      g.link('x', 'c');
      g.link('c', 'd');
      const e = load(g, withEngine(engine));
      // x finishes only once c is ignored: by then, on the parallel engine, d would start if it
      // looked at its direct predecessor only.
      e.on('atom', (ev) => {
        if (ev.name === 'c' && ev.state === 'IGNORE') open();
      });
      if (engine !== 'parallel') open(); // the serial engine runs x's batch before b is decided
      await e.run();
      assert.deepEqual(['b', 'c', 'd'].map((n) => e.storage.getAtomState(n)), ['IGNORE', 'IGNORE', 'SUCCESS']);
      assert.ok(j.indexOf('x done') < j.indexOf('d execute'), JSON.stringify(j));
    });
  });
}

describe('parallel engine: an execute cut short while the run turns to reverting', () => {
  test('an atom interrupted by abort after another failed is reverted on the next run, and so is what is before it', async () => {
    const j: Journal = [];
    const ac = new AbortController();
    const flow = new LinearFlow('f').add(
      new T('a', { journal: j }),
      new UnorderedFlow('u').add(
        task({
          name: 'slow',
          execute: (_args, ctx) =>
            new Promise((_resolve, reject) => {
              j.push('slow execute');
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
            }),
          revert: () => void j.push('slow revert'),
        }),
        new T('bad', { fail: true, journal: j }),
      ),
    );
    const e = load(flow, { engine: 'parallel' });
    e.on('atom', (ev) => {
      if (ev.name === 'bad' && ev.state === 'FAILURE') ac.abort();
    });
    await e.run({ signal: ac.signal });
    // slow was cut short: it stays RUNNING (its work may be half done) and the run is SUSPENDED, not REVERTED.
    assert.equal(e.storage.getFlowState(), 'SUSPENDED');
    assert.equal(e.storage.getAtomState('slow'), 'RUNNING');
    assert.equal(e.storage.getAtomState('a'), 'SUCCESS');
    await assert.rejects(e.run(), /fail-bad/);
    assert.deepEqual(['a', 'slow', 'bad'].map((n) => e.storage.getAtomState(n)), ['REVERTED', 'REVERTED', 'REVERTED']);
    assert.ok(j.indexOf('a revert') > j.indexOf('slow revert'), JSON.stringify(j));
  });
});
