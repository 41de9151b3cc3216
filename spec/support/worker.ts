/**
 * Test helpers for engine 'worker': a unique queue per test run, worker processes spawned with
 * child_process (bounded waits), and removing a queue's keys at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import type { LoadOptions } from '../../index.js';

export const redisUrl = process.env.ATOMFLOW_REDIS_URL ?? 'redis://127.0.0.1:6379';
const here = path.dirname(fileURLToPath(import.meta.url));
/** The worker child script and the fixture atoms every suite worker serves. */
export const workerChild = path.join(here, 'worker-child.js');
export const supportAtoms = path.join(here, 'index.js');
export const workerAtoms = path.join(here, 'worker-atoms.js');

export function uniqueQueue(purpose: string): string {
  return `af-${purpose}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface SpawnedWorker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  queue: string;
  connection?: string;
  modules?: readonly string[];
  concurrency?: number;
  lockMs?: number;
  stalledIntervalMs?: number;
  obliterate?: boolean;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/** Starts a worker process; `ready` resolves once it is connected (rejects after a timeout or an early exit). */
export function spawnWorker(o: SpawnOptions): SpawnedWorker {
  const args = [workerChild, '--queue', o.queue, '--connection', o.connection ?? redisUrl, '--concurrency', String(o.concurrency ?? 4)];
  if (o.lockMs) args.push('--lock-ms', String(o.lockMs));
  if (o.stalledIntervalMs) args.push('--stalled-interval-ms', String(o.stalledIntervalMs));
  if (o.obliterate) args.push('--obliterate');
  args.push(...(o.modules ?? [supportAtoms, workerAtoms]));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, ...o.env } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker for ${o.queue} not ready within ${o.readyTimeoutMs ?? 20000} ms`)), o.readyTimeoutMs ?? 20000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker for ${o.queue} exited (${code}) before it was ready`));
    });
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Removes every key of the queue. */
export async function obliterate(queue: string, connection = redisUrl): Promise<void> {
  const q = new Queue(queue, { connection: { url: connection, maxRetriesPerRequest: null } });
  try {
    await q.obliterate({ force: true });
  } finally {
    await q.close();
  }
}

let suite: { queue: string; worker: SpawnedWorker } | undefined;

/**
 * Load options for the behaviour suites on engine 'worker': one worker process per test file
 * (made on first use) serving the fixture atoms; it removes its queue and exits when this process ends.
 */
export function suiteWorkerOptions(extra: LoadOptions = {}): LoadOptions {
  if (suite === undefined) {
    const queue = uniqueQueue('suite');
    const worker = spawnWorker({ queue, concurrency: 8, obliterate: true });
    worker.child.unref();
    (worker.child.channel as { unref?: () => void } | undefined)?.unref?.();
    suite = { queue, worker };
  }
  return { ...extra, engine: 'worker', worker: { connection: redisUrl, queue: suite.queue, checkMs: 1000 } };
}
