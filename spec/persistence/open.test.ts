/** openBackend: URI schemes, options from the URI and from the caller, and refusals. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvariantViolation, StorageFailure } from '../../lib/errors.js';
import { MemoryBackend } from '../../persistence/memory.js';
import { openBackend } from '../../persistence/open.js';
import { SqliteBackend } from '../../persistence/sqlite.js';
import { seeded, task } from './fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-open-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function refused(message: RegExp, option?: string): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof InvariantViolation, `expected InvariantViolation, got ${String(err)}`);
    assert.match(err.message, message);
    if (option !== undefined) assert.equal(err.option, option);
    return true;
  };
}

describe('openBackend', () => {
  test('memory:// opens a working MemoryBackend', async () => {
    const b = await openBackend('memory://');
    assert.ok(b instanceof MemoryBackend);
    assert.equal(b.kind, 'memory');
    const { flow } = await seeded(b, [task('a')]);
    assert.equal((await b.getAtomDetails(flow.uuid))[0]?.name, 'a');
    await b.close();
  });

  test('sqlite:///abs/path.db opens a file store that keeps its data across opens', async () => {
    const file = path.join(dir, 'store.db');
    const b = await openBackend(`sqlite://${file}`);
    assert.ok(b instanceof SqliteBackend);
    assert.equal(b.kind, 'sqlite');
    assert.equal(b.path, file);
    assert.equal(b.durability, 'normal');
    const { book } = await seeded(b, [task('a')]);
    await b.close();
    assert.ok(fs.existsSync(file));
    const again = await openBackend(`sqlite://${file}`);
    assert.equal((await again.getLogBook(book.uuid)).name, 'lb');
    await again.close();
  });

  test('percent-encoded paths are decoded', async () => {
    const file = path.join(dir, 'with space.db');
    const b = await openBackend(`sqlite://${path.join(dir, 'with%20space.db')}`);
    assert.ok(b instanceof SqliteBackend);
    assert.equal(b.path, file);
    await b.close();
    assert.ok(fs.existsSync(file));
  });

  test('sqlite::memory: opens a private in-memory SQLite store', async () => {
    const b = await openBackend('sqlite::memory:');
    assert.ok(b instanceof SqliteBackend);
    assert.equal(b.path, ':memory:');
    const { flow } = await seeded(b, [task('a')]);
    assert.equal((await b.getFlowDetail(flow.uuid)).atomDetails.length, 1);
    await b.close();
  });

  test("locking comes from the query ('exclusive') or defaults to 'shared'", async () => {
    const file = path.join(dir, 'locked.db');
    const held = await openBackend(`sqlite://${file}?locking=exclusive`);
    assert.ok(held instanceof SqliteBackend);
    assert.equal(held.locking, 'exclusive');
    await held.close();
    const plain = await openBackend(`sqlite://${file}`);
    assert.ok(plain instanceof SqliteBackend);
    assert.equal(plain.locking, 'shared');
    await plain.close();
    await assert.rejects(openBackend(`sqlite://${file}?locking=sometimes`), InvariantViolation);
  });

  test('durability comes from the query or from options, and they must agree', async () => {
    const file = path.join(dir, 'durable.db');
    const viaQuery = await openBackend(`sqlite://${file}?durability=full`);
    assert.ok(viaQuery instanceof SqliteBackend);
    assert.equal(viaQuery.durability, 'full');
    await viaQuery.close();
    const viaOptions = await openBackend(`sqlite://${file}`, { durability: 'full' });
    assert.ok(viaOptions instanceof SqliteBackend);
    assert.equal(viaOptions.durability, 'full');
    await viaOptions.close();
    const both = await openBackend(`sqlite://${file}?durability=full`, { durability: 'full' });
    await both.close();
    await assert.rejects(openBackend(`sqlite://${file}?durability=full`, { durability: 'normal' }), refused(/option 'durability' is "normal" but the URI says "full"/, 'durability'));
    await assert.rejects(openBackend(`sqlite://${file}?durability=fast`), refused(/'durability' must be 'normal' or 'full'/, 'durability'));
    await assert.rejects(openBackend(`sqlite://${file}?mode=ro`), refused(/unknown query parameter 'mode'/, 'mode'));
    await assert.rejects(openBackend(`sqlite://${file}`, { durabilty: 'full' } as never), refused(/unknown sqlite backend option 'durabilty'/, 'durabilty'));
  });

  test('memory:// validates options too (and has nothing to make durable)', async () => {
    const b = await openBackend('memory://', { durability: 'full' });
    assert.equal(b.kind, 'memory');
    await b.close();
    await assert.rejects(openBackend('memory://', { durability: 'always' as never }), refused(/'durability'/, 'durability'));
    await assert.rejects(openBackend('memory://somewhere'), refused(/a memory URI is just 'memory:\/\/'/));
  });

  test('relative sqlite paths are refused, with the three-slash form in the message', async () => {
    await assert.rejects(openBackend('sqlite://relative/path.db'), refused(/three slashes and an absolute path \(sqlite:\/\/\/abs\/path\.db\)/, 'uri'));
    await assert.rejects(openBackend('sqlite:relative.db'), refused(/malformed sqlite URI/));
    await assert.rejects(openBackend('sqlite:///'), refused(/names a directory/));
  });

  test('other schemes are refused with the supported list (postgres:// is covered in postgres.test.ts)', async () => {
    await assert.rejects(openBackend('redis://localhost:6379'), refused(/unsupported scheme 'redis'; supported: memory:\/\/, sqlite:\/\/\/absolute\/path\.db, sqlite::memory:, postgres:\/\/user@host:port\/db/));
    await assert.rejects(openBackend('just-a-path.db'), refused(/no scheme/));
  });

  test('a store that cannot be opened rejects with StorageFailure', async () => {
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'not a database, just text\n'.repeat(50));
    await assert.rejects(openBackend(`sqlite://${text}`), (err: unknown) => err instanceof StorageFailure && /not a SQLite database/.test(err.message));
    await assert.rejects(openBackend(`sqlite://${path.join(dir, 'missing', 'x.db')}`), StorageFailure);
  });
});
