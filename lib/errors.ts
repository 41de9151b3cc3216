/**
 * One root error with a stable `code`; each subclass names what is at fault in fields and message.
 * Three outcomes are kept apart: an atom's failure (a `Failure`, goes to retry/revert), an engine
 * defect (`InvalidStateTransition`, `InvariantViolation` raised by the engine) and an
 * interruption (suspend/abort: the run ends SUSPENDED, nothing is retried).
 */
import type { Failure } from './failure.js';

export type ErrorCode =
  | 'ATOMFLOW_ERROR'
  | 'MISSING_DEPENDENCIES'
  | 'DUPLICATE_NAME'
  | 'CYCLE'
  | 'AMBIGUOUS_DEPENDENCY'
  | 'INVARIANT_VIOLATION'
  | 'NOT_FOUND'
  | 'WRAPPED_FAILURE'
  | 'STORAGE_FAILURE'
  | 'INVALID_STATE_TRANSITION'
  | 'ENGINE_LOCKED'
  | 'INCOMPATIBLE_VERSION'
  | 'FLOW_CLAIMED'
  | 'CLAIM_LOST'
  | 'INVALID_SCHEDULE'
  | 'ATOM_TIMEOUT'
  | 'ATOM_NOT_IMPORTABLE'
  | 'JOB_TRASHED'
  | 'WORKER_LOST';

