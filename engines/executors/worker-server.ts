/**
 * The worker side of engine 'worker': a BullMQ `Worker` that runs atoms' execute/revert for
 * engines elsewhere. It holds a registry of atoms (classes by class name, instances and `task()`
 * atoms by name) and nothing else: no flow, no store. An atom's error is a normal answer (a
 * completed job whose reply carries the `Failure`), so the engine's retry controllers decide.
 *
 * Liveness is BullMQ's: the job's lock is renewed while the atom runs (`lockMs`); a job whose lock
 * lapsed is found by the stalled check (`stalledIntervalMs`) and delivered again, at most once
 * (`maxStalledCount` 1), and then only to atoms whose `redeliver` is 'once'.
 */
import os from 'node:os';
import createDebug from 'debug';
import type { Job as BullJob, Worker } from 'bullmq';
import { Atom } from '../../lib/atom.js';
import { InvariantViolation, NotFound, WorkerLost } from '../../lib/errors.js';
import { Failure, type FailureData } from '../../lib/failure.js';
import type { Task } from '../../lib/task.js';
import { resolveWorker } from '../options.js';
import type { JobDescription } from './executor.js';
import { bullConnection, jobIdOf, REPLY_FORMAT, type ProgressNote, type RemoteInfo, type Reply } from './worker-protocol.js';

const log = createDebug('atomflow:worker');
const HOST = os.hostname();

/** An atom class (found by class name), or an atom instance / `task()` atom (found by its name). */
export type AtomSource = Atom | (abstract new (...args: never[]) => Atom);

export interface CreateWorkerOptions {
  /** A redis:// URL or ioredis options; default `ATOMFLOW_REDIS_URL`, else redis://127.0.0.1:6379. */
  connection?: string | Readonly<Record<string, unknown>>;
  /** The queue; default `ATOMFLOW_WORKER_QUEUE`, else 'atomflow'. */
  queue?: string;
  /** What this worker can run: a list, or a record (its keys then name the entries). */
  atoms: readonly AtomSource[] | Readonly<Record<string, AtomSource>>;
  /** Jobs run at once (default 1). */
  concurrency?: number;
  /** How long a job's lock lasts without renewal, ms (default 30000). */
  lockMs?: number;
  /** How often lapsed locks are looked for, ms (default 30000). A dead worker is noticed within about lockMs + stalledIntervalMs. */
  stalledIntervalMs?: number;
}

export interface AtomflowWorker {
  readonly queue: string;
  /** Class names and atom names this worker serves. */
  readonly serves: readonly string[];
  /** Stops taking jobs and waits for the running ones (`force`: does not wait). */
  close(force?: boolean): Promise<void>;
}

type AtomClass = abstract new (...args: never[]) => Atom;
interface Buildable {
  fromWorkerParams?(name: string, params: unknown): Atom;
}

function isAtomClass(v: unknown): v is AtomClass {
  return typeof v === 'function' && v.prototype instanceof Atom;
}

/** The registry: instances by name first, then classes by class name. */
class Registry {
  readonly #byName = new Map<string, Atom>();
  readonly #byClass = new Map<string, AtomClass>();

  constructor(atoms: CreateWorkerOptions['atoms']) {
    const entries: Array<[string | undefined, unknown]> = Array.isArray(atoms) ? atoms.map((a) => [undefined, a]) : Object.entries(atoms);
    for (const [key, a] of entries) {
      if (isAtomClass(a)) this.#byClass.set(key ?? a.name, a);
      else if (a instanceof Atom) {
        if (a.kind === 'retry') throw new InvariantViolation(`createWorker: '${a.name}' is a retry controller; those run in the engine`, { option: 'atoms' });
        this.#byName.set(key ?? a.name, a);
      } else throw new InvariantViolation(`createWorker: 'atoms' must hold atom classes or atoms, not ${JSON.stringify(a) ?? typeof a}`, { option: 'atoms' });
    }
  }

