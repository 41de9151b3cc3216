/**
 * The worker process of the worker-engine bench cases.
 *
 *   node worker-child.js raw <queue> <connection> <concurrency>       a bare BullMQ Worker returning 1
 *   node worker-child.js atomflow <queue> <connection> <concurrency>  createWorker serving the bench atoms
 *   node worker-child.js drain <queue> <connection> <concurrency> <n> bare Worker paused until 'go' (IPC),
 *                                                                      reports seconds until n jobs completed
 * Says 'ready' over IPC; exits when its parent goes away.
 */
import { Worker } from 'bullmq';
import { createWorker } from '../index.js';
import { Chain, Noop } from './cases.js';

const [mode, queue, connection, c, n] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const concurrency = Number(c);
const opts = { connection: { url: connection, maxRetriesPerRequest: null }, concurrency };
let close: () => Promise<unknown>;
if (mode === 'atomflow') {
  const w = await createWorker({ connection, queue, atoms: [Noop, Chain], concurrency });
  close = () => w.close();
} else if (mode === 'raw') {
  const w = new Worker(queue, async () => 1, opts);
  await w.waitUntilReady();
  close = () => w.close();
} else {
  const total = Number(n);
  let done = 0;
  let t0 = 0;
  const w = new Worker(queue, async () => 1, { ...opts, autorun: false });
  w.on('completed', () => {
    if (++done === total) process.send!({ seconds: (performance.now() - t0) / 1000 });
  });
  await w.waitUntilReady();
  process.on('message', (m) => {
    if (m === 'go') {
      t0 = performance.now();
      void w.run();
    }
  });
  close = () => w.close();
}
process.send!('ready');
process.on('disconnect', () => void close().finally(() => process.exit(0)));