export class AtomflowError extends Error {
  readonly code: ErrorCode = 'ATOMFLOW_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A requirement that nothing provides; `missing` maps each atom to its unprovided stored names. */
export class MissingDependencies extends AtomflowError {
  override readonly code = 'MISSING_DEPENDENCIES';
  readonly missing: Readonly<Record<string, readonly string[]>>;
  constructor(missing: Record<string, readonly string[]>, where?: string) {
    const parts = Object.entries(missing).map(([atom, names]) => `'${atom}' requires [${names.join(', ')}]`);
    super(`${where ? `${where}: ` : ''}${parts.join('; ')} but no other entity produces said requirements`);
    this.missing = Object.freeze({ ...missing });
  }
}

export class DuplicateNameError extends AtomflowError {
  override readonly code = 'DUPLICATE_NAME';
  readonly names: readonly string[];
  constructor(names: readonly string[], message?: string) {
    super(message ?? `atoms with duplicate names found: [${names.join(', ')}]`);
    this.names = names;
  }
}

export class CycleError extends AtomflowError {
  override readonly code = 'CYCLE';
  readonly flow: string;
  /** The cycle's path when known: names, each followed by the next, back to the first. */
  readonly cycle: readonly string[] | undefined;
  constructor(flow: string, detail: string, cycle?: readonly string[]) {
    super(`flow '${flow}': ${detail} would create a cycle; no order allows every edge to be followed`);
    this.flow = flow;
    this.cycle = cycle === undefined ? undefined : Object.freeze([...cycle]);
  }
}

export class AmbiguousDependency extends AtomflowError {
  override readonly code = 'AMBIGUOUS_DEPENDENCY';
  readonly atom: string;
  readonly symbol: string;
  readonly providers: readonly string[];
  constructor(flow: string, atom: string, symbol: string, providers: readonly string[]) {
    super(
      `flow '${flow}': adding '${atom}': multiple providers [${providers.join(', ')}] found for required symbol '${symbol}'`,
    );
    this.atom = atom;
    this.symbol = symbol;
    this.providers = providers;
  }
}

/** Bad input: an option, a definition or a call that breaks a rule. */
export class InvariantViolation extends AtomflowError {
  override readonly code = 'INVARIANT_VIOLATION';
  readonly subject: string | undefined;
  readonly option: string | undefined;
  constructor(message: string, fields: { subject?: string; option?: string; cause?: unknown } = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.subject = fields.subject;
    this.option = fields.option;
  }
}

export class NotFound extends AtomflowError {
  override readonly code = 'NOT_FOUND';
  readonly subject: string | undefined;
  constructor(message: string, subject?: string) {
    super(message);
    this.subject = subject;
  }
}

/** Several failures at once (or one whose live error is gone, e.g. after a reload). */
export class WrappedFailure extends AtomflowError {
  override readonly code = 'WRAPPED_FAILURE';
  readonly failures: readonly Failure[];
  constructor(failures: readonly Failure[]) {
    const flat: Failure[] = [];
    for (const f of failures) {
      const inner = f.exception;
      if (inner instanceof WrappedFailure) flat.push(...inner.failures);
      else flat.push(f);
    }
    super(`WrappedFailure: [${flat.map((f) => f.toString()).join(', ')}]`);
    this.failures = Object.freeze(flat);
  }
  get length(): number {
    return this.failures.length;
  }
  [Symbol.iterator](): Iterator<Failure> {
    return this.failures[Symbol.iterator]();
  }
  /** The first of `types` that any wrapped failure matches. */
  check(...types: Array<string | (abstract new (...args: never[]) => unknown)>): string | (abstract new (...args: never[]) => unknown) | undefined {
    for (const f of this.failures) {
      const hit = f.check(...types);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

/** The persistence backend could not do what was asked (busy, locked, read-only, corrupt, full...). */
export class StorageFailure extends AtomflowError {
  override readonly code = 'STORAGE_FAILURE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An engine defect: the runtime tried a transition the state tables forbid. */
export class InvalidStateTransition extends AtomflowError {
  override readonly code = 'INVALID_STATE_TRANSITION';
  readonly subject: string;
  readonly from: string;
  readonly to: string;
  constructor(subject: string, from: string, to: string) {
    super(`${subject}: transition from '${from}' to '${to}' is not allowed`);
    this.subject = subject;
    this.from = from;
    this.to = to;
  }
}

/** `run()` was called while the same engine is already running. */
export class EngineLocked extends AtomflowError {
  override readonly code = 'ENGINE_LOCKED';
  constructor(flow: string) {
    super(`engine for flow '${flow}' is already running; wait for it (or suspend it) before running again`);
  }
}

/** A stored atom was written by another version of the atom. */
export class IncompatibleVersion extends AtomflowError {
  override readonly code = 'INCOMPATIBLE_VERSION';
  readonly atom: string;
  readonly stored: string;
  readonly current: string;
  constructor(atom: string, stored: string, current: string) {
    super(`atom '${atom}' was stored by version ${stored} but the flow now has version ${current}`);
    this.atom = atom;
    this.stored = stored;
    this.current = current;
  }
}

/** `run()`/`resume()` of a flow detail that another live owner holds; raised before any atom runs. */
export class FlowClaimed extends AtomflowError {
  override readonly code = 'FLOW_CLAIMED';
  readonly flowUuid: string;
  /** The holder's owner id. */
  readonly owner: string;
  /** When the holder's lease runs out (unless renewed). */
  readonly leaseUntil: Date;
  constructor(flowUuid: string, owner: string, leaseUntil: Date) {
    super(`flow detail '${flowUuid}' is owned by '${owner}' until ${leaseUntil.toISOString()}; it is not run twice at once`);
    this.flowUuid = flowUuid;
    this.owner = owner;
    this.leaseUntil = leaseUntil;
  }
}

/**
 * This owner's claim on a flow detail was taken over (its lease expired while it was paused,
 * partitioned or too slow to renew): its commit wrote nothing and its run stops without reverting.
 */
export class ClaimLost extends AtomflowError {
  override readonly code = 'CLAIM_LOST';
  readonly flowUuid: string;
  readonly owner: string | undefined;
  constructor(flowUuid: string, owner?: string, detail?: string) {
    super(
      `flow detail '${flowUuid}': the claim${owner === undefined ? '' : ` of '${owner}'`} was lost${detail ? ` (${detail})` : ''}; nothing more is written by this run`,
    );
    this.flowUuid = flowUuid;
    this.owner = owner;
  }
}

/** A schedule specification that cannot be used (bad cron, unknown field, bad timezone...). */
export class InvalidSchedule extends AtomflowError {
  override readonly code = 'INVALID_SCHEDULE';
  readonly schedule: string;
  constructor(schedule: string, message: string, options?: { cause?: unknown }) {
    super(`schedule '${schedule}': ${message}`, options);
    this.schedule = schedule;
  }
}

/** An atom ran past its `timeoutMs`: its signal was aborted and it failed with this. */
export class AtomTimeout extends AtomflowError {
  override readonly code = 'ATOM_TIMEOUT';
  readonly atom: string;
  readonly timeoutMs: number;
  readonly action: 'execute' | 'revert';
  constructor(atom: string, timeoutMs: number, action: 'execute' | 'revert' = 'execute') {
    super(`atom '${atom}' did not finish its ${action} within ${timeoutMs} ms`);
    this.atom = atom;
    this.timeoutMs = timeoutMs;
    this.action = action;
  }
}

/** `job.result()` of a job that was trashed (its factory threw, or it was claimed too often without completing). */
export class JobTrashed extends AtomflowError {
  override readonly code = 'JOB_TRASHED';
  readonly jobUuid: string;
  readonly reason: string;
  constructor(jobUuid: string, name: string, reason: string) {
    super(`job '${name}' ('${jobUuid}') was trashed: ${reason}`);
    this.jobUuid = jobUuid;
    this.reason = reason;
  }
}

/**
 * A value the store cannot hold faithfully as JSON (a Map, Set, Date, NaN, ±Infinity, -0, BigInt,
 * typed array, class instance, function, symbol, cycle...): refused when it is handed over, naming
 * the atom (or option) and the path inside the value (`result.items[2].when`).
 */
export class UnstorableValue extends InvariantViolation {
  /** The atom whose result or progress it was, if any. */
  readonly atom: string | undefined;
  /** Where inside the value: `result.items[2].when`, `store.order`, `progress.details.at`. */
  readonly path: string;
  /** What was found there, in words. */
  readonly reason: string;
  constructor(fields: { atom?: string; option?: string; path: string; reason: string; cause?: unknown }) {
    const where = fields.atom !== undefined ? `atom '${fields.atom}': ` : fields.option !== undefined ? `option '${fields.option}': ` : '';
    super(`${where}${fields.path} cannot be stored as JSON: ${fields.reason}`, {
      ...(fields.atom !== undefined ? { subject: fields.atom } : {}),
      ...(fields.option !== undefined ? { option: fields.option } : {}),
      ...(fields.cause !== undefined ? { cause: fields.cause } : {}),
    });
    this.atom = fields.atom;
    this.path = fields.path;
    this.reason = fields.reason;
  }
}

/**
 * A `StorageFailure` because another connection holds the store's lock. Backends raise it from a
 * synchronous attempt so the caller can wait without blocking (the engine then retries through the
 * backend's asynchronous `commit()`, which waits up to its busy timeout and then raises a plain
 * `StorageFailure` naming the lock).
 */
export class StorageBusy extends StorageFailure {
  /** What is locked (e.g. the database file). */
  readonly lock: string;
  constructor(lock: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.lock = lock;
  }
}

/**
 * `executor: 'threads'` runs atoms in other threads, which import them: this atom is not declared
 * importable (`static module = import.meta.url` on an exported class, or `task({ module })`
 * exported under its name), or its module does not export it so.
 */
export class AtomNotImportable extends AtomflowError {
  override readonly code = 'ATOM_NOT_IMPORTABLE';
  readonly atom: string;
  constructor(atom: string, why: string) {
    super(`atom '${atom}' cannot run in a worker thread: ${why}`);
    this.atom = atom;
  }
}

/**
 * The worker running an atom (engine 'worker') was lost: it died or stopped renewing its lock
 * past what the atom's `redeliver` policy allows. The atom fails with this; retries and reverts apply.
 */
export class WorkerLost extends AtomflowError {
  override readonly code = 'WORKER_LOST';
  readonly atom: string;
  readonly action: 'execute' | 'revert';
  readonly jobId: string;
  constructor(atom: string, action: 'execute' | 'revert', jobId: string, detail: string) {
    super(`atom '${atom}': the worker running its ${action} was lost (${detail}; job ${jobId})`);
    this.atom = atom;
    this.action = action;
    this.jobId = jobId;
  }
}