  get names(): string[] {
    return [...this.#byClass.keys(), ...this.#byName.keys()];
  }

  find(d: JobDescription): Task {
    const named = this.#byName.get(d.atomName);
    if (named !== undefined) return named as Task;
    const cls = this.#byClass.get(d.className);
    if (cls === undefined) {
      throw new NotFound(`this worker (${HOST}:${process.pid}) has no atom '${d.atomName}'${d.className === 'FunctionTask' ? '' : ` nor class '${d.className}'`} (it serves: ${this.names.join(', ') || 'nothing'})`, d.atomName);
    }
    const build = (cls as unknown as Buildable).fromWorkerParams;
    const atom = typeof build === 'function' ? build.call(cls, d.atomName, d.params) : new (cls as unknown as new (o: object) => Atom)({ name: d.atomName });
    if (atom.kind !== 'task') throw new InvariantViolation(`class '${d.className}' is not a task class`, { subject: d.atomName });
    return atom as Task;
  }
}

function revive(f: FailureData | undefined): Failure | undefined {
  return f === undefined ? undefined : Failure.fromJSON(f);
}

const NEVER = new AbortController().signal;

/** Runs one job: finds the atom, calls it, and answers with its result or its failure. */
async function perform(registry: Registry, job: BullJob, shutdown: AbortSignal): Promise<Reply> {
  const startedAt = Date.now();
  const d = job.data as JobDescription;
  const deliveries = job.attemptsStarted ?? 1;
  let argsEndedAt = startedAt;
  let taskStartedAt = startedAt;
  let taskEndedAt = startedAt;
  let resultEndedAt = startedAt;
  let progress = Promise.resolve();
  const info = (): RemoteInfo => ({
    hostname: HOST,
    pid: process.pid,
    startedAt,
    argsStartedAt: startedAt,
    argsEndedAt,
    taskStartedAt,
    taskEndedAt,
    resultStartedAt: taskEndedAt,
    resultEndedAt,
    endedAt: Date.now(),
    deliveries,
  });
  const fail = (e: unknown): Reply => ({ format: REPLY_FORMAT, ok: false, failure: Failure.from(e).toJSON(), info: info() });
  try {
    if (d === null || typeof d !== 'object' || d.format !== 1) throw new InvariantViolation(`job ${job.id}: not an atomflow job (format ${String((d as { format?: unknown })?.format)})`);
    // Delivered again after a worker died: allowed once, and only to atoms that say so.
    if (deliveries > 1 && (d.redeliver === 'never' || deliveries > 2)) {
      throw new WorkerLost(d.atomName, d.action, job.id ?? jobIdOf(d), `delivered ${deliveries} times; redeliver is '${d.redeliver}'`);
    }
    const atom = registry.find(d);
    const ctx = {
      name: d.atomName,
      signal: d.action === 'revert' ? NEVER : shutdown,
      flowUuid: d.flowUuid,
      atomUuid: d.atomUuid,
      attempt: d.attempt,
      idempotencyKey: d.idempotencyKey,
      progress(fraction: number, details?: Readonly<Record<string, unknown>>): void {
        const note: ProgressNote = details === undefined ? { p: fraction } : { p: fraction, d: details };
        progress = progress.then(() => job.updateProgress(note as unknown as object)).catch((e: unknown) => log('progress of %s: %s', job.id, (e as Error)?.message));
      },
      ...(d.action === 'revert'
        ? {
            result: d.resultFailure !== undefined ? revive(d.resultFailure) : d.result,
            flowFailures: Object.freeze(Object.fromEntries(Object.entries(d.flowFailures ?? {}).map(([k, f]) => [k, revive(f)!]))),
          }
        : {}),
    };
    argsEndedAt = taskStartedAt = Date.now();
    let value: unknown;
    try {
      value = await (d.action === 'execute' ? atom.execute(d.args, ctx) : atom.revert(d.args, ctx as never));
    } finally {
      taskEndedAt = Date.now();
      await progress;
    }
    try {
      JSON.stringify(value);
    } catch (e) {
      throw new InvariantViolation(`atom '${d.atomName}': its ${d.action} result cannot be sent as JSON (${(e as Error).message})`, { subject: d.atomName, cause: e });
    }
    resultEndedAt = Date.now();
    return { format: REPLY_FORMAT, ok: true, value, info: info() };
  } catch (e) {
    return fail(e);
  }
}

/** Starts a worker serving `atoms` on the queue; resolves once it is connected. */
export async function createWorker(options: CreateWorkerOptions): Promise<AtomflowWorker> {
  if (typeof options !== 'object' || options === null) throw new InvariantViolation('createWorker() takes an options object');
  const known = new Set(['connection', 'queue', 'atoms', 'concurrency', 'lockMs', 'stalledIntervalMs']);
  for (const k of Object.keys(options)) if (!known.has(k)) throw new InvariantViolation(`createWorker: unknown option '${k}' (known: ${[...known].join(', ')})`, { option: k });
  if (typeof options.atoms !== 'object' || options.atoms === null) throw new InvariantViolation("createWorker: 'atoms' is required (atom classes, atoms or task() atoms)", { option: 'atoms' });
  const { connection, queue } = resolveWorker({ ...(options.connection !== undefined ? { connection: options.connection } : {}), ...(options.queue !== undefined ? { queue: options.queue } : {}) });
  const int = (key: string, v: unknown, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvariantViolation(`createWorker: '${key}' must be an integer >= 1, not ${JSON.stringify(v)}`, { option: key });
    return v;
  };
  const concurrency = int('concurrency', options.concurrency, 1);
  const lockDuration = int('lockMs', options.lockMs, 30_000);
  const stalledInterval = int('stalledIntervalMs', options.stalledIntervalMs, 30_000);
  const registry = new Registry(options.atoms);
  const shutdown = new AbortController();
  const { Worker } = await import('bullmq');
  const worker: Worker = new Worker(queue, (job) => perform(registry, job, shutdown.signal), {
    connection: bullConnection(connection),
    concurrency,
    lockDuration,
    stalledInterval,
    maxStalledCount: 1,
    autorun: true,
  });
  worker.on('error', (e) => log('worker %s: %s', queue, e.message));
  worker.on('failed', (job, e) => log('job %s failed in BullMQ: %s', job?.id, e.message));
  await worker.waitUntilReady();
  let closing: Promise<void> | undefined;
  return {
    queue,
    serves: Object.freeze(registry.names),
    close(force = false): Promise<void> {
      if (force) shutdown.abort(new Error('the worker is closing'));
      closing ??= worker.close(force);
      return closing;
    },
  };
}
