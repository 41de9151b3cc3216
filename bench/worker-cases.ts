/**
 * The worker-engine cases (engine 'worker', BullMQ on Redis at ATOMFLOW_REDIS_URL), each against
 * its raw BullMQ baseline measured in the same process and run (the budgets are ratios, because
 * absolute figures on this shared machine move 2-3x with load):
 *
 * - raw_bullmq: add → a worker process → completed seen through QueueEvents, one job at a time (µs per job).
 * - raw_bullmq_throughput: n pre-filled no-op jobs drained by one worker process at concurrency C (jobs/s).
 * - linear_worker: a linear flow of n no-op atoms on one worker process (concurrency 1), SQLite backend:
 *   µs per atom ≤ 1.5 × (raw_bullmq + raw_sqlite).
 * - unordered_worker: an unordered flow of n no-op atoms, one worker process at concurrency C,
 *   in-memory backend: atoms/s ≥ 50% of raw_bullmq_throughput at the same C.
 *
 * n is min(--n, 1,000) for the round trips and min(--n, 5,000) for throughput; one warm-up run
 * each, then 3 rounds in which the case and its baselines run in alternation (medians reported).
 * Each case uses its own queues, obliterated at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { SqliteBackend, load } from '../index.js';
import { check, linear, now, round, scratch, secs, unordered, type Sample, type Workload } from './cases.js';
import type { Line, Row } from './run.js';
import { rawSqlite } from './sqlite-cases.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'worker-child.js');
const REDIS = process.env.ATOMFLOW_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Concurrency of the throughput cases (SCALE-OUT.md §2(b) measured 1 process × 10). */
export const CONCURRENCY = 10;
const RT_N = 1_000;
const TP_N = 5_000;

function row(name: string, n: number, seconds: number, extra: Record<string, unknown> = {}): Row {
  return { impl: 'atomflow-ts', case: name, n, seconds: round(seconds, 4), us_per_atom: round((seconds / n) * 1e6, 2), ...extra };
}

