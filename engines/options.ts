/**
 * Engine options: one typed object, validated once into a frozen internal form. Unknown keys and
 * bad values are refused with an `InvariantViolation` naming the option.
 */
import { MAX_TIMEOUT_MS } from '../lib/atom.js';
import { describeValue } from '../lib/describe.js';
import { InvariantViolation, StorageFailure } from '../lib/errors.js';
import { storable } from '../persistence/codec.js';
import type { Backend, Claim } from '../persistence/backend.js';
import { defaultHost, defaultOwner } from '../persistence/ownership.js';
import type { FlowDetail, IdGenerator, LogBook } from '../persistence/models.js';
import { systemClock, type Clock } from './runtime/clock.js';

export type EngineKind = 'serial' | 'parallel' | 'worker';

/** Where the parallel engine runs atoms: in this thread (default) or in a pool of worker threads. */
export type ExecutorKind = 'in-process' | 'threads';

export interface LoadOptions {
  /** 'serial' (default), 'parallel' or 'worker'; defaults to `process.env.ATOMFLOW_ENGINE`, else 'serial'. */
  engine?: EngineKind;
  /** Initial values, persisted with the run; they beat atom outputs of the same name. */
  store?: Readonly<Record<string, unknown>>;
  /** Where the run is persisted (default: a new in-memory backend). */
  backend?: Backend;
  /** Parallel engine: atoms running at once (default 8; with `executor: 'threads'`, the threads of the pool). */
  maxWorkers?: number;
  /** Parallel engine: 'in-process' (default) or 'threads' (atoms declared importable run in worker threads). */
  executor?: ExecutorKind;
  /** The timeout (ms) of every atom that sets no `timeoutMs` of its own (default: none). */
  timeoutMs?: number;
  /**
   * 'revert' (default) reverts on failure; 'halt' (TaskFlow's never_resolve) stops un-reverted.
   * Persisted with the run: a resumed run keeps it unless given again (then the new one is stored).
   */
  onFailure?: 'revert' | 'halt';
  /**
   * What a retry answering REVERT undoes. 'defer-to-parent' (default; TaskFlow's defer_reverts):
   * the parent retry decides, and with none the whole run is reverted. 'subflow' (TaskFlow's old
   * default): only that retry's subflow. Persisted with the run, as `onFailure`.
   */
  revertScope?: 'subflow' | 'defer-to-parent';
  /** The LogBook (or its uuid) to add the run's FlowDetail to. */
  book?: LogBook | string;
  /** A stored FlowDetail (or its uuid) to continue. */
  flowDetail?: FlowDetail | string;
  /**
   * The id of a new run (e.g. an order id): starting the same id again attaches to that run
   * instead of making a second one (an idempotent start; see README). Not with `flowDetail`.
   */
  flowUuid?: string;
  /** Extra FlowDetail meta for a new run (e.g. how to rebuild the flow). */
  meta?: Readonly<Record<string, unknown>>;
  /** Time source for retry backoff (tests inject a manual clock). */
  clock?: Clock;
  /** Random source for backoff jitter. */
  random?: () => number;
  /** Id generator for new records. */
  ids?: IdGenerator;
  /** Who owns the run while it runs (default `<hostname>:<pid>`); see the README, "Run ownership". */
  owner?: string;
  /** How long a claim holds without renewal, in ms (default 30,000; renewed every `leaseMs / 3`). */
  leaseMs?: number;
  /**
   * The host recorded with a claim (default `os.hostname()`): a holder on this host whose pid is
   * gone is taken over at once. Set it where hostnames are not unique per pid namespace (tests,
   * containers sharing a name).
   */
  host?: string;
  /**
   * A claim already made on the run's flow detail (a conductor's): the first run does not claim,
   * fences its commits with this token, renews it, and releases it at the end.
   */
  claim?: Claim;
  /** Engine 'worker': where the workers listen (see `WorkerOptions`). */
  worker?: WorkerOptions;
}

/** Engine 'worker': the BullMQ queue on Redis that worker processes (`createWorker`) serve. */
export interface WorkerOptions {
  /** A redis:// URL or ioredis options; default `process.env.ATOMFLOW_REDIS_URL`, else redis://127.0.0.1:6379. */
  connection?: string | Readonly<Record<string, unknown>>;
  /** The queue name; default `process.env.ATOMFLOW_WORKER_QUEUE`, else 'atomflow'. */
  queue?: string;
  /** Atoms in flight at once (default 64). */
  maxInFlight?: number;
  /** How often jobs in flight are checked against Redis (lost events, a restarted Redis), ms; default 5000. */
  checkMs?: number;
  /** How long finished jobs stay in Redis, so an engine that died can pick up their results, ms; default 1 day. */
  keepJobsMs?: number;
}

