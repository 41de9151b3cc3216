/**
 * The backend conformance suite, written once and run on every backend (TaskFlow's
 * `tests/unit/persistence/base.py` ported, plus what our contract adds: commit, ordering, null vs
 * undefined results, clearAll, close). Each test gets a fresh backend from `make`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvariantViolation, NotFound, StorageFailure } from '../../lib/errors.js';
import type { Backend } from '../../persistence/backend.js';
import { bookWithFlow, updateAtom, updateFlow, type FlowDetail, type LogBook } from '../../persistence/models.js';
import { recordTests } from './conformance-records.js';
import { ownershipTests } from './conformance-ownership.js';
import { T0, bookWith, flowWith, seeded, task, useBackend } from './fixtures.js';

export function backendConformance(name: string, make: () => Promise<Backend>): void {
  const use = useBackend(make);

  describe(`backend conformance: ${name}`, () => {
    describe('logbooks', () => {
      test('save and get round trip (name, meta, timestamps, empty contents)', use(async (b) => {
        const book = bookWith('lb-1', [], { '1': 2, nested: { a: [1, 'two'] } });
        await assert.rejects(b.getLogBook(book.uuid), NotFound);
        await b.saveLogBook(book);
        const got = await b.getLogBook(book.uuid);
        assert.equal(got.uuid, book.uuid);
        assert.equal(got.name, 'lb-1');
        assert.deepEqual(got.meta, { '1': 2, nested: { a: [1, 'two'] } });
        assert.equal(got.flowDetails.length, 0);
        assert.equal(got.updatedAt, null);
        assert.equal(got.createdAt, T0);
        assert.equal(got.format, book.format);
      }));

      test('destroy: NotFound for unknown uuid, then cascades, then NotFound again', use(async (b) => {
        const { book, flow } = await seeded(b, [task('a')]);
        await assert.rejects(b.destroyLogBook('no-such-book'), NotFound);
        await b.destroyLogBook(book.uuid);
        await assert.rejects(b.getLogBook(book.uuid), NotFound);
        await assert.rejects(b.getFlowDetail(flow.uuid), NotFound);
        await assert.rejects(b.getAtomDetails(flow.uuid), NotFound);
        await assert.rejects(b.getBookUuidOfFlow(flow.uuid), NotFound);
        await assert.rejects(b.destroyLogBook(book.uuid), NotFound);
        assert.deepEqual(await b.getLogBooks(), []);
      }));

      test('destroying one book leaves the others', use(async (b) => {
        const one = await seeded(b, [task('a')]);
        const other = await seeded(b, [task('b')]);
        await b.destroyLogBook(one.book.uuid);
        assert.equal((await b.getAtomDetails(other.flow.uuid))[0]?.name, 'b');
        assert.deepEqual((await b.getLogBooks()).map((x) => x.uuid), [other.book.uuid]);
      }));

      test('re-saving a book merges its flow details with the stored ones', use(async (b) => {
        const fd1 = flowWith('test');
        const lb = bookWith('lb', [fd1], { v: 1 });
        await b.saveLogBook(lb);
        // A second book object with the same uuid and another flow detail (TaskFlow's merge test).
        const fd2 = flowWith('test2');
        const again: LogBook = Object.freeze({ ...bookWith('lb-renamed', [fd2], { v: 2 }), uuid: lb.uuid });
        await b.saveLogBook(again);
        const got = await b.getLogBook(lb.uuid);
        assert.deepEqual(got.flowDetails.map((f) => f.name).sort(), ['test', 'test2']);
        assert.equal(got.name, 'lb-renamed');
        assert.deepEqual(got.meta, { v: 2 });
      }));

      test('a flow detail added to a saved book is stored on re-save', use(async (b) => {
        const fd = flowWith('test');
        let lb = bookWith('lb', [fd]);
        await b.saveLogBook(lb);
        const fd2 = flowWith('test-2');
        lb = bookWithFlow(lb, fd2, T0 + 5);
        await b.saveLogBook(lb);
        const got = await b.getLogBook(lb.uuid);
        assert.deepEqual(got.flowDetails.map((f) => f.uuid), [fd.uuid, fd2.uuid]);
        assert.equal(got.updatedAt, T0 + 5);
      }));

      test('getLogBooks: oldest first, lazy by default, { lazy: false } loads contents', use(async (b) => {
        const late = Object.freeze({ ...bookWith('late', [flowWith('f-late', [task('x')])]), createdAt: T0 + 10 });
        const early = Object.freeze({ ...bookWith('early', [flowWith('f-early', [task('y'), task('z')])]), createdAt: T0 - 10 });
        const empty = Object.freeze({ ...bookWith('empty'), createdAt: T0 });
        await b.saveLogBook(late);
        await b.saveLogBook(early);
        await b.saveLogBook(empty);
        const lazy = await b.getLogBooks();
        assert.deepEqual(lazy.map((x) => x.name), ['early', 'empty', 'late']);
        assert.ok(lazy.every((x) => x.flowDetails.length === 0));
        const full = await b.getLogBooks({ lazy: false });
        assert.deepEqual(full.map((x) => x.name), ['early', 'empty', 'late']);
        assert.deepEqual(full.map((x) => x.flowDetails.map((f) => f.atomDetails.map((a) => a.name))), [[['y', 'z']], [], [['x']]]);
      }));

      test('lazy getLogBook returns no flow details; eager returns them with their atoms', use(async (b) => {
        const { book } = await seeded(b, [task('a'), task('b')]);
        assert.equal((await b.getLogBook(book.uuid, { lazy: true })).flowDetails.length, 0);
        const eager = await b.getLogBook(book.uuid);
        assert.equal(eager.flowDetails.length, 1);
        assert.deepEqual(eager.flowDetails[0]?.atomDetails.map((a) => a.name), ['a', 'b']);
      }));

      test('flow details come sorted by creation time', use(async (b) => {
        const book = bookWith('lb');
        await b.saveLogBook(book);
        const f3 = flowWith('third', [], T0 + 30);
        const f1 = flowWith('first', [], T0 + 10);
        const f2 = flowWith('second', [], T0 + 20);
        for (const f of [f3, f1, f2]) await b.saveFlowDetail(book.uuid, f);
        const got = await b.getLogBook(book.uuid);
        assert.deepEqual(got.flowDetails.map((f) => f.name), ['first', 'second', 'third']);
      }));
    });

    describe('flow details', () => {
      test('saving a flow detail before its book is NotFound; after saving the book it works', use(async (b) => {
        const fd = flowWith('test');
        const lb = bookWith('lb');
        await assert.rejects(b.getLogBook(lb.uuid), NotFound);
        await assert.rejects(b.saveFlowDetail(lb.uuid, fd), NotFound);
        await assert.rejects(b.getFlowDetail(fd.uuid), NotFound);
        await b.saveLogBook(lb);
        await b.saveFlowDetail(lb.uuid, fd);
        assert.equal((await b.getFlowDetail(fd.uuid)).name, 'test');
        assert.equal(await b.getBookUuidOfFlow(fd.uuid), lb.uuid);
      }));

      test('flow meta and state updates round trip', use(async (b) => {
        const { book, flow } = await seeded(b);
        await b.saveFlowDetail(book.uuid, updateFlow(flow, { meta: { test: 42 } }));
        assert.equal((await b.getFlowDetail(flow.uuid)).meta['test'], 42);
        await b.saveFlowDetail(book.uuid, updateFlow(flow, { meta: { test: 43 }, state: 'RUNNING', updatedAt: T0 + 1 }));
        const got = (await b.getLogBook(book.uuid)).flowDetails[0];
        assert.equal(got?.meta['test'], 43);
        assert.equal(got?.state, 'RUNNING');
        assert.equal(got?.updatedAt, T0 + 1);
        assert.equal((await b.getFlowDetail(flow.uuid)).state, 'RUNNING');
      }));

      test('a fresh flow detail has state null after a round trip', use(async (b) => {
        const { flow } = await seeded(b);
        const got = await b.getFlowDetail(flow.uuid);
        assert.equal(got.state, null);
        assert.equal(got.updatedAt, null);
        assert.equal(got.createdAt, T0);
      }));

      test('lazy getFlowDetail returns no atom details', use(async (b) => {
        const { flow } = await seeded(b, [task('detail-1', { version: '4.2' })]);
        assert.equal((await b.getFlowDetail(flow.uuid, { lazy: true })).atomDetails.length, 0);
        assert.equal((await b.getFlowDetail(flow.uuid)).atomDetails.length, 1);
      }));

      test('re-saving a flow detail keeps atom details it no longer holds and adds new ones', use(async (b) => {
        const td = task('detail-1');
        const { book, flow } = await seeded(b, [td]);
        const td2 = task('detail-1b');
        await b.saveFlowDetail(book.uuid, updateFlow(flow, { atomDetails: [td2] }));
        const got = (await b.getLogBook(book.uuid)).flowDetails[0];
        assert.deepEqual(got?.atomDetails.map((a) => a.uuid), [td.uuid, td2.uuid]);
      }));

      test('a flow detail stored in one book cannot be saved into another', use(async (b) => {
        const one = await seeded(b);
        const other = bookWith('other');
        await b.saveLogBook(other);
        await assert.rejects(b.saveFlowDetail(other.uuid, one.flow), InvariantViolation);
        // Nor through a book: and the failed call changes nothing (the book is not created).
        const third = bookWith('third', [one.flow]);
        await assert.rejects(b.saveLogBook(third), InvariantViolation);
        await assert.rejects(b.getLogBook(third.uuid), NotFound);
        assert.equal(await b.getBookUuidOfFlow(one.flow.uuid), one.book.uuid);
      }));
    });

    recordTests(use);

    ownershipTests(use);

    describe('property: any JSON result round trips', () => {
      test('results and revert results keep their value', use(async (b) => {
        const a = task('p');
        const { flow } = await seeded(b, [a]);
        // Values as JSON gives them back (fc.jsonValue may produce -0, which JSON writes as 0).
        const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
        await fc.assert(
          fc.asyncProperty(json, json, async (results, revertResults) => {
            await b.commit(flow.uuid, { atoms: [updateAtom(a, { results, revertResults })] });
            const [got] = await b.getAtomDetails(flow.uuid);
            assert.deepEqual(got?.results, results);
            assert.deepEqual(got?.revertResults, revertResults);
          }),
          { numRuns: 100 },
        );
      }));
    });

    describe('findFlows and purge', () => {
      /** Three books: flows in several states, updated at T0 + i. */
      async function several(b: Backend): Promise<FlowDetail[]> {
        const states = [null, 'RUNNING', 'SUCCESS', 'SUSPENDED', 'REVERTED', 'FAILURE'] as const;
        const flows = states.map((state, i) => updateFlow(flowWith(`f${i}`, [task(`a${i}`)], T0 + i), { state, updatedAt: state === null ? null : T0 + 10 + i }));
        await b.saveLogBook(bookWith('one', flows.slice(0, 2)));
        await b.saveLogBook(bookWith('two', flows.slice(2, 4)));
        await b.saveLogBook(bookWith('three', flows.slice(4)));
        return flows;
      }

      test('lists flow details by state, oldest first, lazily; PENDING matches one that never ran', use(async (b) => {
        const flows = await several(b);
        const all = await b.findFlows();
        assert.deepEqual(all.map((f) => f.name), ['f0', 'f1', 'f2', 'f3', 'f4', 'f5']);
        assert.ok(all.every((f) => f.atomDetails.length === 0));
        const open = await b.findFlows({ state: ['RUNNING', 'SUSPENDED', 'PENDING'] });
        assert.deepEqual(open.map((f) => f.uuid), [flows[0]!.uuid, flows[1]!.uuid, flows[3]!.uuid]);
        assert.deepEqual((await b.findFlows({ state: 'SUCCESS' })).map((f) => f.name), ['f2']);
        assert.deepEqual((await b.findFlows({ state: ['RUNNING', 'SUSPENDED', 'PENDING'], limit: 2 })).map((f) => f.name), ['f0', 'f1']);
        const bookTwo = await b.getBookUuidOfFlow(flows[2]!.uuid);
        assert.deepEqual((await b.findFlows({ bookUuid: bookTwo })).map((f) => f.name), ['f2', 'f3']);
        assert.deepEqual(await b.findFlows({ state: [] }), []);
      }));

      test('bad queries are refused naming the option', use(async (b) => {
        await assert.rejects(b.findFlows({ state: 'DONE' as never }), (e: unknown) => e instanceof InvariantViolation && e.option === 'state');
        await assert.rejects(b.findFlows({ limit: -1 }), (e: unknown) => e instanceof InvariantViolation && e.option === 'limit');
        await assert.rejects(b.findFlows({ colour: 'red' } as never), (e: unknown) => e instanceof InvariantViolation && e.option === 'colour');
        await assert.rejects(b.purge({ olderThan: 'yesterday' as never }), (e: unknown) => e instanceof InvariantViolation && e.option === 'olderThan');
      }));

      test('purge removes finished flows older than the cut-off with their atoms, and books left empty', use(async (b) => {
        const flows = await several(b);
        // Updated at T0 + 12 (SUCCESS), T0 + 14 (REVERTED), T0 + 15 (FAILURE): cut at T0 + 15.
        assert.equal(await b.purge({ olderThan: new Date(T0 + 15) }), 2);
        assert.deepEqual((await b.findFlows()).map((f) => f.name), ['f0', 'f1', 'f3', 'f5']);
        await assert.rejects(b.getAtomDetails(flows[2]!.uuid), NotFound);
        await assert.rejects(b.getFlowDetail(flows[4]!.uuid), NotFound);
        // Book 'two' keeps its SUSPENDED flow; book 'three' keeps FAILURE (too recent).
        assert.equal((await b.getLogBooks()).length, 3);
        assert.equal(await b.purge({ olderThan: T0 + 100 }), 1);
        assert.deepEqual((await b.getLogBooks()).map((x) => x.name), ['one', 'two']);
        // Explicit states: unfinished ones too.
        assert.equal(await b.purge({ olderThan: T0 + 100, states: ['SUSPENDED', 'PENDING'] }), 2);
        assert.deepEqual((await b.findFlows()).map((f) => f.name), ['f1']);
        assert.equal((await b.getAtomDetails(flows[1]!.uuid)).length, 1);
      }));
    });

    describe('clearAll and close', () => {
      test('clearAll removes every book, flow and atom', use(async (b) => {
        const one = await seeded(b, [task('a')]);
        await seeded(b, [task('b')]);
        await b.clearAll();
        assert.deepEqual(await b.getLogBooks(), []);
        await assert.rejects(b.getLogBook(one.book.uuid), NotFound);
        await assert.rejects(b.getAtomDetails(one.flow.uuid), NotFound);
        // Still usable afterwards.
        const again = await seeded(b, [task('c')]);
        assert.equal((await b.getAtomDetails(again.flow.uuid))[0]?.name, 'c');
      }));

      test('calls after close fail with StorageFailure; close is idempotent', async () => {
        const b = await make();
        const { book, flow } = await seeded(b, [task('a')]);
        await b.close();
        await b.close();
        await assert.rejects(b.getLogBook(book.uuid), StorageFailure);
        await assert.rejects(b.getLogBooks(), StorageFailure);
        await assert.rejects(b.saveLogBook(book), StorageFailure);
        await assert.rejects(b.commit(flow.uuid, { atoms: [task('b')] }), StorageFailure);
        await assert.rejects(b.clearAll(), StorageFailure);
      });
    });
  });
}
