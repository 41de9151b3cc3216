/**
 * The one backend contract, in domain terms (no SQL in its signatures). Every backend passes the
 * conformance suite in `spec/persistence/`. Every method returns a promise; a backend that does
 * its work synchronously (SQLite) still answers through one.
 *
 * Errors: an unknown uuid is `NotFound`; a driver problem (busy, locked, read-only, corrupt,
 * full) is `StorageFailure` with the driver error as `cause`. A failed call changes nothing.
 *
 * Upserts: a save replaces a stored record's fields but keeps the `createdAt` of its first store
 * (like a SQL row's insert time). A flow detail belongs to one book and an atom detail to one flow
 * detail: saving one under another parent is an `InvariantViolation`, and nothing is written.
 */
import { describeValue } from '../lib/describe.js';
import { InvariantViolation } from '../lib/errors.js';
import type { FlowState } from '../lib/states.js';
import type { AtomDetail, FlowDetail, LogBook } from './models.js';

/** Who asks to own a flow detail, and for how long (see `Backend.claim`). */
export interface ClaimRequest {
  /** The owner id (default `<hostname>:<pid>`, see `defaultOwner()`). */
  readonly owner: string;
  /** The host the owner runs on (`os.hostname()`): a same-host holder whose pid is gone is taken over at once. */
  readonly host: string;
  readonly pid: number;
  /** How long the claim holds without a renewal (ms, > 0). */
  readonly leaseMs: number;
}

/** A flow detail's owner as stored: who, where, its fencing token and until when it holds. */
export interface Claim {
  readonly flowUuid: string;
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  /** The flow's fencing token after this claim (every claim raises it; commits carry it as `fence`). */
  readonly token: number;
  /** When the lease runs out unless renewed (epoch ms). */
  readonly leaseUntil: number;
}

export interface LoadOptions {
  /** Without contents: a book without flow details, a flow detail without atom details. */
  readonly lazy?: boolean;
}

/** Which flow details `findFlows()` lists. */
export interface FlowQuery {
  /** Only flow details in these states ('PENDING' also matches a flow detail that never ran). Default: every state. */
  readonly state?: FlowState | readonly FlowState[];
  /** Only the flow details of this book. */
  readonly bookUuid?: string;
  /** At most this many (oldest first). Default: all. */
  readonly limit?: number;
}

/** Which flow details `purge()` removes. */
export interface PurgeOptions {
  /** Flow details last updated (or, never updated, created) before this time. */
  readonly olderThan: Date | number;
  /** Only in these states; default the finished ones: SUCCESS, REVERTED, FAILURE. */
  readonly states?: readonly FlowState[];
}

/** The finished states `purge()` removes by default. */
export const PURGEABLE: readonly FlowState[] = Object.freeze(['SUCCESS', 'REVERTED', 'FAILURE']);

/** What one engine step changed; a backend writes it in one transaction. */
export interface FlowChange {
  /** The flow detail's own fields (its `atomDetails` are ignored here). */
  readonly flow?: FlowDetail;
  /** Atom details to insert or replace (by uuid). */
  readonly atoms?: readonly AtomDetail[];
  /**
   * Optional hint, one per atom: its position among the flow's atoms in first-stored order (an
   * engine knows it). A backend may use it to find the stored record without a lookup, and must
   * check it (a wrong or missing hint only costs the lookup).
   */
  readonly positions?: readonly number[];
  /**
   * The writer's fencing token (`Claim.token`). When set, the commit writes only if the flow's
   * stored token still equals it, checked in the same transaction as the writes; otherwise it
   * throws `ClaimLost` and writes nothing. Unset (prepare(), tools): no check.
   */
  readonly fence?: number | undefined;
}

export interface Backend {
  /** e.g. 'memory', 'sqlite'. */
  readonly kind: string;

