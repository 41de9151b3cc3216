/**
 * The default revertScope is 'defer-to-parent' (a retry that gives up with REVERT and has no parent
 * retry makes the whole run revert, so a REVERTED run is fully compensated), and a run's
 * `onFailure` / `revertScope` are stored with it: a resumed run follows them without being told
 * again; options given at resume win and are stored. On every engine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AlwaysRevert, LinearFlow, StorageFailure, Times, load, resume, task, type Engine, type FlowItem } from '../../index.js';
import { T, engineConfigs, withEngine, type Journal } from '../support/index.js';

/** The trial service's saga: reserve stock, then pay under a retry that gives up (REVERT). */
function saga(j: Journal): FlowItem {
  return new LinearFlow('order').add(
    new T('reserve', { journal: j }),
    new LinearFlow('payment', { retry: new Times({ name: 'pay-retry', attempts: 2 }) }).add(new T('charge', { fail: true, journal: j })),
    new T('ship', { journal: j }),
  );
}

/** outer{a, inner[AlwaysRevert]{b, c fails}}; `failC` says whether c fails this time. */
function nested(j: Journal, failC: { value: boolean }): FlowItem {
  return new LinearFlow('outer').add(
    new T('a', { journal: j }),
    new LinearFlow('inner', { retry: new AlwaysRevert({ name: 'ar' }) }).add(
      new T('b', { journal: j }),
      task({
        name: 'c',
        execute: () => {
          j.push('c execute');
          if (failC.value) throw new Error('declined');
        },
      }),
    ),
  );
}

/** Suspends `e` as soon as atom `name` succeeds (so the rest runs on resume). */
function suspendAfter(e: Engine, name: string): void {
  e.on('atom', (ev) => {
    if (ev.name === name && ev.state === 'SUCCESS') e.suspend();
  });
}

for (const engine of engineConfigs) {
  describe(`${engine} engine: revertScope default and persisted failure rules`, () => {
    test('by default a retry that gives up with REVERT and has no parent retry reverts the whole run', async () => {
      const j: Journal = [];
      const e = load(saga(j), withEngine(engine));
      await assert.rejects(e.run(), /fail-charge/);
      assert.equal(e.storage.getFlowState(), 'REVERTED');
      assert.equal(e.storage.getAtomState('reserve'), 'REVERTED');
      assert.deepEqual(j, ['reserve execute', 'charge execute', 'charge revert', 'charge execute', 'charge revert', 'reserve revert']);
      assert.equal(e.storage.getAtomState('ship'), 'PENDING');
    });

    test("revertScope 'subflow' (asked for) still undoes only the retry's subflow", async () => {
      const j: Journal = [];
      const e = load(saga(j), withEngine(engine, { revertScope: 'subflow' }));
      await assert.rejects(e.run(), /fail-charge/);
      assert.equal(e.storage.getFlowState(), 'REVERTED');
      assert.equal(e.storage.getAtomState('reserve'), 'SUCCESS');
      assert.ok(!j.includes('reserve revert'));
    });

    test('a new run stores its rules (given or default) in its flow detail meta', async () => {
      const e1 = load(saga([]), withEngine(engine));
      await e1.prepare();
      assert.deepEqual(e1.flowDetail.meta['options'], { onFailure: 'revert', revertScope: 'defer-to-parent' });
      assert.deepEqual(e1.rules, { onFailure: 'revert', revertScope: 'defer-to-parent' });
      const e2 = load(saga([]), withEngine(engine, { onFailure: 'halt', revertScope: 'subflow' }));
      await e2.prepare();
      const stored = await e2.backend.getFlowDetail(e2.flowDetail.uuid);
      assert.deepEqual(stored.meta['options'], { onFailure: 'halt', revertScope: 'subflow' });
    });

    test("resume() keeps the stored revertScope 'subflow' without being told again", async () => {
      const j: Journal = [];
      const failC = { value: true };
      const e1 = load(nested(j, failC), withEngine(engine, { revertScope: 'subflow' }));
      suspendAfter(e1, 'b');
      await e1.run();
      assert.equal(e1.storage.getFlowState(), 'SUSPENDED');
      const { engine: kind } = withEngine(engine);
      const err = await resume(e1.flowDetail.uuid, { backend: e1.backend, ...(kind ? { engine: kind } : {}), factory: () => nested(j, failC) }).then(
        () => assert.fail('the resumed run should reject'),
        (e: unknown) => e,
      );
      assert.match(String(err), /declined/);
      const stored = await e1.backend.getFlowDetail(e1.flowDetail.uuid);
      assert.equal(stored.state, 'REVERTED');
      assert.equal(stored.atomDetails.find((d) => d.name === 'a')!.state, 'SUCCESS', 'subflow scope: a stays done');
      assert.deepEqual(stored.meta['options'], { onFailure: 'revert', revertScope: 'subflow' });
    });

    test('an option given at resume wins over the stored one and is stored in its place', async () => {
      const j: Journal = [];
      const failC = { value: true };
      const e1 = load(nested(j, failC), withEngine(engine, { revertScope: 'subflow' }));
      suspendAfter(e1, 'b');
      await e1.run();
      const { engine: kind } = withEngine(engine);
      const e2 = load(nested(j, failC), { backend: e1.backend, flowDetail: e1.flowDetail.uuid, revertScope: 'defer-to-parent', ...(kind ? { engine: kind } : {}) });
      await assert.rejects(e2.run(), /declined/);
      assert.equal(e2.storage.getAtomState('a'), 'REVERTED');
      assert.deepEqual(e2.rules, { onFailure: 'revert', revertScope: 'defer-to-parent' });
      const stored = await e1.backend.getFlowDetail(e1.flowDetail.uuid);
      assert.deepEqual(stored.meta['options'], { onFailure: 'revert', revertScope: 'defer-to-parent' });
    });

    test("onFailure 'halt' is kept by a reloaded run: it runs the failed atom again instead of reverting", async () => {
      const j: Journal = [];
      const failC = { value: true };
      const e1 = load(nested(j, failC), withEngine(engine, { onFailure: 'halt' }));
      await assert.rejects(e1.run(), /declined/);
      assert.equal(e1.storage.getFlowState(), 'FAILURE');
      failC.value = false;
      const { engine: kind } = withEngine(engine);
      const e2 = load(nested(j, failC), { backend: e1.backend, flowDetail: e1.flowDetail.uuid, ...(kind ? { engine: kind } : {}) });
      await e2.run();
      assert.equal(e2.storage.getFlowState(), 'SUCCESS');
      assert.deepEqual(j, ['a execute', 'b execute', 'c execute', 'c execute']);
    });

    test('a stored rule that is not one is a StorageFailure naming the flow', async () => {
      const e1 = load(saga([]), withEngine(engine));
      await e1.prepare();
      const fd = e1.flowDetail;
      await e1.backend.commit(fd.uuid, { flow: { ...fd, meta: { ...fd.meta, options: { onFailure: 'revert', revertScope: 'everything' } } } });
      const e2 = load(saga([]), { backend: e1.backend, flowDetail: fd.uuid });
      await assert.rejects(e2.run(), (e: unknown) => e instanceof StorageFailure && e.message.includes(fd.uuid) && e.message.includes('revertScope'));
    });
  });
}
