/**
 * What the engine and its worker processes agree on (engine 'worker'): the BullMQ job id of an
 * execute/revert, the reply a worker returns in a *completed* job, and how a connection option
 * becomes BullMQ's. JSON only; no BullMQ import here.
 */
import type { FailureData } from '../../lib/failure.js';
import type { JobDescription } from './executor.js';

export const REPLY_FORMAT = 1;

/** Where and when a worker ran a job (filled into the atom's execution info). */
export interface RemoteInfo {
  readonly hostname: string;
  readonly pid: number;
  /** When the worker took the job (epoch ms). */
  readonly startedAt: number;
  /** Reading the job's arguments and finding the atom. */
  readonly argsStartedAt: number;
  readonly argsEndedAt: number;
  /** When the atom's function was called and when it returned (epoch ms). */
  readonly taskStartedAt: number;
  readonly taskEndedAt: number;
  /** Checking the result can travel as JSON. */
  readonly resultStartedAt: number;
  readonly resultEndedAt: number;
  /** When the reply was ready (epoch ms). */
  readonly endedAt: number;
  /** How many times BullMQ started this job (more than 1: delivered again after a worker died). */
  readonly deliveries: number;
}

/**
 * A worker's answer, returned as the BullMQ job's return value: the atom's own error is an
 * answer too (`ok: false`), so atomflow's retry controllers, not BullMQ's `attempts`, decide.
 */
export type Reply =
  | { readonly format: 1; readonly ok: true; readonly value: unknown; readonly info: RemoteInfo }
  | { readonly format: 1; readonly ok: false; readonly failure: FailureData; readonly info: RemoteInfo };

/** What a worker sends as BullMQ progress for `ctx.progress(fraction, details)`. */
export interface ProgressNote {
  readonly p: number;
  readonly d?: Readonly<Record<string, unknown>>;
}

/**
 * The job id of one execute/revert: flow, atom, action and attempt, so dispatching it again (after
 * the engine died) finds the same job. BullMQ ids may not contain ':' (nor be integers).
 */
export function jobIdOf(d: Pick<JobDescription, 'flowUuid' | 'atomUuid' | 'action' | 'attempt'>): string {
  return `${safe(d.flowUuid)}.${safe(d.atomUuid)}.${d.action}.${d.attempt}`;
}

function safe(s: string): string {
  return s.includes(':') || s.includes('%') ? s.replaceAll('%', '%25').replaceAll(':', '%3A') : s;
}

/** BullMQ's connection option from a redis:// URL or ioredis options (BullMQ needs maxRetriesPerRequest null). */
export function bullConnection(connection: string | Readonly<Record<string, unknown>>): Record<string, unknown> {
  const base = typeof connection === 'string' ? { url: connection } : { ...connection };
  return { ...base, maxRetriesPerRequest: null };
}

/** A redacted form of a connection for messages (no password). */
export function showConnection(connection: string | Readonly<Record<string, unknown>>): string {
  if (typeof connection !== 'string') return `${String(connection.host ?? '127.0.0.1')}:${String(connection.port ?? 6379)}`;
  try {
    const u = new URL(connection);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(bad url)';
  }
}
