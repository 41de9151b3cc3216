/**
 * Engine 'worker' on real Redis with real worker processes: results, failures and progress across
 * processes, NotFound, the CLI worker, a worker killed inside an atom (redeliver 'once' / 'never'),
 * an engine killed with atoms in flight and resumed, and a (private) Redis restarted mid-run.
 * Every queue is unique to this run and obliterated at the end; every wait is bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { AtomTimeout, Failure, InvariantViolation, LinearFlow, SqliteBackend, WrappedFailure, load, task, type Engine, type ExecutionInfo } from '../../index.js';
import { Capture, Progressing, T } from '../support/index.js';
import { Gated, Ledgered, buildCrashFlow, readLedger } from '../support/worker-atoms.js';
import { obliterate, redisUrl, spawnWorker, uniqueQueue, workerAtoms, type SpawnedWorker } from '../support/worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', '..', 'bin', 'atomflow.js');
const engineChild = path.join(here, '..', 'support', 'worker-engine-child.js');

let dir: string;
const queues: Array<[string, string]> = [];
const workers: SpawnedWorker[] = [];
const children: ChildProcess[] = [];

function queueFor(purpose: string, connection = redisUrl): string {
  const q = uniqueQueue(purpose);
  queues.push([q, connection]);
  return q;
}

function worker(o: Parameters<typeof spawnWorker>[0]): SpawnedWorker {
  const w = spawnWorker(o);
  workers.push(w);
  return w;
}

/** Polls `cond` every 20 ms until true; fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function count(lines: readonly string[], prefix: string): number {
  return lines.filter((l) => l.startsWith(prefix)).length;
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-worker-'));
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.stop()));
  for (const [q, c] of queues) await obliterate(q, c).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('engine worker: basics', () => {
  let queue: string;
  before(async () => {
    queue = queueFor('basics');
    await worker({ queue, concurrency: 4 }).ready;
  });
  const options = () => ({ engine: 'worker' as const, worker: { connection: redisUrl, queue, checkMs: 1000 } });

  test('the same transcript and progress events as the serial engine', async () => {
    const build = () => new LinearFlow('f').add(new Progressing('p1', { provides: 'x' }), new T('t2', { ret: { y: [1, 'two'] }, provides: 'y' }));
    const seen: Record<string, { atoms: string[]; progress: string[]; results: unknown }> = {};
    for (const kind of ['serial', 'worker'] as const) {
      const e = load(build(), kind === 'worker' ? options() : { engine: 'serial' });
      const cap = new Capture(e);
      const progress: string[] = [];
      e.on('progress', (p) => progress.push(`${p.name} ${p.progress}`));
      await e.run();
      seen[kind] = { atoms: cap.values, progress, results: e.storage.fetchAll() };
    }
    assert.deepEqual(seen.worker, seen.serial);
    assert.deepEqual(seen.worker!.progress, ['p1 0', 'p1 0', 'p1 1', 'p1 1', 't2 0', 't2 1']);
  });

  test('a failure crosses as a Failure (type chain, message, stack); run() rejects with a WrappedFailure', async () => {
    const e = load(new LinearFlow('f').add(new T('ok', { ret: 1 }), new T('bad', { fail: true })), options());
    const cap = new Capture(e, { flows: false });
    const err = await e.run().then(
      () => assert.fail('expected a rejection'),
      (x: unknown) => x,
    );
    assert.ok(err instanceof WrappedFailure);
    const f = err.failures[0]!;
    assert.equal(f.exceptionType, 'RuntimeError');
    assert.deepEqual(f.exceptionTypes, ['RuntimeError', 'Error']);
    assert.equal(f.message, 'fail-bad');
    assert.match(f.stack, /fail-bad[\s\S]*worker-server/);
    assert.equal(f.check('RuntimeError'), 'RuntimeError');
    assert.ok(Failure.fromJSON(JSON.parse(JSON.stringify(f.toJSON()))).matches(f));
    assert.deepEqual(cap.values, [
      'ok.t RUNNING',
      'ok.t SUCCESS(1)',
      'bad.t RUNNING',
      'bad.t FAILURE(Failure: RuntimeError: fail-bad)',
      'bad.t REVERTING',
      'bad.t REVERTED(None)',
      'ok.t REVERTING',
      'ok.t REVERTED(None)',
    ]);
  });

  test('an atom the worker does not have fails with NotFound (its revert too: FAILURE)', async () => {
    const e = load(new LinearFlow('f').add(task({ name: 'nowhere', execute: () => 1 })), options());
    const err = (await e.run().catch((x: unknown) => x)) as WrappedFailure;
    assert.ok(err instanceof WrappedFailure);
    assert.equal(err.failures[0]!.exceptionType, 'NotFound');
    assert.match(err.failures[0]!.message, /no atom 'nowhere'/);
    assert.equal(e.storage.getAtomState('nowhere'), 'REVERT_FAILURE');
    assert.equal(e.storage.getFlowState(), 'FAILURE');
  });

  test("execution info: the worker's hostname and pid, its times in order, for executes and reverts (kept in SQLite)", async () => {
    const ledger = path.join(dir, 'info.ledger');
    const db = path.join(dir, 'info.db');
    const build = () => new LinearFlow('f').add(new Ledgered('a', { ledger }), new Ledgered('b', { ledger, fail: true }));
    const backend = new SqliteBackend(db);
    let closed = false;
    try {
      const e = load(build(), { ...options(), backend });
      await assert.rejects(e.run(), /fail-b/);
      const pids = new Set(fs.readFileSync(ledger, 'utf8').split('\n').filter(Boolean).map((l) => Number(l.split(' ').at(-1))));
      assert.equal(pids.size, 1, 'one worker ran them all');
      const [workerPid] = [...pids];
      assert.notEqual(workerPid, process.pid);
      const check = (info: ExecutionInfo, success: { execute: boolean }): void => {
        for (const action of ['execute', 'revert'] as const) {
          const r = info[action]!;
          assert.ok(r, `a ${action} record`);
          assert.equal(r.pid, workerPid, 'the worker process ran it');
          assert.equal(r.hostname, os.hostname());
          assert.equal(r.success, action === 'revert' || success.execute);
          const times = [r.submittedAt, r.startedAt, r.taskStartedAt, r.taskEndedAt, r.endedAt, r.receivedAt];
          for (const t of times) assert.equal(typeof t, 'number', `all times set: ${JSON.stringify(r)}`);
          for (let k = 1; k < times.length; k++) assert.ok(times[k - 1]! <= times[k]!, `times in order: ${JSON.stringify(r)}`);
        }
      };
      check(e.storage.getExecutionInfo('a'), { execute: true });
      check(e.storage.getExecutionInfo('b'), { execute: false });
      const uuid = e.flowDetail.uuid;
      await backend.close();
      closed = true;
      const reopened = new SqliteBackend(db);
      try {
        const fd = await reopened.getFlowDetail(uuid);
        check(fd.atomDetails.find((d) => d.name === 'a')!.meta.execution!, { execute: true });
        check(fd.atomDetails.find((d) => d.name === 'b')!.meta.execution!, { execute: false });
      } finally {
        await reopened.close();
      }
    } finally {
      if (!closed) await backend.close();
    }
  });

  test('timeoutMs applies on a worker: the atom fails with AtomTimeout, the flow reverts, the late reply is ignored', async () => {
    const ledger = path.join(dir, 'timeout.ledger');
    const gate = path.join(dir, 'timeout.gate');
    const e = load(new LinearFlow('f').add(new Ledgered('ok', { ledger }), new Gated('slow', { ledger, gate }, { timeoutMs: 1000 })), options());
    const err = await e.run().then(
      () => assert.fail('expected a rejection'),
      (x: unknown) => x,
    );
    assert.ok(err instanceof AtomTimeout, String(err));
    assert.equal(err.atom, 'slow');
    assert.equal(err.timeoutMs, 1000);
    assert.equal(err.action, 'execute');
    assert.ok(e.storage.getExecuteFailures()['slow']!.check(AtomTimeout));
    assert.equal(e.storage.getExecutionInfo('slow').execute!.success, false);
    assert.deepEqual(
      readLedger(ledger).filter((l) => l.startsWith('revert')),
      ['revert slow', 'revert ok'],
    );
    assert.equal(e.storage.getAtomState('slow'), 'REVERTED');
    assert.equal(e.storage.getAtomState('ok'), 'REVERTED');
    assert.equal(e.storage.getFlowState(), 'REVERTED');
    // The worker finishes the atom later: its reply changes nothing.
    fs.writeFileSync(gate, '');
    await until(() => readLedger(ledger).includes('done slow'), 'the slow atom to finish on the worker');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(e.storage.getAtomState('slow'), 'REVERTED');
    assert.equal(e.storage.getFlowState(), 'REVERTED');
  });

  test('bullmq is only imported lazily (users of the other engines never load it)', () => {
    const root = path.join(here, '..', '..');
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) {
          if (e.name !== 'spec' && e.name !== 'bench' && e.name !== 'node_modules') walk(p);
        } else if (e.name.endsWith('.js')) files.push(p);
      }
    };
    walk(root);
    const users = files.filter((f) => fs.readFileSync(f, 'utf8').includes('bullmq'));
    assert.ok(users.length >= 2, 'the worker modules mention bullmq');
    for (const f of users) assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /^\s*import\s[^;(]*['"]bullmq['"]/m, `${path.relative(root, f)} imports bullmq statically`);
  });

  test('options: worker settings are checked; redeliver is an atom option', () => {
    assert.throws(() => load(new T('a'), { engine: 'worker', worker: { queue: 'a:b' } }), (e: unknown) => e instanceof InvariantViolation && e.option === 'worker.queue');
    assert.throws(() => load(new T('a'), { engine: 'worker', worker: { nope: 1 } as never }), (e: unknown) => e instanceof InvariantViolation && e.option === 'worker.nope');
    assert.throws(() => load(new T('a'), { engine: 'worker', worker: { connection: 'http://x' } }), /redis:\/\//);
    assert.throws(() => new Ledgered('a', { ledger: 'x' }, { redeliver: 'twice' as never }), /redeliver/);
    assert.equal(new Ledgered('a', { ledger: 'x' }).redeliver, 'once');
  });
});

describe('engine worker: the atomflow worker command', () => {
  test('serves the atoms a module exports and stops on SIGTERM', async () => {
    const queue = queueFor('cli');
    const ledger = path.join(dir, 'cli.ledger');
    const child = spawn(process.execPath, [cli, 'worker', '--module', workerAtoms, '--queue', queue, '--connection', redisUrl, '--concurrency', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    await until(() => out.includes('serving'), 'the worker to start', 20_000);
    assert.match(out, /serving Gated, Ledgered/);
    const e = load(new LinearFlow('f').add(new Ledgered('a', { ledger }, { provides: 'a' }), new Ledgered('b', { ledger })), {
      engine: 'worker',
      worker: { connection: redisUrl, queue },
    });
    await e.run();
    assert.equal(e.storage.fetch('a'), 'a');
    assert.deepEqual(readLedger(ledger).map((l) => l.split(' ').slice(0, 2).join(' ')), ['execute a', 'done a', 'execute b', 'done b']);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(out, /SIGTERM/);
  });
});

describe('engine worker: a worker killed inside an atom', () => {
  const lock = { lockMs: 2000, stalledIntervalMs: 1000 };

  async function killInside(name: string, redeliver: 'once' | 'never', kills = 1): Promise<{ engine: Engine; ledger: string; cap: Capture; error: unknown; pids: Set<string> }> {
    const queue = queueFor(`kill-${redeliver}`);
    const ledger = path.join(dir, `${name}.ledger`);
    const gate = path.join(dir, `${name}.gate`);
    const first = worker({ queue, concurrency: 2, ...lock });
    await first.ready;
    const flow = new LinearFlow('f').add(new Ledgered('a', { ledger }), new Gated(name, { ledger, gate }, { redeliver }), new Ledgered('z', { ledger }));
    const engine = load(flow, { engine: 'worker', worker: { connection: redisUrl, queue, checkMs: 1000 } });
    const cap = new Capture(engine, { flows: false });
    const running = engine.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    let current = first;
    for (let k = 1; k <= kills; k++) {
      await until(() => count(readLedger(ledger), `execute ${name}`) === k, `${name} to start on worker ${k}`);
      current.child.kill('SIGKILL');
      await current.exited;
      current = worker({ queue, concurrency: 2, ...lock });
      await current.ready;
    }
    fs.writeFileSync(gate, '');
    const error = await running;
    const pids = new Set(
      fs
        .readFileSync(ledger, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith(`execute ${name}`))
        .map((l) => l.split(' ').pop()!),
    );
    return { engine, ledger, cap, error, pids };
  }

  test("redeliver 'once' (default): delivered again to another worker, exactly one SUCCESS", async () => {
    const { engine, ledger, cap, error, pids } = await killInside('g', 'once');
    assert.equal(error, undefined);
    const lines = readLedger(ledger);
    assert.equal(count(lines, 'execute g'), 2);
    assert.equal(pids.size, 2);
    assert.equal(count(lines, 'done g'), 1);
    assert.equal(cap.values.filter((v) => v.startsWith('g.t SUCCESS')).length, 1);
    // Both deliveries saw the same ctx.idempotencyKey (the atom's uuid and attempt 1).
    const uuid = engine.flowDetail.atomDetails.find((d) => d.name === 'g')!.uuid;
    assert.deepEqual(lines.filter((l) => l.startsWith('execute g')), [`execute g ${uuid}:1`, `execute g ${uuid}:1`]);
    assert.deepEqual(cap.values, ['a.t RUNNING', 'a.t SUCCESS(a)', 'g.t RUNNING', 'g.t SUCCESS(g)', 'z.t RUNNING', 'z.t SUCCESS(z)']);
    assert.equal(engine.storage.getFlowState(), 'SUCCESS');
  });

  test("redeliver 'never': the atom fails with WorkerLost and the flow reverts in order", async () => {
    const { engine, ledger, cap, error } = await killInside('n', 'never');
    assert.ok(error instanceof WrappedFailure);
    assert.equal(error.failures[0]!.exceptionType, 'WorkerLost');
    const lines = readLedger(ledger);
    assert.equal(count(lines, 'execute n'), 1);
    assert.equal(count(lines, 'done n'), 0);
    assert.equal(count(lines, 'execute z'), 0);
    assert.deepEqual(
      cap.values.map((v) => v.replace(/\(Failure: WorkerLost: .*\)$/, '(WorkerLost)')),
      ['a.t RUNNING', 'a.t SUCCESS(a)', 'n.t RUNNING', 'n.t FAILURE(WorkerLost)', 'n.t REVERTING', 'n.t REVERTED(None)', 'a.t REVERTING', 'a.t REVERTED(None)'],
    );
    assert.deepEqual(lines.filter((l) => l.startsWith('revert')), ['revert n', 'revert a']);
    // Reverts on a worker get execute's Failure or result and the run's failures, revived from JSON.
    assert.deepEqual(lines.filter((l) => l.startsWith('given')), ['given n Failure:WorkerLost [n:WorkerLost]', 'given a "a" [n:WorkerLost]']);
    assert.equal(engine.storage.getFlowState(), 'REVERTED');
  });

  test("redeliver 'once': a worker lost a second time fails the atom with WorkerLost (BullMQ's stalled limit)", async () => {
    const { ledger, cap, error } = await killInside('twice', 'once', 2);
    assert.ok(error instanceof WrappedFailure);
    assert.equal(error.failures[0]!.exceptionType, 'WorkerLost');
    assert.match(error.failures[0]!.message, /stalled/);
    const lines = readLedger(ledger);
    assert.equal(count(lines, 'execute twice'), 2);
    assert.equal(count(lines, 'done twice'), 0);
    assert.deepEqual(
      cap.values.map((v) => v.replace(/\(Failure: WorkerLost: .*\)$/, '(WorkerLost)')),
      ['a.t RUNNING', 'a.t SUCCESS(a)', 'twice.t RUNNING', 'twice.t FAILURE(WorkerLost)', 'twice.t REVERTING', 'twice.t REVERTED(None)', 'a.t REVERTING', 'a.t REVERTED(None)'],
    );
  });
});

describe('engine worker: the engine killed with atoms in flight', () => {
  test('resume re-attaches by job id: no atom is dispatched twice', async () => {
    const queue = queueFor('engine-kill');
    const db = path.join(dir, 'engine-kill.db');
    const ledger = path.join(dir, 'engine-kill.ledger');
    const gate1 = path.join(dir, 'engine-kill.gate1');
    const gate2 = path.join(dir, 'engine-kill.gate2');
    const w = worker({ queue, concurrency: 4 });
    await w.ready;
    const child = spawn(process.execPath, [engineChild, db, queue, redisUrl, ledger, gate1, gate2], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await until(() => count(readLedger(ledger), 'execute g') === 2, 'g1 and g2 to start');
    child.kill('SIGKILL');
    await exited;
    const uuid = out.split('\n')[0]!.trim();
    assert.ok(uuid.length > 0);
    // g1 finishes while no engine is alive (its result waits in Redis); g2 is still running when the engine resumes.
    fs.writeFileSync(gate1, '');
    await until(() => count(readLedger(ledger), 'done g1') === 1, 'g1 to finish');
    const backend = new SqliteBackend(db);
    try {
      const engine = load(await buildCrashFlow(ledger, gate1, gate2), { backend, flowDetail: uuid, engine: 'worker', worker: { connection: redisUrl, queue, checkMs: 500 } });
      const running = engine.run();
      await until(() => engine.storage.getFlowState() === 'RUNNING', 'the resumed run to start', 10_000);
      fs.writeFileSync(gate2, '');
      await running;
      assert.equal(engine.storage.getFlowState(), 'SUCCESS');
      const lines = readLedger(ledger);
      for (const name of ['a', 'g1', 'g2', 'z']) assert.equal(count(lines, `execute ${name} `), 1, `${name} executed once: ${lines.join(' | ')}`);
      assert.deepEqual(engine.storage.fetchAll(), {});
      assert.equal(engine.storage.get('g1'), 'g1');
      // Re-attached jobs (g1 finished while no engine was alive, g2 still running) carry the worker's stamps too.
      for (const name of ['g1', 'g2', 'z']) {
        const r = engine.storage.getExecutionInfo(name).execute!;
        assert.equal(r.pid, w.child.pid, `${name} ran on the worker`);
        assert.ok(r.startedAt !== null && r.taskEndedAt !== null && r.taskStartedAt! <= r.taskEndedAt && r.endedAt! <= r.receivedAt!, JSON.stringify(r));
      }
      // One job per atom in Redis: nothing was added twice.
      const q = new Queue(queue, { connection: { url: redisUrl, maxRetriesPerRequest: null } });
      try {
        const counts = await q.getJobCounts('completed', 'failed', 'waiting', 'active');
        assert.deepEqual(counts, { completed: 4, failed: 0, waiting: 0, active: 0 });
      } finally {
        await q.close();
      }
    } finally {
      await backend.close();
    }
  });
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function startRedis(port: number): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} not ready`)), 15_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${out.slice(-300)}`));
    });
  });
  ready.catch(() => undefined);
  return { child, ready };
}

describe('engine worker: Redis restarted mid-run (a private redis-server, no persistence)', () => {
  test('the jobs in flight are dispatched again and the run completes', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let redis = startRedis(port);
    await redis.ready;
    const queue = uniqueQueue('redis-restart');
    const ledger = path.join(dir, 'restart.ledger');
    const gate = path.join(dir, 'restart.gate');
    await worker({ queue, connection: url, concurrency: 2, lockMs: 2000, stalledIntervalMs: 1000 }).ready;
    const flow = new LinearFlow('f').add(new Ledgered('a', { ledger }), new Gated('g', { ledger, gate }), new Ledgered('z', { ledger }));
    const engine = load(flow, { engine: 'worker', worker: { connection: url, queue, checkMs: 300 } });
    const cap = new Capture(engine, { flows: false });
    const running = engine.run();
    await until(() => count(readLedger(ledger), 'execute g') === 1, 'g to start');
    const down = new Promise<void>((r) => redis.child.once('exit', () => r()));
    redis.child.kill('SIGKILL');
    await down;
    redis = startRedis(port);
    await redis.ready;
    fs.writeFileSync(gate, '');
    await running;
    const lines = readLedger(ledger);
    assert.ok(count(lines, 'execute g') >= 2, `g dispatched again after the restart: ${lines.join(' | ')}`);
    assert.equal(count(lines, 'execute a'), 1);
    assert.equal(count(lines, 'execute z'), 1);
    assert.deepEqual(cap.values, ['a.t RUNNING', 'a.t SUCCESS(a)', 'g.t RUNNING', 'g.t SUCCESS(g)', 'z.t RUNNING', 'z.t SUCCESS(z)']);
    // The workers go before their Redis does.
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    const stopped = new Promise<void>((r) => redis.child.once('exit', () => r()));
    redis.child.kill('SIGTERM');
    await stopped;
  });
});
