/** SQLite-only behaviour: schema and migrations, durability, file checks, driver errors, atomicity. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { InvariantViolation, StorageFailure } from '../../lib/errors.js';
import { Failure } from '../../lib/failure.js';
import { logBookToJSON, updateAtom, updateFlow } from '../../persistence/models.js';
import { APPLICATION_ID, MIGRATIONS } from '../../persistence/sqlite-schema.js';
import { describeSqliteCode } from '../../persistence/sqlite-options.js';
import { SqliteBackend } from '../../persistence/sqlite.js';
import { T0, attempt, bookWith, flowWith, retry, seeded, task } from './fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-sqlite-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(dir, `t-${++n}.db`);

/** Checks a StorageFailure whose message matches and, given `code`, whose cause is a driver error with that code. */
function isStorageFailure(message: RegExp, code?: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof StorageFailure, `expected StorageFailure, got ${String(err)}`);
    assert.match(err.message, message);
    if (code !== undefined) {
      assert.ok(err.cause instanceof Database.SqliteError, 'cause is the driver error');
      assert.match(err.cause.code, code);
    }
    return true;
  };
}

async function rejectsStorage(p: Promise<unknown>, message: RegExp, code?: RegExp): Promise<void> {
  await assert.rejects(p, isStorageFailure(message, code));
}

function throwsStorage(fn: () => unknown, message: RegExp, code?: RegExp): void {
  assert.throws(fn, isStorageFailure(message, code));
}

describe('SqliteBackend: schema and migrations', () => {
  test('a new store records its schema version; reopening applies nothing twice', async () => {
    const file = fresh();
    const b = new SqliteBackend(file);
    const { flow } = await seeded(b, [task('a')]);
    await b.close();
    for (let i = 0; i < 3; i++) await new SqliteBackend(file).close();
    const db = new Database(file, { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT app, version FROM schema_version').all(), [{ app: 'atomflow', version: MIGRATIONS.length }]);
      assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      assert.deepEqual(tables, ['atomdetails', 'flowdetails', 'job_tokens', 'jobs', 'logbooks', 'schema_version']);
      assert.equal(db.prepare('SELECT count(*) FROM atomdetails WHERE parent_uuid = ?').pluck().get(flow.uuid), 1);
    } finally {
      db.close();
    }
  });

  test('migrations above the stored version are applied', async () => {
    const file = fresh();
    const raw = new Database(file);
    raw.exec("CREATE TABLE schema_version (app TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL); INSERT INTO schema_version VALUES ('atomflow', 0, 0)");
    raw.close();
    const b = new SqliteBackend(file);
    await seeded(b, [task('a')]); // the tables exist now
    await b.close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.prepare("SELECT version FROM schema_version WHERE app = 'atomflow'").pluck().get(), MIGRATIONS.length);
    assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
    db.close();
  });

  test('a store written by a newer atomflow is refused', async () => {
    const file = fresh();
    await new SqliteBackend(file).close();
    const raw = new Database(file);
    raw.prepare("UPDATE schema_version SET version = 99 WHERE app = 'atomflow'").run();
    raw.close();
    throwsStorage(() => new SqliteBackend(file), new RegExp(`newer atomflow \\(schema version 99; this version knows up to ${MIGRATIONS.length}\\)`));
  });

  test('data survives close and reopen (books, flows, atoms, failures, retry history)', async () => {
    const file = fresh();
    const fail = Failure.from(new RangeError('bad', { cause: new Error('why') }));
    const a = updateAtom(task('a', { version: '4.2' }), { state: 'FAILURE', failure: fail, intention: 'REVERT', meta: { progress: 1 } });
    const r = updateAtom(retry('r'), { results: [attempt(1, { a: fail }), attempt(null)] });
    const book = bookWith('lb', [flowWith('wf', [a, r])], { owner: 'me' });
    const b = new SqliteBackend(file);
    await b.saveLogBook(book);
    await b.close();
    const again = new SqliteBackend(file);
    const got = await again.getLogBook(book.uuid);
    await again.close();
    assert.deepEqual(logBookToJSON(got), logBookToJSON(book));
  });
});

