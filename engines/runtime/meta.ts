/**
 * The meta the engine writes on atom records: progress and execution info (host, pid, start and
 * end of execute and revert), built with one fixed shape each so the hot path stays monomorphic.
 */
import os from 'node:os';
import type { AtomMeta, ExecutionInfo } from '../../persistence/models.js';

const HOST = os.hostname();
const PID = process.pid;

/** Execution info, always with the same fields (so the hot path stays monomorphic); undefined keeps `prev`'s. */
export function execution(
  prev: ExecutionInfo | undefined,
  executeStartedAt: number | undefined,
  executeEndedAt: number | undefined,
  revertStartedAt: number | undefined,
  revertEndedAt: number | undefined,
): ExecutionInfo {
  return {
    hostname: HOST,
    pid: PID,
    executeStartedAt: executeStartedAt ?? prev?.executeStartedAt,
    executeEndedAt: executeEndedAt ?? prev?.executeEndedAt,
    revertStartedAt: revertStartedAt ?? prev?.revertStartedAt,
    revertEndedAt: revertEndedAt ?? prev?.revertEndedAt,
  } as ExecutionInfo;
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
