/**
 * A worker process for the tests (engine 'worker'): serves the atoms of the given modules on a
 * queue, says `ready` over IPC (or on stdout), and when its parent goes away (IPC disconnect) or
 * on SIGTERM closes and, with --obliterate, removes the queue from Redis.
 *
 *   node worker-child.js --queue <q> [--connection <url>] [--concurrency n] [--lock-ms n]
 *                        [--stalled-interval-ms n] [--obliterate] <module>...
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { createWorker } from '../../index.js';
import { atomsOf } from '../../bin/commands/worker.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string' },
    connection: { type: 'string' },
    concurrency: { type: 'string' },
    'lock-ms': { type: 'string' },
    'stalled-interval-ms': { type: 'string' },
    obliterate: { type: 'boolean' },
  },
});
const connection = values.connection ?? process.env.ATOMFLOW_REDIS_URL ?? 'redis://127.0.0.1:6379';
const queue = values.queue!;
const atoms = [];
for (const m of positionals) atoms.push(...atomsOf((await import(pathToFileURL(path.resolve(m)).href)) as Record<string, unknown>));
const worker = await createWorker({
  connection,
  queue,
  atoms,
  concurrency: Number(values.concurrency ?? 4),
  ...(values['lock-ms'] ? { lockMs: Number(values['lock-ms']) } : {}),
  ...(values['stalled-interval-ms'] ? { stalledIntervalMs: Number(values['stalled-interval-ms']) } : {}),
});
if (process.send) process.send('ready');
else process.stdout.write('ready\n');

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await worker.close(true).catch(() => undefined);
  if (values.obliterate) {
    const { Queue } = await import('bullmq');
    const q = new Queue(queue, { connection: { url: connection } });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  process.exit(0);
}
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
