/**
 * Issue #11 item 6: one unreadable row (unknown state or intention, malformed failure, bad JSON,
 * another format) is a StorageFailure naming its flow/atom; the rest of the store stays readable,
 * and a run of the bad flow is refused rather than misread (no silent revert of a finished run).
 * The readers live in models.ts, so every backend reading JSON rows shares them.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LinearFlow, SqliteBackend, StorageFailure, atomDetailFromJSON, flowDetailFromJSON, load, logBookFromJSON } from '../../index.js';
import { atomDetailToJSON, flowDetailToJSON, logBookToJSON } from '../../persistence/models.js';
import { T } from '../support/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-badrows-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A store holding two finished runs: 'good' and 'bad' (each of atoms a, b). */
async function twoRuns(): Promise<{ file: string; good: string; bad: string; book: string }> {
  const file = path.join(dir, `s-${++files}.db`);
  const backend = new SqliteBackend(file);
  const good = load(new LinearFlow('good').add(new T('a', { ret: 1 }), new T('b', { ret: 2 })), { backend });
  await good.run();
  const bad = load(new LinearFlow('bad').add(new T('a', { ret: 1 }), new T('b', { ret: 2 })), { backend, book: good.book.uuid });
  await bad.run();
  await backend.close();
  return { file, good: good.flowDetail.uuid, bad: bad.flowDetail.uuid, book: good.book.uuid };
}

function tamper(file: string, sql: string, ...params: unknown[]): void {
  const db = new Database(file);
  db.prepare(sql).run(...params);
  db.close();
}

const atomCorruptions: Array<[string, string, RegExp]> = [
  ['an unknown state', "UPDATE atomdetails SET state = 'BOGUS'", /unknown state "BOGUS"/],
  ['an unknown intention', "UPDATE atomdetails SET intention = 'SOMETIMES'", /unknown intention "SOMETIMES"/],
  ['an unknown kind', "UPDATE atomdetails SET kind = 'gadget'", /unknown kind "gadget"/],
  ['a failure that is not JSON', "UPDATE atomdetails SET failure = '{oops'", /JSON/],
  ['a failure missing its fields', `UPDATE atomdetails SET failure = '{"format":1}'`, /invalid failure record/],
  ['a failure of another format', `UPDATE atomdetails SET failure = '{"format":7,"exceptionType":"E","exceptionTypes":["E"],"message":"m"}'`, /format 7/],
  ['results that are not JSON', "UPDATE atomdetails SET results = 'nope'", /JSON/],
  ['meta that is not an object', "UPDATE atomdetails SET meta = '5'", /meta must be an object/],
  ['another format', 'UPDATE atomdetails SET format = 99', /format 99/],
];

describe('an unreadable atom row is a StorageFailure naming it; other flows stay readable (sqlite)', () => {
  for (const [label, sql, why] of atomCorruptions) {
    test(label, async () => {
      const { file, good, bad, book } = await twoRuns();
      tamper(file, `${sql} WHERE name = 'b' AND parent_uuid = ?`, bad);
      const backend = new SqliteBackend(file);
      try {
        const named = (err: unknown): boolean => {
          assert.ok(err instanceof StorageFailure, `not a StorageFailure: ${String(err)}`);
          assert.match(err.message, /atom detail 'b'/);
          assert.ok(err.message.includes(bad), 'names the flow');
          assert.match(err.message, why);
          return true;
        };
        await assert.rejects(backend.getFlowDetail(bad), named);
        await assert.rejects(backend.getAtomDetails(bad), named);
        await assert.rejects(backend.getLogBook(book), named);
        // Other flows, the lazy listings and the bad flow's own fields stay readable.
        assert.equal((await backend.getFlowDetail(good)).state, 'SUCCESS');
        assert.equal((await backend.getLogBooks()).length, 1);
        assert.equal((await backend.getLogBook(book, { lazy: true })).uuid, book);
        assert.equal((await backend.getFlowDetail(bad, { lazy: true })).state, 'SUCCESS');
        // Running the bad flow again is refused (it is not misread, and nothing is reverted).
        const reverted: string[] = [];
        const again = load(new LinearFlow('bad').add(new T('a', { ret: 1, journal: reverted }), new T('b', { ret: 2, journal: reverted })), { backend, flowDetail: bad });
        await assert.rejects(again.run(), StorageFailure);
        assert.deepEqual(reverted, []);
      } finally {
        await backend.close();
      }
    });
  }
});

describe('an unreadable flow or book row is a StorageFailure naming it (sqlite)', () => {
  test('a flow detail with an unknown state', async () => {
    const { file, good, bad } = await twoRuns();
    tamper(file, "UPDATE flowdetails SET state = 'DONE-ISH' WHERE uuid = ?", bad);
    const backend = new SqliteBackend(file);
    try {
      await assert.rejects(backend.getFlowDetail(bad), (err: unknown) => err instanceof StorageFailure && err.message.includes(`'${bad}'`) && /unknown state "DONE-ISH"/.test(err.message));
      assert.equal((await backend.getFlowDetail(good)).state, 'SUCCESS');
    } finally {
      await backend.close();
    }
  });

  test('a flow detail whose meta is not JSON', async () => {
    const { file, good, bad } = await twoRuns();
    tamper(file, "UPDATE flowdetails SET meta = '{' WHERE uuid = ?", bad);
    const backend = new SqliteBackend(file);
    try {
      await assert.rejects(backend.getFlowDetail(bad), (err: unknown) => err instanceof StorageFailure && err.message.includes(`flow detail 'bad' ('${bad}')`));
      assert.equal((await backend.getFlowDetail(good)).state, 'SUCCESS');
    } finally {
      await backend.close();
    }
  });

  test('a logbook whose meta is not JSON: the listing names it', async () => {
    const { file, book } = await twoRuns();
    tamper(file, "UPDATE logbooks SET meta = 'x' WHERE uuid = ?", book);
    const backend = new SqliteBackend(file);
    try {
      await assert.rejects(backend.getLogBooks(), (err: unknown) => err instanceof StorageFailure && err.message.includes(`('${book}')`));
    } finally {
      await backend.close();
    }
  });
});

describe('the shared JSON readers (every backend reading JSON records uses them)', () => {
  test('bad atom, flow and book records are StorageFailures naming them', async () => {
    const { file, bad } = await twoRuns();
    const backend = new SqliteBackend(file);
    const fd = await backend.getFlowDetail(bad);
    await backend.close();
    const json = flowDetailToJSON(fd);
    const atom = { ...atomDetailToJSON(fd.atomDetails[1]!), state: 'NOPE' as never };
    assert.throws(() => atomDetailFromJSON(atom, bad), (err: unknown) => err instanceof StorageFailure && /atom detail 'b'/.test(err.message) && err.message.includes(bad));
    assert.throws(() => flowDetailFromJSON({ ...json, atomDetails: [atom] }), (err: unknown) => err instanceof StorageFailure && /atom detail 'b'/.test(err.message));
    assert.throws(() => flowDetailFromJSON({ ...json, state: 'MAYBE' as never }), StorageFailure);
    assert.throws(() => flowDetailFromJSON(null as never), StorageFailure);
    const bookJson = logBookToJSON({ format: 1, uuid: 'b1', name: 'book', meta: {}, createdAt: 1, updatedAt: null, flowDetails: [] });
    assert.throws(() => logBookFromJSON({ ...bookJson, meta: 3 as never }), StorageFailure);
    assert.throws(() => logBookFromJSON({ ...bookJson, format: 2 }), (err: unknown) => err instanceof StorageFailure && /format 2/.test(err.message));
  });
});