function queueName(what: string): string {
  return `af-bench-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A worker child process, ready. */
async function child(mode: 'raw' | 'atomflow' | 'drain', queue: string, concurrency: number, n = 0): Promise<ChildProcess> {
  const c = fork(CHILD, [mode, queue, REDIS, String(concurrency), String(n)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bench worker not ready in 20 s')), 20_000);
    c.once('message', () => (clearTimeout(t), resolve()));
    c.once('exit', (code) => (clearTimeout(t), reject(new Error(`bench worker exited (${code})`))));
  });
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.disconnect();
  const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

async function obliterate(queue: string): Promise<void> {
  const q = new Queue(queue, { connection: { url: REDIS, maxRetriesPerRequest: null } });
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
}

const ROUNDS = 3;

function medianOf(samples: Sample[]): Sample {
  const sorted = [...samples].sort((a, b) => a.seconds - b.seconds);
  const m = sorted[(sorted.length - 1) >> 1]!;
  return { ...m, extra: { ...(m.extra ?? {}), runs: samples.map((s) => round(s.seconds, 4)) } };
}

/** One warm-up run at min(n, 200), then the median of ROUNDS runs. */
async function median(work: Workload, n: number): Promise<Sample> {
  return (await interleaved([work], n))[0]!;
}

/**
 * Several workloads measured in alternation (one warm-up each, then ROUNDS rounds of one run of
 * each), so a baseline and its case see the same load on a shared machine; medians per workload.
 */
async function interleaved(works: readonly Workload[], n: number): Promise<Sample[]> {
  for (const w of works) await w(Math.min(n, 200));
  const samples: Sample[][] = works.map(() => []);
  for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < works.length; i++) samples[i]!.push(await works[i]!(n));
  return samples.map(medianOf);
}

interface Rig {
  readonly work: Workload;
  close(): Promise<void>;
}

/** n sequential add → process → completed round trips on a bare worker process. */
async function rawRoundTrips(): Promise<Rig> {
  const queue = queueName('rt');
  const w = await child('raw', queue, 1);
  const q = new Queue(queue, { connection: { url: REDIS, maxRetriesPerRequest: null } });
  const events = new QueueEvents(queue, { connection: { url: REDIS, maxRetriesPerRequest: null } });
  await events.waitUntilReady();
  return {
    work: async (k) => {
      const t0 = now();
      for (let i = 0; i < k; i++) {
        const job = await q.add('noop', { i });
        await job.waitUntilFinished(events, 30_000);
      }
      return { seconds: secs(t0) };
    },
    async close() {
      await events.close();
      await q.close();
      await stop(w);
      await obliterate(queue);
    },
  };
}

/** Seconds for a fresh worker process at `concurrency` to drain k pre-filled no-op jobs. */
function rawDrain(concurrency: number): Workload {
  return async (k) => {
    const queue = queueName('tp');
    const q = new Queue(queue, { connection: { url: REDIS, maxRetriesPerRequest: null } });
    const w = await child('drain', queue, concurrency, k);
    try {
      for (let i = 0; i < k; i += 1000) {
        await q.addBulk(Array.from({ length: Math.min(1000, k - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: { removeOnComplete: true } })));
      }
      const done = new Promise<number>((resolve) => w.once('message', (m: { seconds: number }) => resolve(m.seconds)));
      w.send('go');
      return { seconds: await done };
    } finally {
      await q.close();
      await stop(w);
      await obliterate(queue);
    }
  };
}

/** Engine runs of a linear (SQLite backend) or unordered (in memory) flow on a worker process at `concurrency`. */
async function engineRuns(concurrency: number, kind: 'linear' | 'unordered'): Promise<Rig> {
  const queue = queueName(kind);
  const w = await child('atomflow', queue, concurrency);
  return {
    work: async (k) => {
      const tmp = kind === 'linear' ? scratch() : undefined;
      const backend = tmp ? new SqliteBackend(tmp.path) : undefined;
      try {
        const t0 = now();
        const flow = kind === 'linear' ? linear(k) : unordered(k);
        const e = load(flow, { engine: 'worker', ...(backend ? { backend } : {}), worker: { connection: REDIS, queue, maxInFlight: Math.max(64, concurrency * 4) } });
        await e.run();
        const s = secs(t0);
        check(e.storage.getFlowState() === 'SUCCESS', 'the worker run did not succeed');
        check(e.storage.get(`t${k - 1}`) === 1, 'the last atom has no result');
        return { seconds: s };
      } finally {
        await backend?.close();
        tmp?.done();
      }
    },
    async close() {
      await stop(w);
      await obliterate(queue);
    },
  };
}

export const WORKER_CASES: Readonly<Record<string, (c: { n: number }) => Promise<Line[]>>> = {
  raw_bullmq: async ({ n }) => {
    const k = Math.min(n, RT_N);
    const rig = await rawRoundTrips();
    const s = await median(rig.work, k).finally(() => rig.close());
    return [{ row: row('raw_bullmq', k, s.seconds, s.extra), note: 'BullMQ floor: add → worker process → completed (QueueEvents), µs per job', perAtom: true, base: 'raw_bullmq' }];
  },
  raw_bullmq_throughput: async ({ n }) => {
    const k = Math.min(n, TP_N);
    const s = await median(rawDrain(CONCURRENCY), k);
    return [{ row: row('raw_bullmq_throughput', k, s.seconds, { ...s.extra, per_second: Math.round(k / s.seconds), concurrency: CONCURRENCY }), note: `no-op jobs/s, 1 worker process × ${CONCURRENCY}: ${Math.round(k / s.seconds)}/s` }];
  },
  linear_worker: async ({ n }) => {
    const k = Math.min(n, RT_N);
    const raw = await rawRoundTrips();
    const eng = await engineRuns(1, 'linear');
    const [rt, sql, s] = (await interleaved([raw.work, rawSqlite('normal'), eng.work], k).finally(() => Promise.all([raw.close(), eng.close()]))) as [Sample, Sample, Sample];
    const budget = 1.5 * ((rt.seconds + sql.seconds) / k) * 1e6;
    const us = (s.seconds / k) * 1e6;
    return [
      {
        row: row('linear_worker', k, s.seconds, { ...s.extra, raw_bullmq_us: round((rt.seconds / k) * 1e6, 2), raw_sqlite_us: round((sql.seconds / k) * 1e6, 2) }),
        budget: `≤ ${budget.toFixed(0)} µs`,
        ok: us <= budget,
        note: `1.5 × (raw_bullmq ${((rt.seconds / k) * 1e6).toFixed(0)} + raw_sqlite ${((sql.seconds / k) * 1e6).toFixed(0)} µs), same process`,
        perAtom: true,
        base: 'raw_bullmq',
      },
    ];
  },
  unordered_worker: async ({ n }) => {
    const k = Math.min(n, TP_N);
    const eng = await engineRuns(CONCURRENCY, 'unordered');
    const [raw, s] = (await interleaved([rawDrain(CONCURRENCY), eng.work], k).finally(() => eng.close())) as [Sample, Sample];
    const rawPerS = k / raw.seconds;
    const perS = k / s.seconds;
    return [
      {
        row: row('unordered_worker', k, s.seconds, { ...s.extra, per_second: Math.round(perS), raw_bullmq_per_second: Math.round(rawPerS), concurrency: CONCURRENCY }),
        budget: '≥ 50% of raw jobs/s',
        ok: perS >= 0.5 * rawPerS,
        note: `${Math.round(perS)} atoms/s vs raw ${Math.round(rawPerS)} jobs/s (${((perS / rawPerS) * 100).toFixed(0)}%), 1 worker process × ${CONCURRENCY}`,
      },
    ];
  },
};