export interface ResolvedWorkerOptions {
  readonly connection: string | Readonly<Record<string, unknown>>;
  readonly queue: string;
  readonly maxInFlight: number;
  readonly checkMs: number;
  readonly keepJobsMs: number;
}

export interface ResolvedOptions {
  readonly engine: EngineKind;
  readonly store: Readonly<Record<string, unknown>> | undefined;
  readonly backend: Backend | undefined;
  readonly maxWorkers: number;
  readonly executor: ExecutorKind;
  readonly timeoutMs: number | undefined;
  /** As given; undefined: the stored run's, else the default (see `rulesFor`). */
  readonly onFailure: 'revert' | 'halt' | undefined;
  /** As given; undefined: the stored run's, else the default (see `rulesFor`). */
  readonly revertScope: 'subflow' | 'defer-to-parent' | undefined;
  readonly book: LogBook | string | undefined;
  readonly flowDetail: FlowDetail | string | undefined;
  readonly flowUuid: string | undefined;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly clock: Clock;
  readonly random: () => number;
  readonly ids: IdGenerator | undefined;
  readonly owner: string;
  readonly leaseMs: number;
  readonly host: string;
  readonly claim: Claim | undefined;
  readonly worker: ResolvedWorkerOptions | undefined;
}

const KEYS = new Set([
  'engine', 'store', 'backend', 'maxWorkers', 'executor', 'timeoutMs', 'onFailure', 'revertScope', 'book', 'flowDetail', 'flowUuid', 'meta', 'clock', 'random', 'ids',
  'owner', 'leaseMs', 'host', 'claim', 'worker',
]);

