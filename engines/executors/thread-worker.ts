/**
 * The code a pool thread runs for `executor: 'threads'`: it imports the atom's module (once per
 * thread), unpacks the arguments, calls `execute`/`revert`, packs the outcome, and stamps each
 * phase (the execution info the engine stores). Progress goes back through the task's port.
 */
import os from 'node:os';
import { deserialize, serialize } from 'node:v8';
import { threadId, type MessagePort } from 'node:worker_threads';
import type { AtomContext, RevertContext } from '../../lib/atom.js';
import { Failure, type FailureData } from '../../lib/failure.js';
import { now } from './executor.js';

/** Where an importable atom is found: a class exported under its name, or an instance exported under the atom's name. */
export interface ThreadTarget {
  readonly module: string;
  readonly exportName: string;
  readonly kind: 'class' | 'instance';
}

/** What the engine sends: the target, the action and the packed inputs (v8-serialised). */
export interface ThreadTask extends ThreadTarget {
  readonly action: 'execute' | 'revert';
  readonly name: string;
  readonly flowUuid: string;
  readonly atomUuid: string;
  readonly attempt: number;
  /** `{ args, result?, resultFailure?, flowFailures? }` serialised (failures as FailureData). */
  readonly input: Uint8Array;
  readonly port: MessagePort;
}

/** What comes back: the outcome packed, where it ran and the stamps of each phase. */
export interface ThreadReply {
  readonly ok: boolean;
  /** ok: the result, v8-serialised; not ok: the failure as FailureData. */
  readonly value: Uint8Array | FailureData;
  readonly hostname: string;
  readonly pid: number;
  readonly threadId: number;
  /** startedAt, argsStartedAt, argsEndedAt, taskStartedAt, taskEndedAt, resultStartedAt, resultEndedAt, endedAt. */
  readonly stamps: readonly number[];
}

interface Input {
  readonly args: Record<string, unknown>;
  readonly result?: unknown;
  readonly resultFailure?: FailureData;
  readonly flowFailures?: Readonly<Record<string, FailureData>>;
}

interface Callable {
  execute(args: unknown, ctx: AtomContext): unknown;
  revert(args: unknown, ctx: RevertContext): unknown;
}

const HOST = os.hostname();
const atoms = new Map<string, Promise<Callable>>();

async function load(t: ThreadTarget): Promise<Callable> {
  const mod = (await import(t.module)) as Record<string, unknown>;
  const exported = mod[t.exportName];
  if (t.kind === 'class') {
    if (typeof exported !== 'function') throw new TypeError(`module ${t.module} exports no class '${t.exportName}'`);
    return new (exported as new () => Callable)();
  }
  if (typeof exported !== 'object' || exported === null || typeof (exported as Callable).execute !== 'function') {
    throw new TypeError(`module ${t.module} exports no task '${t.exportName}'`);
  }
  return exported as Callable;
}

const NEVER = new AbortController().signal;

/** The pool's entry point (one call per job). */
export default async function runThreadTask(task: ThreadTask): Promise<ThreadReply> {
  const startedAt = now();
  const key = `${task.module}#${task.exportName}`;
  let atom = atoms.get(key);
  if (atom === undefined) {
    atom = load(task);
    atoms.set(key, atom);
  }
  let argsStartedAt = now();
  let argsEndedAt = argsStartedAt;
  let taskStartedAt = argsStartedAt;
  let taskEndedAt = argsStartedAt;
  let ok = false;
  let value: unknown;
  try {
    const target = await atom;
    argsStartedAt = now();
    const input = deserialize(task.input) as Input;
    const flowFailures: Record<string, Failure> = {};
    for (const [k, f] of Object.entries(input.flowFailures ?? {})) flowFailures[k] = Failure.fromJSON(f);
    const port = task.port;
    const ctx: RevertContext = {
      name: task.name,
      signal: NEVER,
      flowUuid: task.flowUuid,
      atomUuid: task.atomUuid,
      attempt: task.attempt,
      idempotencyKey: `${task.atomUuid}:${task.attempt}`,
      progress: (fraction, details) => port.postMessage(details === undefined ? [fraction] : [fraction, details]),
      result: input.resultFailure !== undefined ? Failure.fromJSON(input.resultFailure) : input.result,
      flowFailures,
    };
    argsEndedAt = now();
    port.postMessage('call');
    taskStartedAt = argsEndedAt;
    try {
      value = await (task.action === 'execute' ? target.execute(input.args, ctx) : target.revert(input.args, ctx));
      ok = true;
    } catch (e) {
      value = e;
    }
    taskEndedAt = now();
  } catch (e) {
    // The module, the export or the arguments could not be had: the job fails with that.
    value = e;
    taskEndedAt = now();
  }
  const resultStartedAt = now();
  let packed: Uint8Array | FailureData;
  if (ok) {
    try {
      packed = serialize(value);
    } catch (e) {
      ok = false;
      packed = Failure.from(e).toJSON();
    }
  } else packed = Failure.from(value).toJSON();
  const resultEndedAt = now();
  task.port.postMessage(null);
  task.port.close();
  return {
    ok,
    value: packed,
    hostname: HOST,
    pid: process.pid,
    threadId,
    stamps: [startedAt, argsStartedAt, argsEndedAt, taskStartedAt, taskEndedAt, resultStartedAt, resultEndedAt, now()],
  };
}