  /**
   * Inserts or updates a book, and merges the flow details it holds (and their atom details)
   * into what is stored: flow details not in `book` are kept.
   */
  saveLogBook(book: LogBook): Promise<void>;
  /** NotFound for an unknown uuid. Flow details come sorted by creation time (ties: first-stored order). */
  getLogBook(uuid: string, options?: LoadOptions): Promise<LogBook>;
  /** Every book, oldest first (lazy by default: `{ lazy: false }` loads contents). */
  getLogBooks(options?: LoadOptions): Promise<LogBook[]>;
  /** Removes a book with its flow and atom details. NotFound for an unknown uuid. */
  destroyLogBook(uuid: string): Promise<void>;

  /** Inserts or updates a flow detail (and the atom details it holds) in a stored book. NotFound if the book is not stored. */
  saveFlowDetail(bookUuid: string, flow: FlowDetail): Promise<void>;
  /** NotFound for an unknown uuid. Atom details come in the order they were first stored. */
  getFlowDetail(uuid: string, options?: LoadOptions): Promise<FlowDetail>;
  /** The uuid of the book holding a flow detail. NotFound for an unknown uuid. */
  getBookUuidOfFlow(flowUuid: string): Promise<string>;

  /** Inserts or updates atom details of a stored flow detail. NotFound if the flow detail is not stored. */
  saveAtomDetails(flowUuid: string, atoms: readonly AtomDetail[]): Promise<void>;
  /** NotFound for an unknown flow uuid. */
  getAtomDetails(flowUuid: string): Promise<AtomDetail[]>;

  /**
   * One engine step: the flow's fields and any atom details, in one transaction. NotFound if the
   * flow detail is not stored; `change.flow.uuid` must be `flowUuid` (InvariantViolation otherwise).
   * Called once per engine step, so backends keep it cheap. With `change.fence`, a stale token is
   * `ClaimLost` and nothing is written.
   */
  commit(flowUuid: string, change: FlowChange): Promise<void>;

  /**
   * Optional: `commit()` done before returning, for a backend whose writes are synchronous anyway
   * (memory, better-sqlite3). Same effect and errors as `commit()`, thrown instead of rejected.
   * The engine prefers it (no promise and no tick per step) unless a subclass overrides `commit()`
   * below the class that provides `commitSync()` (see `syncCommitOf`); so a subclass that
   * intercepts writes should override `commitSync()`, which the built-in `commit()`s delegate to.
   */
  commitSync?(flowUuid: string, change: FlowChange): void;

  // ---- ownership (see persistence/ownership.ts for the verdict every backend shares) ----------

  /**
   * Takes the flow detail for `request.owner`, raising its fencing token, in one transaction.
   * A claim is held while its owner is set and its lease has not run out; a held claim is
   * `FlowClaimed` (whoever holds it, this process included) unless its host is `request.host` and
   * its pid no longer exists (taken over at once). NotFound for an unknown uuid; InvariantViolation
   * for a malformed request.
   */
  claim(flowUuid: string, request: ClaimRequest): Promise<Claim>;
  /**
   * Extends the lease to now + `leaseMs`. `ClaimLost` when the stored token is not `token` or the
   * claim was released (the lease may have run out meanwhile: nobody took over, so it still holds).
   * NotFound for an unknown uuid.
   */
  renew(flowUuid: string, token: number, leaseMs: number): Promise<Claim>;
  /** Clears the owner and lease when the stored token is `token` (the token itself stays); otherwise a no-op. */
  release(flowUuid: string, token: number): Promise<void>;
  /**
   * The stored claim, or undefined when nobody holds it (released or never claimed). An expired
   * lease is still returned, with `leaseUntil` in the past. NotFound for an unknown uuid.
   */
  getClaim(flowUuid: string): Promise<Claim | undefined>;

  /**
   * Flow details (lazy: without atom details) matching `query`, oldest first, without reading any
   * history: what a service lists to find unfinished runs. Answered from an index in SQL stores.
   */
  findFlows(query?: FlowQuery): Promise<FlowDetail[]>;

  /**
   * Retention: removes the flow details (with their atom details) in `states` last updated before
   * `olderThan`, and the books this left without flow details. Resolves to how many flow details
   * were removed.
   */
  purge(options: PurgeOptions): Promise<number>;

  /** Removes everything (tests, tools). */
  clearAll(): Promise<void>;
  /** Releases what the backend holds; later calls fail with StorageFailure. Idempotent. */
  close(): Promise<void>;
}

