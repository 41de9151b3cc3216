/** Conformance, part two: atom details, commit, ordering and value freshness (run by `backendConformance`). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation, NotFound } from '../../lib/errors.js';
import { Failure } from '../../lib/failure.js';
import { executionInfo, executionRecord, lastAttempt, updateAtom, updateFlow, withMeta, type StoredAttempt } from '../../persistence/models.js';
import { T0, attempt, flowWith, retry, seeded, task, type Use } from './fixtures.js';

class Woot extends Error {}

const RECORD = executionRecord('h', 7, 0, T0 + 1, T0 + 1.25, T0 + 1.25, T0 + 1.25, T0 + 1.25, T0 + 1.75, T0 + 1.75, T0 + 1.75, T0 + 1.75, T0 + 2, true, ['a', 'b']);

function captured(): Failure {
  try {
    throw new Woot('Woot!', { cause: new TypeError('inner cause') });
  } catch (err) {
    return Failure.from(err);
  }
}

export function recordTests(use: Use): void {
  describe('atom details', () => {
    test('saving atom details before their flow detail is NotFound; after saving the book it works', use(async (b) => {
      const td = task('detail-1');
      const flow = flowWith('test', [td]);
      await assert.rejects(b.saveAtomDetails(flow.uuid, [td]), NotFound);
      await assert.rejects(b.getAtomDetails(flow.uuid), NotFound);
      await assert.rejects(b.commit(flow.uuid, { atoms: [td] }), NotFound);
      await seeded(b); // another book: still not this flow
      await assert.rejects(b.saveAtomDetails(flow.uuid, [td]), NotFound);
      const book = (await seeded(b)).book;
      await b.saveFlowDetail(book.uuid, updateFlow(flow, { atomDetails: [] }));
      await b.saveAtomDetails(flow.uuid, [td]);
      assert.deepEqual((await b.getAtomDetails(flow.uuid)).map((a) => a.uuid), [td.uuid]);
    }));

    test('meta updates round trip and the kind stays task', use(async (b) => {
      const td = updateAtom(task('detail-1'), { meta: { test: 42 } });
      const { flow } = await seeded(b, [td]);
      await b.saveAtomDetails(flow.uuid, [updateAtom(td, { meta: { test: 43, progress: 0.5 } })]);
      const got = (await b.getFlowDetail(flow.uuid)).atomDetails[0];
      assert.equal(got?.meta['test'], 43);
      assert.equal(got?.meta.progress, 0.5);
      assert.equal(got?.kind, 'task');
    }));

    test('version, default intention, state, meta and timestamps round trip', use(async (b) => {
      const td = task('detail-1', { version: '4.2' });
      const done = updateAtom(td, {
        state: 'SUCCESS',
        results: { k: [1, 2, { deep: 'é✓' }] },
        meta: withMeta(td.meta, (m) => {
          m.progress = 1;
          m.execution = executionInfo(RECORD, undefined, undefined);
        }),
        updatedAt: T0 + 3,
      });
      const { book, flow } = await seeded(b, [done]);
      const got = (await b.getLogBook(book.uuid)).flowDetails[0]?.atomDetails[0];
      assert.ok(got);
      assert.equal(got.name, 'detail-1');
      assert.equal(got.version, '4.2');
      assert.equal(got.intention, 'EXECUTE');
      assert.equal(got.state, 'SUCCESS');
      assert.deepEqual(got.results, { k: [1, 2, { deep: 'é✓' }] });
      assert.equal(got.meta.progress, 1);
      assert.deepEqual(got.meta.execution?.execute, RECORD);
      assert.equal(got.meta.execution?.revert, undefined);
      assert.equal(got.createdAt, T0);
      assert.equal(got.updatedAt, T0 + 3);
      assert.equal(got.format, td.format);
      assert.deepEqual(await b.getAtomDetails(flow.uuid), [got]);
    }));

    test('a retry detail keeps its kind and intention (REVERT), also after an intention change', use(async (b) => {
      const rd = updateAtom(retry('retry-1'), { intention: 'REVERT' });
      const { flow } = await seeded(b, [rd]);
      let got = (await b.getAtomDetails(flow.uuid))[0];
      assert.equal(got?.kind, 'retry');
      assert.equal(got?.intention, 'REVERT');
      assert.deepEqual(got?.results, []);
      await b.saveAtomDetails(flow.uuid, [updateAtom(rd, { intention: 'RETRY' })]);
      got = (await b.getAtomDetails(flow.uuid))[0];
      assert.equal(got?.kind, 'retry');
      assert.equal(got?.intention, 'RETRY');
    }));

    test('failures round trip: type names, message, stack and cause', use(async (b) => {
      const fail = captured();
      const revertFail = Failure.from(new RangeError('revert went wrong'));
      const td = updateAtom(task('detail-1'), { state: 'REVERT_FAILURE', failure: fail, revertFailure: revertFail });
      const { book } = await seeded(b, [td]);
      const got = (await b.getLogBook(book.uuid)).flowDetails[0]?.atomDetails[0];
      assert.ok(got?.failure && got.revertFailure);
      assert.ok(got.failure instanceof Failure);
      assert.equal(got.failure.message, 'Woot!');
      assert.equal(got.failure.exceptionType, 'Woot');
      assert.deepEqual(got.failure.exceptionTypes, ['Woot', 'Error']);
      assert.equal(got.failure.check('Woot'), 'Woot');
      assert.equal(got.failure.check(Woot), Woot);
      assert.equal(got.failure.stack, fail.stack);
      assert.match(got.failure.stack, /Woot!\n\s+at captured/);
      assert.equal(got.failure.cause?.message, 'inner cause');
      assert.deepEqual(got.failure.cause?.exceptionTypes, ['TypeError', 'Error']);
      assert.ok(got.failure.matches(fail));
      assert.equal(got.revertFailure.check('RangeError'), 'RangeError');
      assert.ok(got.revertFailure.matches(revertFail));
    }));

    test('a retry history with failures round trips (failures come back as Failure objects)', use(async (b) => {
      const fail = Failure.from(new Error('fail'));
      const history: StoredAttempt[] = [attempt(42, { 'some-task': fail }), attempt(null), attempt({ x: 'third' }, { a: captured(), b: fail })];
      const rd = updateAtom(retry('retry-1'), { results: history });
      const { flow } = await seeded(b, [rd]);
      const got = (await b.getFlowDetail(flow.uuid)).atomDetails[0];
      assert.ok(got && Array.isArray(got.results));
      const results = got.results as StoredAttempt[];
      assert.equal(results.length, 3);
      assert.equal(results[0]?.value, 42);
      const fail2 = results[0]?.failures['some-task'];
      assert.ok(fail2 instanceof Failure);
      assert.ok(fail.matches(fail2));
      assert.equal(results[1]?.value, null);
      assert.deepEqual(results[1]?.failures, {});
      assert.deepEqual(lastAttempt(got)?.value, { x: 'third' });
      assert.deepEqual(Object.keys(lastAttempt(got)?.failures ?? {}), ['a', 'b']);
      assert.equal(lastAttempt(got)?.failures['a']?.cause?.message, 'inner cause');
    }));

    test('null and undefined results are kept apart (and falsy values survive)', use(async (b) => {
      const td = task('t');
      const { flow } = await seeded(b, [updateAtom(td, { results: null, revertResults: undefined })]);
      let got = (await b.getAtomDetails(flow.uuid))[0];
      assert.equal(got?.results, null);
      assert.equal(got?.revertResults, undefined);
      await b.commit(flow.uuid, { atoms: [updateAtom(td, { results: undefined, revertResults: null })] });
      got = (await b.getAtomDetails(flow.uuid))[0];
      assert.equal(got?.results, undefined);
      assert.equal(got?.revertResults, null);
      for (const v of [0, false, '', [], {}]) {
        await b.commit(flow.uuid, { atoms: [updateAtom(td, { results: v })] });
        assert.deepEqual((await b.getAtomDetails(flow.uuid))[0]?.results, v);
      }
    }));

    test('an atom detail stored in one flow cannot be saved into another; nothing changes', use(async (b) => {
      const a = task('a');
      const one = await seeded(b, [a]);
      const other = await seeded(b, [task('b')]);
      const moved = updateAtom(a, { state: 'RUNNING' });
      await assert.rejects(b.saveAtomDetails(other.flow.uuid, [moved]), InvariantViolation);
      await assert.rejects(b.commit(other.flow.uuid, { atoms: [moved] }), InvariantViolation);
      assert.deepEqual((await b.getAtomDetails(other.flow.uuid)).map((x) => x.name), ['b']);
      assert.equal((await b.getAtomDetails(one.flow.uuid))[0]?.state, 'PENDING');
    }));

    test('createdAt is that of the first store; updatedAt follows the record', use(async (b) => {
      const a = task('a');
      const { flow } = await seeded(b, [a]);
      await b.commit(flow.uuid, { atoms: [updateAtom(a, { createdAt: T0 + 99, updatedAt: T0 + 100, state: 'RUNNING' })] });
      const got = (await b.getAtomDetails(flow.uuid))[0];
      assert.equal(got?.createdAt, T0);
      assert.equal(got?.updatedAt, T0 + 100);
      assert.equal(got?.state, 'RUNNING');
    }));
  });

  describe('commit', () => {
    test('writes the flow and several atoms (new and existing) in one call', use(async (b) => {
      const a = task('a');
      const { book, flow } = await seeded(b, [a]);
      const c = task('c');
      const d = retry('d');
      await b.commit(flow.uuid, {
        flow: updateFlow(flow, { state: 'RUNNING', meta: { store: { k: 1 } }, updatedAt: T0 + 1 }),
        atoms: [updateAtom(a, { state: 'SUCCESS', results: 'A' }), c, updateAtom(d, { state: 'RUNNING' })],
      });
      const got = (await b.getLogBook(book.uuid)).flowDetails[0];
      assert.equal(got?.state, 'RUNNING');
      assert.deepEqual(got?.meta, { store: { k: 1 } });
      assert.equal(got?.updatedAt, T0 + 1);
      assert.deepEqual(got?.atomDetails.map((x) => [x.name, x.state, x.kind]), [
        ['a', 'SUCCESS', 'task'],
        ['c', 'PENDING', 'task'],
        ['d', 'RUNNING', 'retry'],
      ]);
      assert.equal(got?.atomDetails[0]?.results, 'A');
    }));

    test('position hints are only hints: right, wrong, out of range or missing, the right records change', use(async (b) => {
      const [a, c, d] = [task('a'), task('c'), task('d')];
      const { flow } = await seeded(b, [a, c, d]);
      // Right hints, wrong ones (pointing at another atom), out of range, and fewer hints than atoms.
      await b.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'RUNNING' }), updateAtom(d, { state: 'RUNNING' })], positions: [0, 2] });
      await b.commit(flow.uuid, { atoms: [updateAtom(c, { state: 'RUNNING' }), updateAtom(a, { state: 'SUCCESS', results: 1 })], positions: [2, 1] });
      const e = task('e');
      await b.commit(flow.uuid, { atoms: [updateAtom(d, { state: 'SUCCESS', results: 4 }), e], positions: [99] });
      const got = await b.getFlowDetail(flow.uuid);
      assert.deepEqual(got.atomDetails.map((x) => [x.name, x.state, x.results]), [
        ['a', 'SUCCESS', 1],
        ['c', 'RUNNING', undefined],
        ['d', 'SUCCESS', 4],
        ['e', 'PENDING', undefined],
      ]);
    }));

    test("a hint pointing at this flow's atom does not let another flow's atom in", use(async (b) => {
      const a = task('a');
      const { flow } = await seeded(b, [a]);
      const other = await seeded(b, [task('theirs')]);
      const theirs = other.flow.atomDetails[0]!;
      await assert.rejects(b.commit(flow.uuid, { atoms: [updateAtom(theirs, { state: 'RUNNING' })], positions: [0] }), InvariantViolation);
      assert.equal((await b.getFlowDetail(other.flow.uuid)).atomDetails[0]?.state, 'PENDING');
      assert.deepEqual((await b.getFlowDetail(flow.uuid)).atomDetails.map((x) => [x.name, x.state]), [['a', 'PENDING']]);
    }));

    test("the flow's own fields only: atomDetails on the flow record are ignored", use(async (b) => {
      const a = task('a');
      const { flow } = await seeded(b, [a]);
      await b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'SUCCESS', atomDetails: [task('stray')] }) });
      const got = await b.getFlowDetail(flow.uuid);
      assert.equal(got.state, 'SUCCESS');
      assert.deepEqual(got.atomDetails.map((x) => x.name), ['a']);
    }));

    test('an empty change to a stored flow succeeds and changes nothing', use(async (b) => {
      const { flow } = await seeded(b, [task('a')]);
      const before = await b.getFlowDetail(flow.uuid);
      await b.commit(flow.uuid, {});
      await b.commit(flow.uuid, { atoms: [] });
      assert.deepEqual(await b.getFlowDetail(flow.uuid), before);
    }));

    test('NotFound for an unknown flow (with or without a flow record); a mismatched flow uuid is refused', use(async (b) => {
      const { flow } = await seeded(b);
      const stranger = flowWith('stranger');
      await assert.rejects(b.commit(stranger.uuid, {}), NotFound);
      await assert.rejects(b.commit(stranger.uuid, { flow: stranger }), NotFound);
      await assert.rejects(b.commit(stranger.uuid, { flow: stranger, atoms: [task('x')] }), NotFound);
      await assert.rejects(b.commit(flow.uuid, { flow: stranger }), InvariantViolation);
      assert.equal((await b.getFlowDetail(flow.uuid)).name, 'wf');
    }));

    test('a commit that fails part-way changes nothing (flow row and earlier atoms untouched)', use(async (b) => {
      const a = task('a');
      const { flow } = await seeded(b, [a]);
      const foreign = task('foreign');
      await seeded(b, [foreign]);
      await assert.rejects(
        b.commit(flow.uuid, {
          flow: updateFlow(flow, { state: 'RUNNING' }),
          atoms: [updateAtom(a, { state: 'SUCCESS', results: 1 }), task('new'), updateAtom(foreign, { state: 'RUNNING' })],
        }),
        InvariantViolation,
      );
      const got = await b.getFlowDetail(flow.uuid);
      assert.equal(got.state, null);
      assert.deepEqual(got.atomDetails.map((x) => [x.name, x.state]), [['a', 'PENDING']]);
    }));
  });

  describe('order and freshness', () => {
    test('atom details come back in the order they were first stored', use(async (b) => {
      // Names and creation times deliberately out of order.
      const z = task('z', { now: T0 + 3 });
      const m = task('m', { now: T0 + 1 });
      const a = task('a', { now: T0 + 2 });
      const { book, flow } = await seeded(b, [z, m]);
      await b.saveAtomDetails(flow.uuid, [a]);
      await b.commit(flow.uuid, { atoms: [updateAtom(m, { state: 'RUNNING' }), task('b', { now: T0 })] });
      await b.saveFlowDetail(book.uuid, updateFlow(flow, { atomDetails: [updateAtom(z, { state: 'SUCCESS' })] }));
      const expected = ['z', 'm', 'a', 'b'];
      assert.deepEqual((await b.getAtomDetails(flow.uuid)).map((x) => x.name), expected);
      assert.deepEqual((await b.getFlowDetail(flow.uuid)).atomDetails.map((x) => x.name), expected);
      assert.deepEqual((await b.getLogBook(book.uuid)).flowDetails[0]?.atomDetails.map((x) => x.name), expected);
    }));

    test('returned books and flow details are frozen and do not change with later writes', use(async (b) => {
      const a = task('a');
      const { book, flow } = await seeded(b, [a]);
      const bookBefore = await b.getLogBook(book.uuid);
      const flowBefore = await b.getFlowDetail(flow.uuid);
      const atomsBefore = await b.getAtomDetails(flow.uuid);
      await b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'RUNNING' }), atoms: [updateAtom(a, { state: 'RUNNING' }), task('b')] });
      assert.ok(Object.isFrozen(bookBefore) && Object.isFrozen(bookBefore.flowDetails));
      assert.ok(Object.isFrozen(flowBefore) && Object.isFrozen(flowBefore.atomDetails));
      assert.equal(bookBefore.flowDetails[0]?.state, null);
      assert.deepEqual(bookBefore.flowDetails[0]?.atomDetails.map((x) => x.state), ['PENDING']);
      assert.equal(flowBefore.state, null);
      assert.equal(flowBefore.atomDetails.length, 1);
      assert.deepEqual(atomsBefore.map((x) => x.state), ['PENDING']);
      // A caller mutating a returned array does not reach the store.
      atomsBefore.push(task('intruder'));
      assert.deepEqual((await b.getAtomDetails(flow.uuid)).map((x) => x.name), ['a', 'b']);
    }));
  });
}
