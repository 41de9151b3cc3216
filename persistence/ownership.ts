/**
 * Run ownership, the parts every backend shares: the verdict on a claim (pure: the stored holder,
 * the request, the time and a liveness check in, a verdict out), the request checks, and the
 * defaults (`<hostname>:<pid>`). A backend reads the holder, asks `claimVerdict`, and writes the
 * new owner with a raised token, all in one transaction.
 *
 * Rules (README, "Run ownership"): a claim is held while its owner is set and its lease has not run
 * out. A held claim is refused (FlowClaimed) whoever holds it — two `load()`s in one process
 * included — except when its host is the requester's host and its pid no longer exists: a
 * restarted service takes its runs back at once instead of waiting for the lease.
 */
import os from 'node:os';
import { ClaimLost, FlowClaimed, InvariantViolation } from '../lib/errors.js';
import type { Claim, ClaimRequest } from './backend.js';

/** The owner fields as stored with a flow detail (all null when nobody holds it). */
export interface StoredHolder {
  readonly owner: string | null;
  readonly host: string | null;
  readonly pid: number | null;
  /** Epoch ms. */
  readonly leaseUntil: number | null;
}

export const FREE: StoredHolder = Object.freeze({ owner: null, host: null, pid: null, leaseUntil: null });

/**
 * - `free`: nobody holds it (never claimed, or released);
 * - `expired`: its lease ran out;
 * - `orphaned`: held, but by a process of this host that no longer exists;
 * - `held`: held by a live owner (or one on another host whose lease still runs).
 */
export type ClaimVerdict = 'free' | 'expired' | 'orphaned' | 'held';

/** Whether `request` may take a flow detail whose stored holder is `holder`, at `now` (epoch ms). */
export function claimVerdict(
  holder: StoredHolder,
  request: Pick<ClaimRequest, 'host'>,
  now: number,
  isAlive: (pid: number) => boolean = isPidAlive,
): ClaimVerdict {
  if (holder.owner === null) return 'free';
  if (holder.leaseUntil === null || holder.leaseUntil <= now) return 'expired';
  if (holder.host !== null && holder.host === request.host && holder.pid !== null && !isAlive(holder.pid)) return 'orphaned';
  return 'held';
}

/** Whether a process with this pid exists on this host (EPERM: it exists, it is not ours). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function defaultHost(): string {
  return os.hostname();
}

/** `<hostname>:<pid>`. */
export function defaultOwner(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** The request of this process: its host and pid, with the given owner and lease. */
export function claimRequest(owner: string, leaseMs: number, host: string = defaultHost()): ClaimRequest {
  return Object.freeze({ owner, host, pid: process.pid, leaseMs });
}

/** Refuses a malformed request (InvariantViolation naming the field). */
export function checkClaimRequest(request: ClaimRequest): void {
  if (typeof request !== 'object' || request === null) throw new InvariantViolation('a claim request must be an object { owner, host, pid, leaseMs }');
  if (typeof request.owner !== 'string' || request.owner.length === 0) throw bad('owner', 'must be a non-empty string', request.owner);
  if (typeof request.host !== 'string' || request.host.length === 0) throw bad('host', 'must be a non-empty string', request.host);
  if (!Number.isInteger(request.pid) || request.pid <= 0) throw bad('pid', 'must be a positive integer', request.pid);
  checkLeaseMs(request.leaseMs);
}

export function checkLeaseMs(leaseMs: number): void {
  if (!Number.isInteger(leaseMs) || leaseMs <= 0) throw bad('leaseMs', 'must be a positive integer (milliseconds)', leaseMs);
}

export function checkToken(token: number): void {
  if (!Number.isSafeInteger(token) || token < 0) throw bad('token', 'must be a non-negative integer', token);
}

function bad(field: string, what: string, value: unknown): InvariantViolation {
  return new InvariantViolation(`claim ${field} ${what}, not ${JSON.stringify(value)}`, { option: field });
}

/** The refusal for a held claim. */
export function claimedError(flowUuid: string, holder: StoredHolder): FlowClaimed {
  return new FlowClaimed(flowUuid, holder.owner ?? '?', new Date(holder.leaseUntil ?? 0));
}

/** A frozen Claim. */
export function claimOf(flowUuid: string, holder: { owner: string; host: string; pid: number; leaseUntil: number }, token: number): Claim {
  return Object.freeze({ flowUuid, owner: holder.owner, host: holder.host, pid: holder.pid, token, leaseUntil: holder.leaseUntil });
}

/** A fenced commit whose token is no longer the flow's. */
export function staleFence(flowUuid: string, token: number, stored: number): ClaimLost {
  return new ClaimLost(flowUuid, undefined, `the commit's fencing token is ${token}, the stored one ${stored}: another owner took the flow over`);
}

/** A renewal whose token is no longer the flow's, or whose claim was released. */
export function lostClaim(flowUuid: string, token: number, stored: number, owner: string | null): ClaimLost {
  if (owner === null && stored === token) return new ClaimLost(flowUuid, undefined, 'the claim was released');
  return new ClaimLost(flowUuid, undefined, `token ${token}, the stored one is ${stored}${owner === null ? '' : ` (held by '${owner}')`}`);
}