function fail(option: string, what: string): InvariantViolation {
  return new InvariantViolation(`engine option '${option}' ${what}`, { option });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function resolveOptions(options: LoadOptions = {}): ResolvedOptions {
  if (!isRecord(options as unknown)) throw new InvariantViolation('load() options must be an object');
  for (const k of Object.keys(options)) if (!KEYS.has(k)) throw fail(k, `is unknown (known: ${[...KEYS].join(', ')})`);
  const fromEnv = options.engine === undefined ? process.env.ATOMFLOW_ENGINE : undefined;
  const engine = options.engine ?? (fromEnv === undefined || fromEnv === '' ? 'serial' : (fromEnv as EngineKind));
  if (engine !== 'serial' && engine !== 'parallel' && engine !== 'worker') {
    if (fromEnv !== undefined) {
      throw new InvariantViolation(`environment variable ATOMFLOW_ENGINE must be 'serial', 'parallel' or 'worker', not ${describeValue(fromEnv)}`, { option: 'ATOMFLOW_ENGINE' });
    }
    throw fail('engine', `must be 'serial', 'parallel' or 'worker', not ${describeValue(engine)}`);
  }
  if (options.store !== undefined && !isRecord(options.store)) throw fail('store', 'must be an object of values keyed by name');
  // Store values are persisted with the run: what JSON cannot hold is refused here (UnstorableValue).
  const store = options.store === undefined ? undefined : (storable(options.store, 'store', { option: 'store' }) as Readonly<Record<string, unknown>>);
  const b = options.backend as unknown;
  if (b !== undefined && (!isRecord(b) || typeof (b as { commit?: unknown }).commit !== 'function')) {
    throw fail('backend', 'must be a persistence backend (see openBackend())');
  }
  const maxWorkers = options.maxWorkers ?? 8;
  if (!Number.isInteger(maxWorkers) || maxWorkers < 1) throw fail('maxWorkers', `must be an integer >= 1, not ${describeValue(maxWorkers)}`);
  const executor = options.executor ?? 'in-process';
  if (executor !== 'in-process' && executor !== 'threads') throw fail('executor', `must be 'in-process' or 'threads', not ${JSON.stringify(executor)}`);
  if (executor === 'threads' && engine !== 'parallel') throw fail('executor', `'threads' needs engine: 'parallel' (not '${engine}')`);
  const timeoutMs = options.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS)) {
    throw fail('timeoutMs', `must be a number of milliseconds > 0 and <= ${MAX_TIMEOUT_MS}, not ${JSON.stringify(timeoutMs)}`);
  }
  const onFailure = options.onFailure;
  if (onFailure !== undefined && !isOnFailure(onFailure)) throw fail('onFailure', `must be 'revert' or 'halt', not ${describeValue(onFailure)}`);
  const revertScope = options.revertScope;
  if (revertScope !== undefined && !isRevertScope(revertScope)) {
    throw fail('revertScope', `must be 'subflow' or 'defer-to-parent', not ${describeValue(revertScope)}`);
  }
  for (const k of ['book', 'flowDetail'] as const) {
    const v = options[k] as unknown;
    if (v !== undefined && typeof v !== 'string' && !(isRecord(v) && typeof v.uuid === 'string')) throw fail(k, 'must be a uuid string or a stored record');
  }
  const flowUuid = options.flowUuid as unknown;
  if (flowUuid !== undefined) {
    if (typeof flowUuid !== 'string' || flowUuid.length === 0 || flowUuid.length > 255 || flowUuid.includes('\0')) {
      throw fail('flowUuid', 'must be a non-empty string of at most 255 characters without NUL');
    }
    if (options.flowDetail !== undefined) throw fail('flowUuid', "names a new run's id; it cannot be combined with 'flowDetail' (which continues a stored run)");
  }
  if (options.meta !== undefined && !isRecord(options.meta)) throw fail('meta', 'must be an object');
  const meta = options.meta === undefined ? undefined : (storable(options.meta, 'meta', { option: 'meta' }) as Readonly<Record<string, unknown>>);
  const clock = options.clock ?? systemClock;
  if (!isRecord(clock) || typeof clock.now !== 'function' || typeof clock.setTimer !== 'function') throw fail('clock', 'must have now() and setTimer()');
  if (options.random !== undefined && typeof options.random !== 'function') throw fail('random', 'must be a function');
  if (options.ids !== undefined && typeof options.ids !== 'function') throw fail('ids', 'must be a function');
  const owner = options.owner ?? defaultOwner();
  if (typeof owner !== 'string' || owner.length === 0) throw fail('owner', `must be a non-empty string, not ${JSON.stringify(owner)}`);
  const leaseMs = options.leaseMs ?? 30_000;
  if (!Number.isInteger(leaseMs) || leaseMs < 3 || leaseMs > 2 ** 31 - 1) {
    throw fail('leaseMs', `must be an integer number of milliseconds from 3 to 2147483647, not ${JSON.stringify(leaseMs)}`);
  }
  const host = options.host ?? defaultHost();
  if (typeof host !== 'string' || host.length === 0) throw fail('host', `must be a non-empty string, not ${JSON.stringify(host)}`);
  const claim = options.claim;
  if (claim !== undefined) {
    checkClaim(claim);
    const ref = options.flowDetail;
    const uuid = typeof ref === 'string' ? ref : ref?.uuid;
    if (uuid !== claim.flowUuid) throw fail('claim', `is a claim on flow detail '${claim.flowUuid}'; give that flow detail as 'flowDetail' (given: ${uuid === undefined ? 'none' : `'${uuid}'`})`);
  }
  return Object.freeze({
    engine,
    store,
    backend: options.backend,
    maxWorkers,
    executor,
    timeoutMs,
    onFailure,
    revertScope,
    book: options.book,
    flowDetail: options.flowDetail,
    flowUuid: flowUuid as string | undefined,
    meta: Object.freeze({ ...(meta ?? {}) }),
    clock,
    random: options.random ?? Math.random,
    ids: options.ids,
    owner: claim?.owner ?? owner,
    leaseMs,
    host,
    claim,
    worker: engine === 'worker' || options.worker !== undefined ? resolveWorker(options.worker) : undefined,
  });
}

const WORKER_KEYS = new Set(['connection', 'queue', 'maxInFlight', 'checkMs', 'keepJobsMs']);

function positive(key: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw fail(`worker.${key}`, `must be an integer >= 1, not ${JSON.stringify(v)}`);
  return v;
}