describe('SqliteBackend: connection settings', () => {
  test('WAL mode on a file, kept in the file after close', async () => {
    const file = fresh();
    const db = new Database(file);
    const b = new SqliteBackend(db);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    await b.close();
    db.close();
    const other = new Database(file);
    assert.equal(other.pragma('journal_mode', { simple: true }), 'wal');
    other.close();
  });

  test("durability 'full' sets synchronous = FULL (2); 'normal' and the default set NORMAL (1)", async () => {
    for (const [options, expected] of [[{ durability: 'full' }, 2], [{ durability: 'normal' }, 1], [undefined, 1]] as const) {
      const db = new Database(fresh());
      const b = new SqliteBackend(db, options);
      assert.equal(db.pragma('synchronous', { simple: true }), expected);
      assert.equal(b.durability, options?.durability ?? 'normal');
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      // The connection waits one short slice; longer waits are asynchronous retries up to busyTimeout.
      assert.equal(db.pragma('busy_timeout', { simple: true }), 10);
      assert.equal(b.busyTimeout, 5000);
      await b.close();
      db.close();
    }
    const db = new Database(':memory:');
    assert.equal(new SqliteBackend(db, { busyTimeout: 250 }).busyTimeout, 250);
    assert.equal(db.pragma('busy_timeout', { simple: true }), 10);
    new SqliteBackend(db, { busyTimeout: 3 });
    assert.equal(db.pragma('busy_timeout', { simple: true }), 3);
    db.close();
  });

  test("locking 'exclusive': the file is held until close; others get StorageFailure (busy), then can open it", async () => {
    const file = fresh();
    const owner = new SqliteBackend(file, { locking: 'exclusive' });
    assert.equal(owner.locking, 'exclusive');
    const { flow } = await seeded(owner, [task('a')]);
    const a = (await owner.getFlowDetail(flow.uuid)).atomDetails[0]!;
    await owner.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'RUNNING' })] });
    assert.throws(() => new SqliteBackend(file, { busyTimeout: 0 }), isStorageFailure(/busy|locked/i));
    await owner.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'SUCCESS', results: 7 })] });
    await owner.close();
    const next = new SqliteBackend(file, { busyTimeout: 0 });
    assert.equal(next.locking, 'shared');
    const got = (await next.getFlowDetail(flow.uuid)).atomDetails[0]!;
    assert.equal(got.state, 'SUCCESS');
    assert.equal(got.results, 7);
    // A shared backend leaves the file usable by others meanwhile.
    const reader = new SqliteBackend(file, { busyTimeout: 0 });
    assert.equal((await reader.getFlowDetail(flow.uuid)).atomDetails[0]?.results, 7);
    await reader.close();
    await next.close();
  });

  test("an engine run on an exclusive backend is stored like any other", async () => {
    const file = fresh();
    const backend = new SqliteBackend(file, { locking: 'exclusive' });
    const { LinearFlow, load, task: makeTask } = await import('../../index.js');
    const e = load(new LinearFlow('f').add(makeTask({ name: 'x', provides: 'x', execute: () => 1 }), makeTask({ name: 'y', requires: ['x'], provides: 'y', execute: ({ x }: { x: number }) => x + 1 })), { backend });
    await e.run();
    const uuid = e.flowDetail.uuid;
    await backend.close();
    const again = new SqliteBackend(file);
    const stored = await again.getFlowDetail(uuid);
    assert.equal(stored.state, 'SUCCESS');
    assert.deepEqual(stored.atomDetails.map((d) => [d.name, d.state, d.results]), [['x', 'SUCCESS', 1], ['y', 'SUCCESS', 2]]);
    await again.close();
  });

  test('options are validated: unknown keys and bad values name the option', () => {
    const bad: Array<[unknown, string]> = [
      [{ durabilty: 'full' }, 'durabilty'],
      [{ durability: 'fast' }, 'durability'],
      [{ durability: true }, 'durability'],
      [{ busyTimeout: -1 }, 'busyTimeout'],
      [{ busyTimeout: 1.5 }, 'busyTimeout'],
      [{ locking: 'EXCLUSIVE' }, 'locking'],
      [{ locking: true }, 'locking'],
    ];
    for (const [options, option] of bad) {
      assert.throws(() => new SqliteBackend(':memory:', options as never), (err: unknown) => {
        assert.ok(err instanceof InvariantViolation);
        assert.equal(err.option, option);
        assert.match(err.message, new RegExp(option));
        return true;
      });
    }
  });

  test('kind and path; close leaves a connection the caller passed in open', async () => {
    const file = fresh();
    const b = new SqliteBackend(file);
    assert.equal(b.kind, 'sqlite');
    assert.equal(b.path, file);
    await b.close();
    assert.equal(new SqliteBackend(':memory:').path, ':memory:');
    const db = new Database(fresh());
    const mine = new SqliteBackend(db);
    await mine.close();
    assert.equal(db.open, true);
    await assert.rejects(mine.getLogBooks(), StorageFailure);
    db.close();
  });

  test('two backends on one file see each other\'s commits', async () => {
    const file = fresh();
    const writer = new SqliteBackend(file);
    const reader = new SqliteBackend(file);
    const a = task('a');
    const { flow } = await seeded(writer, [a]);
    await writer.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'SUCCESS', results: 5 })] });
    assert.equal((await reader.getAtomDetails(flow.uuid))[0]?.results, 5);
    await writer.close();
    await reader.close();
  });
});