/**
 * The backend's `commitSync` bound to it, when the engine may use it: present, and not shadowed
 * by a `commit()` override in a subclass below the class that defines `commitSync()` (such an
 * override intercepts writes and must keep seeing them).
 */
export function syncCommitOf(backend: Backend): ((flowUuid: string, change: FlowChange) => void) | undefined {
  if (typeof backend.commitSync !== 'function') return undefined;
  for (let o: object | null = backend; o !== null; o = Object.getPrototypeOf(o)) {
    const ownSync = Object.hasOwn(o, 'commitSync');
    if (Object.hasOwn(o, 'commit') && !ownSync) return undefined;
    if (ownSync) return backend.commitSync.bind(backend);
  }
  return undefined;
}

const FLOW_STATES: ReadonlySet<string> = new Set(['PENDING', 'RUNNING', 'SUCCESS', 'FAILURE', 'REVERTING', 'REVERTED', 'RESUMING', 'SUSPENDING', 'SUSPENDED']);

/** A `findFlows()` query checked and normalised (states as a list, undefined = any). */
export interface ResolvedFlowQuery {
  readonly states: readonly FlowState[] | undefined;
  readonly bookUuid: string | undefined;
  readonly limit: number | undefined;
}

function badOption(fn: string, option: string, what: string): InvariantViolation {
  return new InvariantViolation(`${fn}(): option '${option}' ${what}`, { option });
}

function checkStates(fn: string, option: string, v: unknown): readonly FlowState[] {
  const list = Array.isArray(v) ? v : [v];
  for (const s of list) {
    if (typeof s !== 'string' || !FLOW_STATES.has(s)) throw badOption(fn, option, `names an unknown flow state ${describeValue(s)} (known: ${[...FLOW_STATES].join(', ')})`);
  }
  return Object.freeze([...new Set(list as FlowState[])]);
}

/** Checks a `findFlows()` query (shared by every backend). */
export function resolveFlowQuery(query: FlowQuery | undefined): ResolvedFlowQuery {
  if (query === undefined) return { states: undefined, bookUuid: undefined, limit: undefined };
  if (typeof query !== 'object' || query === null) throw new InvariantViolation('findFlows() takes an object ({ state, bookUuid, limit })', { option: 'query' });
  for (const k of Object.keys(query)) if (k !== 'state' && k !== 'bookUuid' && k !== 'limit') throw badOption('findFlows', k, 'is unknown (known: state, bookUuid, limit)');
  const states = query.state === undefined ? undefined : checkStates('findFlows', 'state', query.state);
  if (query.bookUuid !== undefined && typeof query.bookUuid !== 'string') throw badOption('findFlows', 'bookUuid', 'must be a string');
  if (query.limit !== undefined && (!Number.isInteger(query.limit) || query.limit < 0)) throw badOption('findFlows', 'limit', `must be an integer >= 0, not ${describeValue(query.limit)}`);
  return { states, bookUuid: query.bookUuid, limit: query.limit };
}

/** Checks `purge()` options; answers the cut-off in epoch ms and the states. */
export function resolvePurge(options: PurgeOptions): { readonly before: number; readonly states: readonly FlowState[] } {
  if (typeof options !== 'object' || options === null) throw new InvariantViolation('purge() takes an object ({ olderThan, states })', { option: 'options' });
  for (const k of Object.keys(options)) if (k !== 'olderThan' && k !== 'states') throw badOption('purge', k, 'is unknown (known: olderThan, states)');
  const t = options.olderThan;
  const before = t instanceof Date ? t.getTime() : t;
  if (typeof before !== 'number' || !Number.isFinite(before)) throw badOption('purge', 'olderThan', 'must be a Date or epoch milliseconds');
  const states = options.states === undefined ? PURGEABLE : checkStates('purge', 'states', options.states);
  return { before, states };
}

/** Whether a stored flow state (null: never ran) is one of `states`. */
export function stateIn(state: FlowState | null, states: readonly FlowState[]): boolean {
  return states.includes(state ?? 'PENDING');
}