/** The worker engine's options, with the environment's defaults (ATOMFLOW_REDIS_URL, ATOMFLOW_WORKER_QUEUE). */
export function resolveWorker(w: WorkerOptions | undefined): ResolvedWorkerOptions {
  if (w !== undefined && !isRecord(w)) throw fail('worker', 'must be an object ({ connection, queue, ... })');
  const o: WorkerOptions = w ?? {};
  for (const k of Object.keys(o)) if (!WORKER_KEYS.has(k)) throw fail(`worker.${k}`, `is unknown (known: ${[...WORKER_KEYS].join(', ')})`);
  const connection: string | Readonly<Record<string, unknown>> = o.connection ?? process.env.ATOMFLOW_REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (typeof connection === 'string' ? !/^rediss?:\/\//.test(connection) : !isRecord(connection)) {
    throw fail('worker.connection', `must be a redis:// URL or ioredis options, not ${JSON.stringify(connection)}`);
  }
  const queue = o.queue ?? process.env.ATOMFLOW_WORKER_QUEUE ?? 'atomflow';
  if (typeof queue !== 'string' || queue.length === 0 || queue.includes(':')) throw fail('worker.queue', `must be a non-empty name without ':', not ${JSON.stringify(queue)}`);
  return Object.freeze({
    connection,
    queue,
    maxInFlight: positive('maxInFlight', o.maxInFlight, 64),
    checkMs: positive('checkMs', o.checkMs, 5000),
    keepJobsMs: positive('keepJobsMs', o.keepJobsMs, 86_400_000),
  });
}

// ---- the rules a run follows on failure (persisted with it) -----------------------------------

/** What a failure means for a run: stored in its FlowDetail's `meta.options`. */
export interface FailureRules {
  readonly onFailure: 'revert' | 'halt';
  readonly revertScope: 'subflow' | 'defer-to-parent';
}

export const DEFAULT_RULES: FailureRules = Object.freeze({ onFailure: 'revert', revertScope: 'defer-to-parent' });

/** The FlowDetail meta key the rules are stored under. */
export const RULES_KEY = 'options';

function isOnFailure(v: unknown): v is FailureRules['onFailure'] {
  return v === 'revert' || v === 'halt';
}

function isRevertScope(v: unknown): v is FailureRules['revertScope'] {
  return v === 'subflow' || v === 'defer-to-parent';
}

/**
 * The rules a run follows: the options given to this `load()` win, then what the run stored, then
 * the defaults. `stored` is the FlowDetail's meta (undefined for a new run); a stored value that is
 * not a known rule is a `StorageFailure` naming the flow.
 */
export function rulesFor(given: Pick<ResolvedOptions, 'onFailure' | 'revertScope'>, stored?: { readonly uuid: string; readonly meta: Readonly<Record<string, unknown>> }): FailureRules {
  let onFailure = given.onFailure;
  let revertScope = given.revertScope;
  const kept = stored?.meta[RULES_KEY];
  if (kept !== undefined && (onFailure === undefined || revertScope === undefined)) {
    const bad = (what: string): StorageFailure => new StorageFailure(`flow detail '${stored!.uuid}': stored ${what} is not a known rule (meta.${RULES_KEY}: ${describeValue(kept)})`);
    if (!isRecord(kept)) throw bad(`meta.${RULES_KEY}`);
    if (onFailure === undefined && kept.onFailure !== undefined) {
      if (!isOnFailure(kept.onFailure)) throw bad("'onFailure'");
      onFailure = kept.onFailure;
    }
    if (revertScope === undefined && kept.revertScope !== undefined) {
      if (!isRevertScope(kept.revertScope)) throw bad("'revertScope'");
      revertScope = kept.revertScope;
    }
  }
  return Object.freeze({ onFailure: onFailure ?? DEFAULT_RULES.onFailure, revertScope: revertScope ?? DEFAULT_RULES.revertScope });
}

/** The rules as stored in `meta` (undefined when absent or not a rules record). */
export function storedRules(meta: Readonly<Record<string, unknown>>): FailureRules | undefined {
  const kept = meta[RULES_KEY];
  return isRecord(kept) && isOnFailure(kept.onFailure) && isRevertScope(kept.revertScope) ? (kept as unknown as FailureRules) : undefined;
}


function checkClaim(claim: unknown): void {
  const c = claim as Record<string, unknown>;
  if (!isRecord(claim)) throw fail('claim', 'must be a Claim (from backend.claim())');
  if (typeof c.flowUuid !== 'string' || typeof c.owner !== 'string' || typeof c.host !== 'string') {
    throw fail('claim', 'must be a Claim with string flowUuid, owner and host');
  }
  if (!Number.isSafeInteger(c.token) || (c.token as number) < 0 || !Number.isInteger(c.pid) || typeof c.leaseUntil !== 'number') {
    throw fail('claim', 'must be a Claim with an integer token and pid and a numeric leaseUntil');
  }
}