describe('SqliteBackend: files that are not atomflow stores', () => {
  test('a text file is refused with StorageFailure and left untouched', () => {
    const file = fresh();
    fs.writeFileSync(file, 'just some notes, not a database\n'.repeat(64));
    const before = fs.readFileSync(file);
    throwsStorage(() => new SqliteBackend(file), /not a SQLite database/, /^SQLITE_NOTADB$/);
    assert.deepEqual(fs.readFileSync(file), before);
  });

  test('a SQLite database with unrelated tables is refused and left untouched', () => {
    const file = fresh();
    const raw = new Database(file);
    raw.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann')");
    raw.close();
    throwsStorage(() => new SqliteBackend(file), /not an atomflow store: it has tables \[users\] and no schema_version/);
    const db = new Database(file, { readonly: true });
    assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all(), ['users']);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'delete'); // not switched to WAL
    assert.equal(db.pragma('application_id', { simple: true }), 0);
    db.close();
  });

  test("another tool's schema_version table, or another application_id, is refused", () => {
    const one = fresh();
    let raw = new Database(one);
    raw.exec('CREATE TABLE schema_version (version INTEGER)');
    raw.close();
    throwsStorage(() => new SqliteBackend(one), /not an atomflow store: its schema_version table is not atomflow's/);
    const two = fresh();
    raw = new Database(two);
    raw.pragma('application_id = 1234');
    raw.close();
    throwsStorage(() => new SqliteBackend(two), /not an atomflow store: its application_id is 1234/);
  });

  test('a missing directory is a StorageFailure', () => {
    throwsStorage(() => new SqliteBackend(path.join(dir, 'no', 'such', 'dir', 'x.db')), /open failed: .*directory does not exist/);
  });
});

describe('SqliteBackend: driver errors become StorageFailure', () => {
  test('writing through a read-only connection: StorageFailure with the driver error as cause; reads still work', async () => {
    const file = fresh();
    const b = new SqliteBackend(file);
    const a = task('a');
    const { book, flow } = await seeded(b, [a]);
    await b.close();
    const db = new Database(file, { readonly: true });
    const ro = new SqliteBackend(db);
    assert.equal((await ro.getAtomDetails(flow.uuid))[0]?.name, 'a');
    await rejectsStorage(ro.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'RUNNING' })] }), /commit failed: the database is read-only/, /^SQLITE_READONLY/);
    await rejectsStorage(ro.saveLogBook(book), /save logbook failed: the database is read-only/, /^SQLITE_READONLY/);
    await rejectsStorage(ro.destroyLogBook(book.uuid), /read-only/, /^SQLITE_READONLY/);
    assert.equal((await ro.getAtomDetails(flow.uuid))[0]?.state, 'PENDING');
    await ro.close();
    db.close();
  });

  test('creating the schema on a read-only database fails with StorageFailure', () => {
    const file = fresh();
    fs.writeFileSync(file, '');
    const db = new Database(file, { readonly: true });
    throwsStorage(() => new SqliteBackend(db), /open failed: the database is read-only/, /^SQLITE_READONLY/);
    db.close();
  });

  test('another connection holding the write lock: StorageFailure naming the lock after the busy timeout, then success once released', async () => {
    const file = fresh();
    const owner = new SqliteBackend(file);
    const a = task('a');
    const { flow } = await seeded(owner, [a]);
    const holder = new Database(file);
    holder.prepare('BEGIN IMMEDIATE').run();
    const impatient = new SqliteBackend(file, { busyTimeout: 0 });
    const change = { flow: updateFlow(flow, { state: 'RUNNING' }), atoms: [updateAtom(a, { state: 'RUNNING' })] };
    await rejectsStorage(impatient.commit(flow.uuid, change), /commit failed: the lock on '.*' was held by another connection for more than busyTimeout \(0 ms\)/, /^SQLITE_BUSY/);
    assert.equal((await impatient.getFlowDetail(flow.uuid)).state, null); // readers are not blocked in WAL
    holder.prepare('COMMIT').run();
    holder.close();
    await impatient.commit(flow.uuid, change);
    assert.equal((await owner.getFlowDetail(flow.uuid)).state, 'RUNNING');
    await impatient.close();
    await owner.close();
  });

  test('a corrupt file: StorageFailure with SQLITE_CORRUPT as cause', async () => {
    const file = fresh();
    const b = new SqliteBackend(file);
    await seeded(b, [task('a')]);
    await b.close();
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r+');
    for (let page = 1; page < size / 4096; page++) fs.writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, page * 4096); // all but the header page
    fs.closeSync(fd);
    throwsStorage(() => new SqliteBackend(file), /open failed: the database file is corrupt/, /^SQLITE_CORRUPT/);
  });

  test('extended driver codes are described by their primary code', () => {
    assert.match(describeSqliteCode('SQLITE_IOERR_WRITE'), /disk I\/O error/);
    assert.match(describeSqliteCode('SQLITE_BUSY_SNAPSHOT'), /busy/);
    assert.match(describeSqliteCode('SQLITE_FULL'), /full/);
    assert.match(describeSqliteCode('SQLITE_CANTOPEN_ISDIR'), /cannot be opened/);
    assert.match(describeSqliteCode('SQLITE_LOCKED_SHAREDCACHE'), /locked/);
    assert.equal(describeSqliteCode('SQLITE_NOMEM'), 'the SQLite driver reported an error');
  });

  test('a stored record that is not valid JSON is reported as StorageFailure', async () => {
    const db = new Database(':memory:');
    const b = new SqliteBackend(db);
    const { flow } = await seeded(b, [task('a')]);
    db.prepare("UPDATE atomdetails SET meta = '{not json'").run();
    await rejectsStorage(b.getAtomDetails(flow.uuid), /get atom details failed: stored atom detail .* cannot be read: its JSON is not valid/);
    await b.close();
    db.close();
  });
});

