/**
 * The PostgreSQL backend: the whole conformance suite (a fresh schema per test), then what only
 * PostgreSQL has — URIs and options, the caller's pool, migrations (newer and foreign schemas,
 * concurrent openers, from version 1), the one-statement commit and its fence, claims on the
 * database clock, listing and purge, and a connection terminated mid-run.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { type FlowChange, ClaimLost, FlowClaimed, InvariantViolation, LinearFlow, NotFound, PostgresBackend, StorageFailure, load, openBackend, task } from '../../index.js';
import { PG_MIGRATIONS, VALUES_MAX, quoteIdent } from '../../persistence/postgres-schema.js';
import { updateAtom, updateFlow } from '../../persistence/models.js';
import { PG_URL, freshSchema, freshUri, pgBackend, pgPool } from '../support/postgres.js';
import { backendConformance } from './conformance.js';
import { T0, bookWith, flowWith, seeded, task as atom } from './fixtures.js';

// One schema for the suite, emptied before each test (the tests of a file run one at a time).
const conformanceSchema = freshSchema('conf');
backendConformance('PostgresBackend', async () => {
  const b = new PostgresBackend({ pool: pgPool(), schema: conformanceSchema });
  await b.clearAll();
  return b;
});

/** A pool of one connection that counts the statements sent through `pool.query`. */
function countingPool(): { pool: pg.Pool; count: () => number } {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
  pool.on('error', () => {});
  let n = 0;
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    n++;
    return query(...args);
  };
  return { pool, count: () => n };
}

/** A change carrying a fencing token (FlowChange.fence, from the ownership work). */
function fenced(change: FlowChange, fence: number): FlowChange {
  return { ...change, fence } as FlowChange;
}

async function versionOf(schema: string): Promise<number> {
  return (await pgPool().query(`SELECT version FROM ${quoteIdent(schema)}.schema_version WHERE app = 'atomflow'`)).rows[0].version as number;
}

