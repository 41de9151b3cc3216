/**
 * The jobboard on every store: post (atomic, idempotent by key, refused on bad input), listing,
 * priority order, conductors that claim only what they know, trashing, maxAttempts, suspension
 * and abandon, and `job.result()` in this process and in another.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  Conductor,
  InvariantViolation,
  JobTrashed,
  LinearFlow,
  WrappedFailure,
  openJobBoard,
  task,
  type ConductorJobEvent,
  type JobBoard,
} from '../../index.js';
import { openBoardStore } from '../../persistence/index.js';
import { flows } from './fixtures/flows.js';
import { CLI, FLOWS, ConductorProcess, makeStore, startConductor, STORE_KINDS, until, type TestStore } from './helpers.js';

const POSTER = fileURLToPath(new URL('./fixtures/poster.js', import.meta.url));
const AWAIT_RESULT = fileURLToPath(new URL('./fixtures/await-result.js', import.meta.url));

function events(conductor: Conductor): ConductorJobEvent[] {
  const out: ConductorJobEvent[] = [];
  conductor.on('job', (e) => out.push(e));
  return out;
}

function nextEvent(conductor: Conductor, match: (e: ConductorJobEvent) => boolean, ms = 20_000): Promise<ConductorJobEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching conductor event within ${ms} ms`));
    }, ms);
    const off = conductor.on('job', (e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`jobboard (${kind})`, () => {
    let store: TestStore;
    let board: JobBoard;
    const children: ConductorProcess[] = [];

    before(async () => {
      store = await makeStore(kind, 'board');
      board = await openJobBoard(store.uri);
    });
    after(async () => {
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      await board.close();
      await store.cleanup();
    });

    test('post stores book, flow detail (store, details) and job; a key posts once', async () => {
      const job = await board.post('ledger', { store: { x: 1 }, details: { customer: 7 }, priority: 3, key: 'k-1' });
      assert.equal(await job.state(), 'UNCLAIMED');
      assert.equal(job.name, 'ledger');
      assert.deepEqual(job.details, { customer: 7 });
      const flow = await board.backend.getFlowDetail(job.flowUuid);
      assert.deepEqual(flow.meta.store, { x: 1 });
      assert.deepEqual(flow.meta.details, { customer: 7 });
      assert.equal(await board.backend.getBookUuidOfFlow(job.flowUuid), job.bookUuid);
      const again = await board.post('ledger', { store: { x: 2 }, key: 'k-1' });
      assert.equal(again.uuid, job.uuid);
      assert.equal(again.flowUuid, job.flowUuid);
      assert.equal((await board.jobs()).filter((j) => j.key === 'k-1').length, 1);
      assert.deepEqual((await board.backend.getFlowDetail(job.flowUuid)).meta.store, { x: 1 });
    });

    test('a claim whose lease ran out is taken over with a higher token; the old token can neither renew nor finish', async () => {
      const b = await openJobBoard((await makeStoreFor(kind, store)).uri);
      const raw = await openBoardStore(b.uri);
      try {
        const job = await b.post('ledger', { store: { x: 1 } });
        const claim = (owner: string, leaseMs: number) =>
          raw.claim({ names: ['ledger'], owner, host: 'test-host', pid: process.pid, leaseMs, maxAttempts: 5 });
        const first = await claim('one', 30);
        assert.equal(first.kind, 'claimed');
        if (first.kind !== 'claimed') return;
        assert.equal(first.claim.flowUuid, job.flowUuid);
        // The claim raised the flow's fence to the job's token and made the conductor its owner.
        const held = await b.backend.getClaim(job.flowUuid);
        assert.deepEqual([held?.owner, held?.token, held?.host], ['one', first.claim.token, 'test-host']);
        assert.equal((await claim('two', 30_000)).kind, 'none', 'a live claim is not taken');
        await until(async () => (await claim('two', 30_000)).kind === 'claimed', 10_000, 'the lease to run out');
        const now = await b.job(job.uuid);
        assert.equal(now.owner, 'two');
        assert.equal((await b.backend.getClaim(job.flowUuid))?.token, now.token);
        assert.equal(now.attempts, 2);
        assert.ok(now.token > first.claim.token);
        assert.equal(await raw.heartbeat(job.uuid, first.claim.token, 30_000), undefined);
        assert.equal(await raw.finish(job.uuid, first.claim.token, { kind: 'complete', outcome: 'SUCCESS', resultText: '{}' }), false);
        assert.ok((await raw.heartbeat(job.uuid, now.token, 30_000))! > Date.now());
        assert.equal(await raw.finish(job.uuid, now.token, { kind: 'abandon', reason: 'test' }), true);
        assert.equal(await job.state(), 'UNCLAIMED');
        assert.equal(job.reason, 'test');
        // A dead holder on this host is taken over before its lease runs out.
        const third = await claim('three', 30_000);
        assert.equal(third.kind, 'claimed');
        if (third.kind !== 'claimed') return;
        assert.equal((await claim('four', 30_000)).kind, 'none');
        const took = await raw.claim({ names: ['ledger'], owner: 'four', host: 'test-host', pid: process.pid, leaseMs: 30_000, maxAttempts: 5, takeover: [{ uuid: job.uuid, token: third.claim.token }] });
        assert.equal(took.kind, 'claimed');
        assert.equal((await b.job(job.uuid)).owner, 'four');
      } finally {
        await raw.close();
        await b.close();
      }
    });

    test('bad post input is refused with InvariantViolation and nothing is stored', async () => {
      const before = (await board.jobs()).length;
      const books = (await board.backend.getLogBooks()).length;
      const bad: Array<[string, unknown]> = [
        ['', {}],
        ['x', { store: { when: new Date() } }],
        ['x', { store: { n: NaN } }],
        ['x', { details: [] }],
        ['x', { priority: 1.5 }],
        ['x', { key: '' }],
        ['x', { nope: 1 }],
        ['x', { store: { big: 10n } }],
      ];
      for (const [name, options] of bad) {
        await assert.rejects(board.post(name, options as never), InvariantViolation, `${name} ${String(Object.keys(options as object))}`);
      }
      assert.equal((await board.jobs()).length, before);
      assert.equal((await board.backend.getLogBooks()).length, books);
    });

    test('a post killed mid-way leaves all or none of book, flow detail and job', { timeout: 30_000 }, async () => {
      const board = await openJobBoard((await makeStoreFor(kind, store)).uri);
      const child = spawn(process.execPath, [POSTER, board.uri], { stdio: ['ignore', 'pipe', 'inherit'] });
      let lines = 0;
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          lines += chunk.toString().split('\n').length - 1;
          if (lines >= 60) resolve();
        });
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const jobs = await board.jobs();
      const books = await board.backend.getLogBooks({ lazy: false });
      const flowsOfJobs = new Set(jobs.map((j) => j.flowUuid));
      for (const b of books) {
        assert.equal(b.flowDetails.length, 1, `book ${b.uuid} holds one flow detail`);
        assert.ok(flowsOfJobs.has(b.flowDetails[0]!.uuid), `flow ${b.flowDetails[0]!.uuid} has its job`);
      }
      assert.equal(books.length, jobs.length);
      assert.ok(jobs.length >= 60);
      for (const j of jobs) await board.backend.getFlowDetail(j.flowUuid);
      await board.close();
    });

    test('priority order, then post order; unknown names stay UNCLAIMED; a throwing factory trashes; neither blocks', { timeout: 60_000 }, async () => {
      const b = await openJobBoard((await makeStoreFor(kind, store)).uri);
      try {
        const unknown = await b.post('mystery', { priority: 100 });
        const broken = await b.post('broken', { priority: 50 });
        const low = await b.post('ledger', { store: { x: 1 }, details: { ms: 0 }, priority: -1 });
        const mid1 = await b.post('ledger', { store: { x: 2 }, details: { ms: 0 } });
        const mid2 = await b.post('ledger', { store: { x: 3 }, details: { ms: 0 } });
        const high = await b.post('ledger', { store: { x: 4 }, details: { ms: 0 }, priority: 9 });
        const conductor = new Conductor(b, { flows, leaseMs: 5000, pollMs: 50 });
        const seen = events(conductor);
        await conductor.start();
        await until(async () => (await b.jobs({ state: ['COMPLETE', 'TRASHED'] })).length === 5, 30_000, 'five jobs done');
        await conductor.stop();
        const claimed = seen.filter((e) => e.event === 'claimed').map((e) => e.job.uuid);
        assert.deepEqual(claimed, [broken.uuid, high.uuid, mid1.uuid, mid2.uuid, low.uuid]);
        assert.equal(await unknown.state(), 'UNCLAIMED');
        assert.equal(await broken.state(), 'TRASHED');
        assert.match(broken.reason ?? '', /factory for 'broken' threw: Error: no such tariff/);
        await assert.rejects(broken.result(), (e: unknown) => e instanceof JobTrashed && /no such tariff/.test(e.message));
        assert.deepEqual(await high.result(), { x: 4, s1: 5, s2: 6, s3: 7, s4: 8, s5: 9 });
        const trashed = seen.find((e) => e.event === 'trashed');
        assert.equal(trashed?.job.uuid, broken.uuid);
      } finally {
        await b.close();
      }
    });

    test('job.result() in the process that ran it: the value, or the original error', { timeout: 30_000 }, async () => {
      const ok = await board.post('ledger', { store: { x: 10 }, details: { ms: 0 } });
      const bad = await board.post('failing');
      const conductor = new Conductor(board, { flows: { ledger: flows.ledger, failing: flows.failing }, leaseMs: 5000, concurrency: 2 });
      await conductor.start();
      try {
        assert.deepEqual(await ok.result(), { x: 10, s1: 11, s2: 12, s3: 13, s4: 14, s5: 15 });
        await assert.rejects(bad.result(), (e: unknown) => e instanceof RangeError && e.message === 'insufficient funds');
        assert.equal(await bad.state(), 'COMPLETE');
        assert.equal((await board.backend.getFlowDetail(bad.flowUuid)).state, 'REVERTED');
      } finally {
        await conductor.stop();
      }
    });

    test('job.result() from another process: the stored values, or a WrappedFailure of the stored failures', { timeout: 60_000 }, async () => {
      const b = await openJobBoard((await makeStoreFor(kind, store)).uri);
      try {
        const ok = await b.post('ledger', { store: { x: 20 }, details: { ms: 0 } });
        const bad = await b.post('failing');
        const c = startConductor({ ...store, uri: b.uri }, { name: 'remote', leaseMs: 5000 });
        children.push(c);
        const waitIn = (uuid: string) => {
          const r = spawnSync(process.execPath, [AWAIT_RESULT, b.uri, uuid], { encoding: 'utf8', timeout: 30_000 });
          return JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; value?: unknown; error?: { name: string; failures?: string[][] } };
        };
        assert.deepEqual(waitIn(ok.uuid), { ok: true, value: { x: 20, s1: 21, s2: 22, s3: 23, s4: 24, s5: 25 } });
        const failed = waitIn(bad.uuid);
        assert.equal(failed.ok, false);
        assert.equal(failed.error?.name, 'WrappedFailure');
        assert.deepEqual(failed.error?.failures, [['RangeError', 'insufficient funds']]);
        // And here, in a process that did not run it.
        await assert.rejects(bad.result(), (e: unknown) => e instanceof WrappedFailure && e.failures[0]?.exceptionType === 'RangeError');
        assert.deepEqual((await c.stop()).code, 0);
      } finally {
        await b.close();
      }
    });

    test('a job claimed maxAttempts times without completing is TRASHED with the reason', { timeout: 60_000 }, async () => {
      const b = await openJobBoard((await makeStoreFor(kind, store)).uri);
      try {
        const poison = await b.post('poison');
        const fine = await b.post('ledger', { store: { x: 1 }, details: { ms: 0 }, priority: -1 });
        // Each conductor claims the poison job and dies in its atom; the next one (same host, dead pid) takes it over at once.
        for (let i = 0; i < 2; i++) {
          const c = startConductor({ ...store, uri: b.uri }, { name: `p${i}`, leaseMs: 30_000, maxAttempts: 2 });
          children.push(c);
          assert.equal((await c.exited).signal, 'SIGKILL');
        }
        assert.equal((await b.job(poison.uuid)).attempts, 2);
        const last = startConductor({ ...store, uri: b.uri }, { name: 'p-last', leaseMs: 30_000, maxAttempts: 2 });
        children.push(last);
        await last.waitFor(new RegExp(`^trashed poison ${poison.uuid}`));
        await last.waitFor(new RegExp(`^completed ledger ${fine.uuid}`));
        assert.equal(await poison.state(), 'TRASHED');
        assert.match(poison.reason ?? '', /claimed 2 times without completing \(maxAttempts 2\)/);
        assert.equal((await last.stop()).code, 0);
      } finally {
        await b.close();
      }
    });

    test('stop({ suspend: true }) suspends runs and abandons their jobs; another conductor finishes them', { timeout: 60_000 }, async () => {
      const job = await board.post('slow', { store: { x: 1 }, details: { ms: 300 } });
      const first = new Conductor(board, { flows, leaseMs: 5000, name: 'first' });
      const claimed = nextEvent(first, (e) => e.event === 'claimed' && e.job.uuid === job.uuid);
      const abandoned = nextEvent(first, (e) => e.event === 'abandoned' && e.job.uuid === job.uuid);
      await first.start();
      await claimed;
      await first.stop({ suspend: true });
      assert.equal((await abandoned).state, 'SUSPENDED');
      assert.equal(await job.state(), 'UNCLAIMED');
      const second = new Conductor(board, { flows, leaseMs: 5000, name: 'second' });
      await second.start();
      try {
        assert.deepEqual(await job.result(), { x: 1, waited: 2, done: 20 });
        assert.equal((await board.job(job.uuid)).attempts, 2);
      } finally {
        await second.stop();
      }
    });

    test('in-process flows built by the caller: a task factory given details', async () => {
      const job = await board.post('greet', { details: { who: 'Lisbon' } });
      const c = new Conductor(board, {
        flows: { greet: (d) => new LinearFlow('greet').add(task({ name: 'hi', provides: 'greeting', execute: () => `hello ${String(d.who)}` })) },
        leaseMs: 5000,
      });
      await c.start();
      try {
        assert.deepEqual(await job.result(), { greeting: 'hello Lisbon' });
      } finally {
        await c.stop();
      }
      // Stopped, then started again: it claims again.
      const again = await board.post('greet', { details: { who: 'Porto' } });
      await c.start();
      try {
        assert.deepEqual(await again.result(), { greeting: 'hello Porto' });
      } finally {
        await c.stop();
      }
      await assert.rejects(Promise.resolve().then(() => new Conductor(board, { flows: {} })), InvariantViolation);
      await assert.rejects(Promise.resolve().then(() => new Conductor(board, { flows, leaseMs: 5 })), InvariantViolation);
      await assert.rejects(Promise.resolve().then(() => new Conductor(board, { flows, nope: 1 } as never)), InvariantViolation);
    });

    test('CLI: post, jobs (table and --json); bad input exits 2 with one line', () => {
      const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
      const posted = run('post', store.uri, 'cli-job', '--store', 'x=5', '--details', 'who=me', '--priority=-2', '--key', 'cli-1');
      assert.equal(posted.status, 0, posted.stderr);
      const uuid = posted.stdout.trim();
      assert.equal(run('post', store.uri, 'cli-job', '--key', 'cli-1').stdout.trim(), uuid);
      const listed = run('jobs', store.uri, '--json', '--name', 'cli-job');
      assert.equal(listed.status, 0, listed.stderr);
      const [j] = JSON.parse(listed.stdout) as Array<{ uuid: string; state: string; priority: number; details: unknown }>;
      assert.deepEqual([j?.uuid, j?.state, j?.priority, j?.details], [uuid, 'UNCLAIMED', -2, { who: 'me' }]);
      const table = run('jobs', store.uri, '--state', 'unclaimed');
      assert.match(table.stdout, new RegExp(`${uuid.replace(/[-]/g, '\\-')}\\s+cli-job\\s+UNCLAIMED`));
      for (const args of [
        ['post', store.uri],
        ['post', store.uri, 'x', '--store', 'novalue'],
        ['post', store.uri, 'x', '--priority', 'high'],
        ['jobs', store.uri, '--state', 'DONE'],
        ['jobs', 'nope://x'],
        ['conductor', '--board', store.uri],
        ['conductor', '--board', store.uri, '--module', '/no/such/module.js'],
        ['conductor', '--board', store.uri, '--module', FLOWS, '--concurrency', '0'],
        ['conductor', '--board', store.uri, '--module', FLOWS, '--lease-ms', '5'],
      ]) {
        const r = run(...args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    });
  });
}

/** Another empty store of the same kind, cleaned up with the suite's store. */
const extra = new Map<TestStore, TestStore[]>();
async function makeStoreFor(kind: 'sqlite' | 'postgres', parent: TestStore): Promise<TestStore> {
  const s = await makeStore(kind, 'board');
  const list = extra.get(parent) ?? [];
  list.push(s);
  extra.set(parent, list);
  return s;
}
after(async () => {
  for (const list of extra.values()) for (const s of list) await s.cleanup();
});