describe('SqliteBackend: atomicity and columns', () => {
  test('an atom row of another format is refused by every read with a StorageFailure naming the atom and the format', async () => {
    const file = fresh();
    const b = new SqliteBackend(file);
    const { book, flow } = await seeded(b, [task('a')]);
    const db = new Database(file);
    db.prepare('UPDATE atomdetails SET format = 99').run();
    db.close();
    const refused = (err: unknown): boolean =>
      err instanceof StorageFailure && /atom detail 'a'/.test(err.message) && /format 99/.test(err.message) && err.cause instanceof InvariantViolation;
    await assert.rejects(b.getFlowDetail(flow.uuid), refused);
    await assert.rejects(b.getAtomDetails(flow.uuid), refused);
    await assert.rejects(b.getLogBook(book.uuid), refused);
    await assert.rejects(b.getLogBooks({ lazy: false }), refused);
    await b.close();
  });

  test('a commit whose atom cannot be serialised (BigInt) writes nothing', async () => {
    const db = new Database(fresh());
    const b = new SqliteBackend(db);
    const [a, c] = [task('a'), task('c')];
    const { flow } = await seeded(b, [a, c]);
    const change = {
      flow: updateFlow(flow, { state: 'RUNNING', updatedAt: T0 + 1 }),
      atoms: [updateAtom(a, { state: 'SUCCESS', results: 1 }), updateAtom(c, { state: 'SUCCESS', results: { big: 10n } })],
    };
    await assert.rejects(b.commit(flow.uuid, change), (err: unknown) => {
      assert.ok(err instanceof InvariantViolation);
      assert.match(err.message, /atom 'c': results cannot be stored as JSON: .*BigInt/);
      return true;
    });
    assert.deepEqual(db.prepare('SELECT state, updated_at FROM flowdetails WHERE uuid = ?').get(flow.uuid), { state: null, updated_at: null });
    assert.deepEqual(db.prepare('SELECT name, state, results FROM atomdetails ORDER BY seq').all(), [
      { name: 'a', state: 'PENDING', results: null },
      { name: 'c', state: 'PENDING', results: null },
    ]);
    await b.close();
    db.close();
  });

  test('a driver error in the middle of a commit rolls back the flow row and earlier atoms', async () => {
    const db = new Database(fresh());
    const b = new SqliteBackend(db);
    const a = task('a');
    const { flow } = await seeded(b, [a]);
    db.exec("CREATE TRIGGER boom BEFORE INSERT ON atomdetails WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
    const change = { flow: updateFlow(flow, { state: 'RUNNING' }), atoms: [updateAtom(a, { state: 'SUCCESS' }), task('ok'), task('boom')] };
    await rejectsStorage(b.commit(flow.uuid, change), /commit failed: a constraint was violated .*boom refused/, /^SQLITE_CONSTRAINT/);
    const got = await b.getFlowDetail(flow.uuid);
    assert.equal(got.state, null);
    assert.deepEqual(got.atomDetails.map((x) => [x.name, x.state]), [['a', 'PENDING']]);
    await b.close();
    db.close();
  });

  test('undefined results are SQL NULL, null results are JSON null', async () => {
    const db = new Database(':memory:');
    const b = new SqliteBackend(db);
    const [x, y] = [task('x'), task('y')];
    await seeded(b, [updateAtom(x, { results: null }), updateAtom(y, { revertResults: null })]);
    assert.deepEqual(db.prepare('SELECT name, results, revert_results FROM atomdetails ORDER BY seq').all(), [
      { name: 'x', results: 'null', revert_results: null },
      { name: 'y', results: null, revert_results: 'null' },
    ]);
    await b.close();
    db.close();
  });
});
