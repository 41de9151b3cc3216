/**
 * The meta the engine writes on atom records: progress and execution info (see `ExecutionRecord`
 * in persistence/models.ts for what each time means), built with one fixed shape each so the hot
 * path stays monomorphic.
 */
import {
  EXECUTION_HISTORY,
  executionInfo,
  executionRecord,
  type AtomMeta,
  type ExecutionAttempt,
  type ExecutionInfo,
  type ExecutionRecord,
} from '../../persistence/models.js';
import type { ExecutionStamps } from '../executors/executor.js';

/** `prev.earlier` with one more attempt at the end (at most EXECUTION_HISTORY kept). */
function withEarlier(prev: ExecutionInfo, attempt: ExecutionAttempt): readonly ExecutionAttempt[] {
  const list = prev.earlier === undefined ? [] : prev.earlier.slice(prev.earlier.length >= EXECUTION_HISTORY ? 1 : 0);
  list.push(attempt);
  return Object.freeze(list);
}

/** The complete record of a job whose outcome was just received. */
export function receivedRecord(job: ExecutionStamps, receivedAt: number, success: boolean): ExecutionRecord {
  return executionRecord(
    job.hostname,
    job.pid,
    job.threadId,
    job.submittedAt,
    job.startedAt,
    job.argsStartedAt,
    job.argsEndedAt,
    job.taskStartedAt,
    job.taskEndedAt,
    job.resultStartedAt,
    job.resultEndedAt,
    job.endedAt,
    receivedAt,
    success,
    job.parents,
  );
}

/**
 * The info written when a job's outcome is received (nothing is written when it is handed over:
 * that would cost a record per action on the hot path). An execute of an atom that ran before (a
 * retry, a reset, a re-run after a resume) moves the previous execute and its revert to `earlier`;
 * a revert after a failed revert moves that one.
 */
export function received(prev: ExecutionInfo | undefined, action: 'execute' | 'revert', job: ExecutionStamps, receivedAt: number, success: boolean): ExecutionInfo {
  const rec = receivedRecord(job, receivedAt, success);
  if (prev === undefined) return action === 'execute' ? executionInfo(rec, undefined, undefined) : executionInfo(undefined, rec, undefined);
  if (action === 'execute') {
    if (prev.execute === undefined && prev.revert === undefined) return executionInfo(rec, undefined, prev.earlier);
    return executionInfo(rec, undefined, withEarlier(prev, Object.freeze({ execute: prev.execute, revert: prev.revert })));
  }
  if (prev.revert === undefined) return executionInfo(prev.execute, rec, prev.earlier);
  return executionInfo(prev.execute, rec, withEarlier(prev, Object.freeze({ execute: undefined, revert: prev.revert })));
}

/** Whether `meta` holds only the fields the engine writes (then it can be rebuilt in one shape). */
function engineOnly(meta: AtomMeta): boolean {
  for (const k in meta) if (k !== 'progress' && k !== 'progressDetails' && k !== 'execution' && k !== 'retryAt' && k !== 'attempt') return false;
  return true;
}

/**
 * An atom's meta with the engine's fields given (pass the old value to keep one; `attempt` is
 * always kept: only `nextAttempt` changes it). Always the same
 * shape, so the hot path stays monomorphic; any other fields (written by a tool) are kept.
 */
export function metaOf(
  prev: AtomMeta,
  progress: number | undefined,
  progressDetails: AtomMeta['progressDetails'],
  exec: ExecutionInfo | undefined,
  retryAt: number | undefined,
): AtomMeta {
  const meta: AtomMeta = { progress, progressDetails, execution: exec, retryAt, attempt: prev.attempt };
  return engineOnly(prev) ? meta : { ...prev, ...meta };
}

/** The meta of an atom about to run again: the same fields, with `attempt` one higher. */
export function nextAttempt(prev: AtomMeta): AtomMeta {
  const attempt = (typeof prev.attempt === 'number' ? prev.attempt : 1) + 1;
  const meta: AtomMeta = { progress: prev.progress, progressDetails: prev.progressDetails, execution: prev.execution, retryAt: prev.retryAt, attempt };
  return engineOnly(prev) ? meta : { ...prev, ...meta };
}
