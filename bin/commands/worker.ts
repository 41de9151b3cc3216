/**
 * `atomflow worker --module ./atoms.js`: a worker process for engine 'worker'. It serves every
 * atom class and `task()` atom the module exports (also inside exported arrays) on a BullMQ queue
 * until SIGTERM or SIGINT, then stops taking jobs and lets the running ones finish.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Atom } from '../../lib/atom.js';
import { createWorker, type AtomSource } from '../../engines/executors/worker-server.js';
import { showConnection } from '../../engines/executors/worker-protocol.js';
import { Retry } from '../../lib/retry.js';
import { EXIT, HELP, UsageError, input, parseCommand, positionals, positiveInt, shortPath, type Command, type Io } from './common.js';

const usage = `Usage: atomflow worker --module <file> [options]

Runs atoms for engines started with engine 'worker' (ATOMFLOW_ENGINE=worker): every atom class
(found by class name) and task() atom (found by its name) that the module exports. Stops on
SIGTERM or SIGINT after the atoms running at that moment have finished.

Options:
  --module <file>            the module exporting the atoms (required)
  --queue <name>             the queue (default: ATOMFLOW_WORKER_QUEUE, else 'atomflow')
  --connection <url>         Redis (default: ATOMFLOW_REDIS_URL, else redis://127.0.0.1:6379)
  --concurrency <n>          atoms run at once (default 1)
  --lock-ms <ms>             a job's lock; a worker silent this long is presumed dead (default 30000)
  --stalled-interval-ms <ms> how often dead workers' jobs are looked for (default 30000)
  -h, --help                 this help

Exit code: 0 stopped by a signal, 2 bad input.`;

const OPTIONS = {
  ...HELP,
  module: { type: 'string' },
  queue: { type: 'string' },
  connection: { type: 'string' },
  concurrency: { type: 'string' },
  'lock-ms': { type: 'string' },
  'stalled-interval-ms': { type: 'string' },
} as const;

function isAtomClass(v: unknown): v is abstract new (...args: never[]) => Atom {
  return typeof v === 'function' && v.prototype instanceof Atom && !(v.prototype instanceof Retry);
}

/** Every task class and task atom among a module's exports (one level into arrays). */
export function atomsOf(mod: Record<string, unknown>): AtomSource[] {
  const out: AtomSource[] = [];
  const take = (v: unknown): void => {
    if (isAtomClass(v)) out.push(v);
    else if (v instanceof Atom && v.kind === 'task' && v.hasName) out.push(v);
  };
  for (const v of Object.values(mod)) {
    if (Array.isArray(v)) v.forEach(take);
    else take(v);
  }
  return [...new Set(out)];
}

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('worker', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  positionals('worker', given, []);
  if (values.module === undefined) throw new UsageError('--module is required: the module exporting the atoms to serve');
  const path = resolve(io.cwd, values.module);
  if (!existsSync(path)) throw new UsageError(`no such module: ${values.module}`);
  const concurrency = positiveInt('concurrency', values.concurrency);
  const lockMs = positiveInt('lock-ms', values['lock-ms']);
  const stalledIntervalMs = positiveInt('stalled-interval-ms', values['stalled-interval-ms']);
  const atoms = await input(async () => atomsOf((await import(pathToFileURL(path).href)) as Record<string, unknown>));
  if (atoms.length === 0) throw new UsageError(`module ${values.module} exports no atom classes or task() atoms (is it built with this atomflow?)`);
  const connection = values.connection ?? io.env.ATOMFLOW_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const worker = await input(() =>
    createWorker({
      connection,
      queue: values.queue ?? io.env.ATOMFLOW_WORKER_QUEUE ?? 'atomflow',
      atoms,
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(lockMs !== undefined ? { lockMs } : {}),
      ...(stalledIntervalMs !== undefined ? { stalledIntervalMs } : {}),
    }),
  );
  io.stdout.write(
    `atomflow worker ${process.pid}: serving ${worker.serves.join(', ')} from ${shortPath(path, io)} on queue '${worker.queue}' at ${showConnection(connection)}\n`,
  );
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGTERM', () => done('SIGTERM'));
    process.once('SIGINT', () => done('SIGINT'));
  });
  io.stdout.write(`atomflow worker ${process.pid}: ${signal}, finishing the atoms in hand\n`);
  await worker.close();
  return EXIT.OK;
}

export const worker: Command = { name: 'worker', summary: "serve atoms to engines of kind 'worker' (BullMQ on Redis)", usage, run };