describe('PostgreSQL backend', () => {
  describe('opening', () => {
    test('openBackend(postgres://…?schema=&durability=) opens, migrates and sets synchronous_commit', async () => {
      for (const scheme of ['postgres', 'postgresql']) {
        const uri = freshUri('open', '&durability=normal&max=2').replace(/^postgres/, scheme);
        const b = await openBackend(uri);
        try {
          assert.ok(b instanceof PostgresBackend);
          assert.equal(b.kind, 'postgres');
          assert.equal(b.durability, 'normal');
          assert.equal(await versionOf(b.schema), PG_MIGRATIONS.length);
          const { book } = await seeded(b, [atom('a')]);
          assert.equal((await b.getLogBook(book.uuid)).flowDetails[0]?.atomDetails[0]?.name, 'a');
        } finally {
          await b.close();
        }
      }
    });

    test('bad URIs and options are refused with InvariantViolation naming them', async () => {
      await assert.rejects(openBackend(`${PG_URL}?durability=sometimes`), (e: unknown) => e instanceof InvariantViolation && /durability/.test(e.message));
      await assert.rejects(openBackend(`${PG_URL}?schema=a&schema=b`), /given twice/);
      await assert.rejects(openBackend(`${PG_URL}?schema=a`, { schema: 'b' }), /URI says/);
      await assert.rejects(openBackend(PG_URL, { max: 0 }), /'max'/);
      await assert.rejects(openBackend(PG_URL, { busyTimeout: 5 } as never), /unknown postgres backend option 'busyTimeout'/);
      assert.throws(() => new PostgresBackend({} as never), InvariantViolation);
      assert.throws(() => new PostgresBackend({ pool: pgPool(), max: 2 } as never), /'max'/);
      assert.throws(() => new PostgresBackend({ pool: pgPool(), schema: '' }), /'schema'/);
    });

    test('an unreachable server is a StorageFailure', async () => {
      await assert.rejects(openBackend('postgres://postgres@127.0.0.1:1/test?schema=x'), StorageFailure);
    });

    test("a caller's pool: durability set on its connections; close() leaves it open", async () => {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
      const schema = freshSchema('pool');
      const b = new PostgresBackend({ pool, schema, durability: 'normal' });
      await seeded(b);
      assert.equal((await pool.query('SHOW synchronous_commit')).rows[0].synchronous_commit, 'off');
      await b.close();
      await assert.rejects(b.getLogBooks(), StorageFailure);
      assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
      await pool.end();
    });

    test('a schema written by a newer atomflow is refused; so is a foreign one', async () => {
      const b = pgBackend('newer');
      await seeded(b);
      await pgPool().query(`UPDATE ${quoteIdent(b.schema)}.schema_version SET version = 99`);
      await assert.rejects(new PostgresBackend({ pool: pgPool(), schema: b.schema }).getLogBooks(), (e: unknown) => e instanceof StorageFailure && /newer atomflow/.test(e.message));

      const foreign = freshSchema('foreign');
      await pgPool().query(`CREATE SCHEMA ${quoteIdent(foreign)}; CREATE TABLE ${quoteIdent(foreign)}.users (id int)`);
      await assert.rejects(new PostgresBackend({ pool: pgPool(), schema: foreign }).getLogBooks(), (e: unknown) => e instanceof StorageFailure && /not an atomflow store/.test(e.message));
      // Nothing was created in it.
      const tables = await pgPool().query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [foreign]);
      assert.deepEqual(tables.rows.map((r) => r.table_name), ['users']);

      const mixed = pgBackend('mixed');
      await seeded(mixed);
      await pgPool().query(`CREATE TABLE ${quoteIdent(mixed.schema)}.users (id int)`);
      await assert.rejects(new PostgresBackend({ pool: pgPool(), schema: mixed.schema }).getLogBooks(), /tables that are not atomflow's \[users\]/);
    });

    test('concurrent openers of one fresh schema migrate it once', async () => {
      const schema = freshSchema('race');
      const pools = [0, 1, 2, 3].map(() => new pg.Pool({ connectionString: PG_URL, max: 1 }));
      try {
        const backends = pools.map((pool) => new PostgresBackend({ pool, schema }));
        const books = await Promise.all(backends.map((b) => b.getLogBooks()));
        assert.deepEqual(books, [[], [], [], []]);
        assert.equal(await versionOf(schema), PG_MIGRATIONS.length);
      } finally {
        await Promise.all(pools.map((p) => p.end()));
      }
    });

    test('a store at version 1 is migrated forward, its rows kept', async () => {
      const schema = freshSchema('v1');
      const s = quoteIdent(schema);
      await pgPool().query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.schema_version (app text PRIMARY KEY, version integer NOT NULL, updated_at double precision NOT NULL);
        ${PG_MIGRATIONS[0]!(s)}; INSERT INTO ${s}.schema_version VALUES ('atomflow', 1, 0);
        INSERT INTO ${s}.logbooks (uuid, format, name, meta, created_at) VALUES ('b1', 1, 'old', '{}', 1);
        INSERT INTO ${s}.flowdetails (uuid, parent_uuid, format, name, state, meta, created_at) VALUES ('f1', 'b1', 1, 'old-flow', 'SUCCESS', '{}', 1)`);
      const b = new PostgresBackend({ pool: pgPool(), schema });
      assert.equal((await b.getFlowDetail('f1')).name, 'old-flow');
      assert.equal(await versionOf(schema), PG_MIGRATIONS.length);
      assert.equal(await b.getClaim('f1'), undefined);
    });
  });

  describe('commit', () => {
    test('an engine step is one statement', async () => {
      const { pool, count } = countingPool();
      try {
        const b = new PostgresBackend({ pool, schema: freshSchema('rt') });
        const a1 = atom('a');
        const { flow } = await seeded(b, [a1]);
        const before = count();
        await b.commit(flow.uuid, fenced({ flow: updateFlow(flow, { state: 'RUNNING' }), atoms: [updateAtom(a1, { state: 'RUNNING' }), atom('b')] }, 0));
        assert.equal(count() - before, 1);
        assert.deepEqual((await b.getAtomDetails(flow.uuid)).map((a) => [a.name, a.state]), [['a', 'RUNNING'], ['b', 'PENDING']]);
      } finally {
        await pool.end();
      }
    });

    test('a stale fence is ClaimLost and writes nothing; a foreign atom writes nothing either', async () => {
      const b = pgBackend('fence');
      const a1 = atom('a');
      const { flow } = await seeded(b, [a1]);
      const claim = await b.claim(flow.uuid, { owner: 'one', host: 'h', pid: 1, leaseMs: 60_000 });
      const change = { flow: updateFlow(flow, { state: 'RUNNING' as const }), atoms: [updateAtom(a1, { state: 'RUNNING' })] };
      await assert.rejects(b.commit(flow.uuid, fenced(change, claim.token - 1)), (e: unknown) => e instanceof ClaimLost && e.flowUuid === flow.uuid);
      assert.equal((await b.getFlowDetail(flow.uuid)).state, null);
      assert.equal((await b.getAtomDetails(flow.uuid))[0]?.state, 'PENDING');
      await assert.rejects(b.commit('nope', fenced({ atoms: [atom('x')] }, 1)), NotFound);
      await b.commit(flow.uuid, fenced(change, claim.token));
      assert.equal((await b.getFlowDetail(flow.uuid)).state, 'RUNNING');

      const other = await seeded(b, [atom('o')]);
      const foreign = other.flow.atomDetails[0]!;
      await assert.rejects(
        b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'SUCCESS' }), atoms: [atom('new'), foreign] }),
        (e: unknown) => e instanceof InvariantViolation && e.message.includes(other.flow.uuid),
      );
      assert.equal((await b.getFlowDetail(flow.uuid)).state, 'RUNNING');
      assert.deepEqual((await b.getAtomDetails(flow.uuid)).map((a) => a.name), ['a']);
      // Beyond VALUES_MAX atoms a commit sends column arrays: same outcomes.
      const many = Array.from({ length: VALUES_MAX + 3 }, (_, k) => atom(`m${k}`));
      await assert.rejects(b.commit(flow.uuid, { atoms: [...many, foreign] }), InvariantViolation);
      assert.deepEqual((await b.getAtomDetails(flow.uuid)).map((a) => a.name), ['a']);
      await b.commit(flow.uuid, fenced({ atoms: many }, claim.token));
      assert.equal((await b.getAtomDetails(flow.uuid)).length, 1 + many.length);
      await assert.rejects(b.commit(flow.uuid, fenced({ atoms: many.map((a) => updateAtom(a, { state: 'RUNNING' })) }, claim.token - 1)), ClaimLost);
      assert.ok((await b.getAtomDetails(flow.uuid)).filter((a) => a.name.startsWith('m')).every((a) => a.state === 'PENDING'));
    });
  });

  describe('driver errors', () => {
    test('a serialization failure or deadlock is retried once; a lost connection is a StorageFailure with the driver error', async () => {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
      pool.on('error', () => {});
      const b = new PostgresBackend({ pool, schema: freshSchema('errors') });
      try {
        const { flow } = await seeded(b, [atom('a')]);
        const real = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
        const failNext: string[] = [];
        let calls = 0;
        (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
          calls++;
          const code = failNext.shift();
          if (code === undefined) return real(...args);
          return Promise.reject(Object.assign(new Error(`synthetic ${code}`), { code }));
        };
        failNext.push('40001');
        await b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'RUNNING' }) });
        assert.equal(calls, 2);
        assert.equal((await b.getFlowDetail(flow.uuid, { lazy: true })).state, 'RUNNING');
        failNext.push('40P01', '40P01');
        await assert.rejects(b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'SUCCESS' }) }), StorageFailure);
        for (const code of ['57P01', 'ECONNRESET', '08006']) {
          failNext.push(code);
          await assert.rejects(b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'SUCCESS' }) }), (e: unknown) =>
            e instanceof StorageFailure && (e.cause as { code?: string }).code === code && e.message.includes(code));
        }
        assert.equal((await b.getFlowDetail(flow.uuid, { lazy: true })).state, 'RUNNING');
      } finally {
        await pool.end();
      }
    });
  });

  describe('claims (database clock)', () => {
    test('claim, FlowClaimed for a live holder, renew, release, takeover after expiry and of a dead pid on this host', async () => {
      const b = pgBackend('claim');
      const { flow } = await seeded(b);
      const me = { owner: 'me', host: 'here', pid: process.pid, leaseMs: 60_000 };
      const c1 = await b.claim(flow.uuid, me);
      assert.equal(c1.token, 1);
      assert.ok(c1.leaseUntil > Date.now() + 30_000);
      await assert.rejects(b.claim(flow.uuid, { ...me, owner: 'again' }), (e: unknown) => e instanceof FlowClaimed && e.owner === 'me');
      await assert.rejects(b.claim('nope', me), NotFound);
      assert.deepEqual(await b.getClaim(flow.uuid), c1);
      const renewed = await b.renew(flow.uuid, c1.token, 120_000);
      assert.ok(renewed.leaseUntil > c1.leaseUntil);
      await assert.rejects(b.renew(flow.uuid, c1.token + 1, 1000), ClaimLost);
      await b.release(flow.uuid, c1.token + 1); // not ours: nothing
      assert.equal((await b.getClaim(flow.uuid))?.owner, 'me');
      await b.release(flow.uuid, c1.token);
      assert.equal(await b.getClaim(flow.uuid), undefined);
      await assert.rejects(b.renew(flow.uuid, c1.token, 1000), ClaimLost);

      // Another host's holder: taken over once its lease is past (moved into the past by hand).
      const c2 = await b.claim(flow.uuid, { owner: 'far', host: 'elsewhere', pid: 1, leaseMs: 60_000 });
      await assert.rejects(b.claim(flow.uuid, me), FlowClaimed);
      await pgPool().query(`UPDATE ${quoteIdent(b.schema)}.flowdetails SET lease_until = now() - interval '1 second'`);
      const c3 = await b.claim(flow.uuid, me);
      assert.equal(c3.token, c2.token + 1);
      await assert.rejects(b.commit(flow.uuid, fenced({ atoms: [atom('late')] }, c2.token)), ClaimLost);

      // A holder on this host whose pid is gone: taken over at once.
      const dead = 2 ** 22 + 12345; // above pid_max's default: no such process
      const c4 = await b.claim(flow.uuid, { owner: 'gone', host: 'here', pid: dead, leaseMs: 60_000 }).catch(async () => {
        await b.release(flow.uuid, c3.token);
        return b.claim(flow.uuid, { owner: 'gone', host: 'here', pid: dead, leaseMs: 60_000 });
      });
      const c5 = await b.claim(flow.uuid, me);
      assert.equal(c5.token, c4.token + 1);
      assert.equal(c5.owner, 'me');
    });
  });

  describe('listing and purge', () => {
    test('findFlows by state, book and limit (oldest first); purge removes old finished flows and the books it empties', async () => {
      const b = pgBackend('find');
      const done = updateFlow(flowWith('done', [atom('a')], T0), { state: 'SUCCESS', updatedAt: T0 + 1 });
      const failed = updateFlow(flowWith('failed', [], T0 + 2), { state: 'FAILURE', updatedAt: T0 + 3 });
      const running = updateFlow(flowWith('running', [], T0 + 4), { state: 'RUNNING', updatedAt: T0 + 5 });
      const fresh = updateFlow(flowWith('fresh', [], T0 + 6), { state: 'SUCCESS', updatedAt: T0 + 10_000 });
      const b1 = bookWith('one', [done, failed]);
      const b2 = bookWith('two', [running, fresh]);
      await b.saveLogBook(b1);
      await b.saveLogBook(b2);
      assert.deepEqual((await b.findFlows()).map((f) => f.name), ['done', 'failed', 'running', 'fresh']);
      assert.deepEqual((await b.findFlows({ state: ['SUCCESS', 'FAILURE'] })).map((f) => f.name), ['done', 'failed', 'fresh']);
      assert.deepEqual((await b.findFlows({ state: 'SUCCESS', limit: 1 })).map((f) => f.name), ['done']);
      assert.deepEqual((await b.findFlows({ bookUuid: b2.uuid })).map((f) => f.name), ['running', 'fresh']);
      assert.equal((await b.findFlows({ state: 'SUCCESS' }))[0]?.atomDetails.length, 0);
      await assert.rejects(b.findFlows({ state: 'DONE' as never }), InvariantViolation);
      await assert.rejects(b.findFlows({ limit: -1 }), InvariantViolation);

      assert.equal(await b.purge({ olderThan: new Date(T0 + 100) }), 2);
      await assert.rejects(b.getLogBook(b1.uuid), NotFound);
      assert.deepEqual((await b.getLogBook(b2.uuid)).flowDetails.map((f) => f.name), ['running', 'fresh']);
      assert.equal(await b.purge({ olderThan: T0 + 100_000, states: ['RUNNING'] }), 1);
      assert.deepEqual((await b.findFlows()).map((f) => f.name), ['fresh']);
      await assert.rejects(b.purge({ olderThan: 'soon' } as never), InvariantViolation);
    });
  });

  describe('a connection lost mid-run', () => {
    test('pg_terminate_backend during a commit: the run fails with StorageFailure; the next run resumes to the end', async () => {
      const b = pgBackend('kill');
      const s = quoteIdent(b.schema);
      const ran: string[] = [];
      let uuid = '';
      let killed: Promise<void> | undefined;
      const locker = new pg.Client({ connectionString: PG_URL });
      locker.on('error', () => {});
      await locker.connect();
      /** Holds the flow's rows, so that the next commit waits for them. */
      const lockFlowRow = async (): Promise<void> => {
        await locker.query('BEGIN');
        await locker.query(`SELECT 1 FROM ${s}.flowdetails WHERE uuid = $1 FOR UPDATE`, [uuid]);
        await locker.query(`SELECT 1 FROM ${s}.atomdetails WHERE parent_uuid = $1 FOR UPDATE`, [uuid]);
      };
      /** Finds the connection waiting for those rows (the next commit), terminates it, lets go. */
      const killNextCommit = async (): Promise<void> => {
        const deadline = Date.now() + 20_000;
        try {
          for (;;) {
            const r = await locker.query(
              `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND position($1 in query) > 0`,
              [b.schema],
            );
            if (r.rows.length > 0) {
              await locker.query('SELECT pg_terminate_backend($1)', [r.rows[0].pid]);
              return;
            }
            if (Date.now() > deadline) throw new Error('no commit waited for the flow row within 20 s');
            await new Promise((r) => setTimeout(r, 10));
          }
        } finally {
          await locker.query('ROLLBACK');
        }
      };
      const build = () =>
        new LinearFlow('killed').add(
          task({ name: 'a', provides: 'x', execute: () => (ran.push('a'), 1) }),
          task({
            name: 'b',
            requires: ['x'],
            provides: 'y',
            execute: async ({ x }: { x: number }) => {
              ran.push('b');
              if (killed === undefined) {
                await lockFlowRow();
                killed = killNextCommit();
              }
              return x + 1;
            },
          }),
          task({ name: 'c', requires: ['y'], provides: 'z', execute: ({ y }: { y: number }) => (ran.push('c'), y + 1) }),
        );
      try {
        const first = load(build(), { backend: b, engine: 'serial' });
        uuid = first.flowDetail.uuid;
        await assert.rejects(first.run(), StorageFailure);
        await killed;
        assert.deepEqual(ran, ['a', 'b']);
        const stored = await b.getFlowDetail(uuid);
        assert.equal(stored.state, 'RUNNING');
        assert.equal(stored.atomDetails.find((a) => a.name === 'b')?.state, 'RUNNING', "b's result was not stored");

        const again = load(build(), { backend: b, engine: 'serial', flowDetail: uuid });
        await again.run();
        assert.equal(again.storage.fetch('z'), 3);
        assert.deepEqual(ran, ['a', 'b', 'b', 'c']);
        assert.equal((await b.getFlowDetail(uuid)).state, 'SUCCESS');
      } finally {
        await locker.end();
      }
    });
  });
});
