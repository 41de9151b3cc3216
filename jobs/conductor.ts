/**
 * A conductor (TaskFlow's conductors): claims jobs it has a factory for, runs each with the
 * job's claim (the engine fences every commit with the claim's token), heartbeats the claims,
 * and marks each job done:
 *
 * | the run                                   | the job                     | event        |
 * |-------------------------------------------|-----------------------------|--------------|
 * | ends SUCCESS, REVERTED or FAILURE          | COMPLETE                    | `completed`  |
 * | ends SUSPENDED, or a StorageFailure        | UNCLAIMED again (abandoned) | `abandoned`  |
 * | factory throws, or the flow cannot run     | TRASHED with the reason     | `trashed`    |
 * | claimed `maxAttempts` times already        | TRASHED at the next claim   | `trashed`    |
 * | heartbeat or a commit finds the claim gone | left alone (another owns it)| `lost`       |
 *
 * Waiting for work: a claim attempt; when there is none, wait for a post (PostgreSQL NOTIFY; a
 * post through the same board) or a poll timer backing off from 50 ms to `pollMs`.
 */
import { hostname } from 'node:os';
import createDebug from 'debug';
import { ClaimLost, InvariantViolation, StorageFailure } from '../lib/errors.js';
import { Emitter, type Listener } from '../lib/events.js';
import type { FlowItem } from '../lib/flow.js';
import type { FlowState } from '../lib/states.js';
import { load } from '../engines/load.js';
import type { Engine } from '../engines/engine.js';
import type { EngineKind, LoadOptions, WorkerOptions } from '../engines/options.js';
import type { ClaimResult, JobClaim, JobEnd } from '../persistence/board-store.js';
import { sleep } from '../persistence/board-store.js';
import { boardInternals, type BoardInternals, type JobBoard } from './board.js';
import type { Job } from './job.js';
import { checkInt, checkKeys, checkName, isRecord } from './validate.js';

const log = createDebug('atomflow:conductor');

export type FlowFactory = (details: Readonly<Record<string, unknown>>) => FlowItem | Promise<FlowItem>;

export interface ConductorOptions {
  /** Job name → flow factory (receives the job's details). Only these names are claimed. */
  flows: Readonly<Record<string, FlowFactory>>;
  /** The engine kind for the runs ('serial' default, 'parallel', 'worker'). */
  engine?: EngineKind;
  /** Engine 'worker': where the workers listen (default from ATOMFLOW_REDIS_URL / ATOMFLOW_WORKER_QUEUE). */
  worker?: WorkerOptions;
  /** Jobs run at once (default 1). */
  concurrency?: number;
  /** Claim lease (default 30,000 ms), renewed every leaseMs / 3. */
  leaseMs?: number;
  /** The owner id claims carry (default `<hostname>:<pid>`). */
  name?: string;
  /** The longest wait between two claim attempts when idle (default 1000 ms; starts at 50 ms). */
  pollMs?: number;
  /** Parallel engine: atoms at once per run. */
  maxWorkers?: number;
  /** A job already claimed this many times is trashed instead (default: the board's, 5). */
  maxAttempts?: number;
  /**
   * The host claims record (default `os.hostname()`): a claim of a dead process on this host is
   * taken over at once, others when their lease runs out. Give each container its own name when
   * several share a hostname but not a process table.
   */
  host?: string;
}

export type ConductorEventKind = 'claimed' | 'completed' | 'abandoned' | 'trashed' | 'lost';

export interface ConductorJobEvent {
  readonly job: Job;
  readonly event: ConductorEventKind;
  /** completed: how the run ended; abandoned: SUSPENDED, or the error's name. */
  readonly state?: FlowState | string;
  /** trashed / abandoned / lost: why. */
  readonly reason?: string;
}

export interface ConductorEvents {
  job: ConductorJobEvent;
}

const MIN_POLL_MS = 50;
/** How often the dead-pid takeover scan may run (ms). */
const TAKEOVER_SCAN_MS = 250;
const KEYS = ['flows', 'engine', 'concurrency', 'leaseMs', 'name', 'pollMs', 'maxWorkers', 'maxAttempts', 'host', 'worker'] as const;

interface Active {
  readonly job: Job;
  readonly claim: JobClaim;
  engine: Engine | undefined;
  /** Aborted to suspend the run (stop({ suspend: true }), a lost claim). */
  readonly suspend: AbortController;
  lost: boolean;
  readonly done: Promise<void>;
}

/** Whether a process of this host is alive (a stopped one is). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export class Conductor {
  readonly name: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly maxAttempts: number;
  readonly #board: BoardInternals;
  readonly #flows: ReadonlyMap<string, FlowFactory>;
  readonly #engine: EngineKind | undefined;
  readonly #worker: WorkerOptions | undefined;
  readonly #maxWorkers: number | undefined;
  readonly #events = new Emitter<ConductorEvents>();
  readonly #host: string;
  readonly #active = new Map<string, Active>();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #suspending = false;
  #wake = new AbortController();
  #heartbeat: NodeJS.Timeout | undefined;
  #lastScan = 0;
  #beating = false;
  #takeover: Array<{ uuid: string; token: number }> = [];

  constructor(board: JobBoard, options: ConductorOptions) {
    const where = 'new Conductor()';
    this.#board = boardInternals(board);
    if (!isRecord(options)) throw new InvariantViolation(`${where}: options must be an object`, { option: 'options' });
    checkKeys(options, KEYS, where);
    const flows = options.flows as unknown;
    if (!isRecord(flows) || Object.keys(flows).length === 0) {
      throw new InvariantViolation(`${where}: 'flows' must map job names to flow factories (at least one)`, { option: 'flows' });
    }
    for (const [k, f] of Object.entries(flows)) {
      if (typeof f !== 'function') throw new InvariantViolation(`${where}: the factory for job '${k}' must be a function`, { option: 'flows' });
    }
    this.#flows = new Map(Object.entries(flows as Record<string, FlowFactory>));
    if (options.engine !== undefined && options.engine !== 'serial' && options.engine !== 'parallel' && options.engine !== 'worker') {
      throw new InvariantViolation(`${where}: 'engine' must be 'serial', 'parallel' or 'worker', not ${JSON.stringify(options.engine)}`, { option: 'engine' });
    }
    this.#engine = options.engine;
    this.#worker = options.worker;
    this.concurrency = checkInt(options.concurrency, 'concurrency', where, 1, 1);
    this.leaseMs = checkInt(options.leaseMs, 'leaseMs', where, 30, 30_000);
    this.pollMs = checkInt(options.pollMs, 'pollMs', where, 1, 1000);
    this.#maxWorkers = options.maxWorkers === undefined ? undefined : checkInt(options.maxWorkers, 'maxWorkers', where, 1, 8);
    this.#host = options.host === undefined ? hostname() : checkName(options.host, 'host', where);
    this.maxAttempts = checkInt(options.maxAttempts, 'maxAttempts', where, 1, board.maxAttempts);
    this.name = options.name === undefined ? `${this.#host}:${process.pid}` : checkName(options.name, 'name', where);
  }

  on<K extends keyof ConductorEvents>(event: K, listener: Listener<ConductorEvents[K]>): () => void {
    if (event !== 'job') throw new InvariantViolation(`unknown conductor event '${String(event)}' (job)`, { option: 'event' });
    return this.#events.on(event, listener);
  }

  /** Jobs this conductor is running now. */
  get running(): number {
    return this.#active.size;
  }

  /** Starts claiming in the background (until `stop()`); resolves once running. */
  async start(): Promise<void> {
    if (this.#loop !== undefined) throw new InvariantViolation(`conductor '${this.name}' is already started`, { option: 'start' });
    this.#stopping = false;
    this.#suspending = false;
    this.#wake = new AbortController();
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(10, Math.floor(this.leaseMs / 3)));
    this.#loop = this.#claimLoop();
    log('%s started (%s)', this.name, [...this.#flows.keys()].join(', '));
  }

  /**
   * Stops claiming. Runs in progress finish (`{ suspend: true }`: they are suspended — in-flight
   * atoms finish, nothing new starts — and their jobs abandoned for another conductor).
   */
  async stop(options: { suspend?: boolean } = {}): Promise<void> {
    if (!isRecord(options)) throw new InvariantViolation('conductor.stop() options must be an object', { option: 'options' });
    checkKeys(options, ['suspend'], 'conductor.stop()');
    this.#stopping = true;
    this.#wake.abort();
    if (options.suspend === true) {
      this.#suspending = true;
      for (const a of this.#active.values()) a.suspend.abort();
    }
    await this.#loop;
    await Promise.all([...this.#active.values()].map((a) => a.done));
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#loop = undefined;
    log('%s stopped', this.name);
  }

  // ---- claiming --------------------------------------------------------------------------

  async #claimLoop(): Promise<void> {
    let idle = MIN_POLL_MS;
    while (!this.#stopping) {
      if (this.#active.size >= this.concurrency) {
        await this.#nap(60_000);
        continue;
      }
      let r: ClaimResult;
      try {
        r = await this.#claimOne();
      } catch (e) {
        log('%s: claim failed: %O', this.name, e);
        await this.#nap(idle);
        idle = Math.min(idle * 2, this.pollMs);
        continue;
      }
      if (r.kind === 'none') {
        await this.#board.store.waitForPost(idle, this.#wake.signal);
        this.#renewWake();
        idle = Math.min(idle * 2, this.pollMs);
        continue;
      }
      idle = MIN_POLL_MS;
      const job = this.#board.job(r.job);
      if (r.kind === 'trashed') {
        this.#emit(job, 'trashed', { reason: r.job.reason ?? '' });
        continue;
      }
      this.#launch(job, r.claim);
    }
  }

  async #claimOne(): Promise<ClaimResult> {
    const now = Date.now();
    if (now - this.#lastScan >= TAKEOVER_SCAN_MS) {
      this.#lastScan = now;
      const held = await this.#board.store.claimedOn(this.#host);
      this.#takeover = held.filter((h) => h.pid !== null && h.pid !== process.pid && !alive(h.pid)).map((h) => ({ uuid: h.uuid, token: h.token }));
    }
    const r = await this.#board.store.claim({
      names: [...this.#flows.keys()],
      owner: this.name,
      host: this.#host,
      pid: process.pid,
      leaseMs: this.leaseMs,
      maxAttempts: this.maxAttempts,
      takeover: this.#takeover,
    });
    if (r.kind !== 'none' && this.#takeover.length > 0) this.#takeover = this.#takeover.filter((t) => t.uuid !== r.job.uuid);
    return r;
  }

  /** Waits for a run to end, a stop, or `ms`. */
  async #nap(ms: number): Promise<void> {
    await sleep(ms, this.#wake.signal);
    this.#renewWake();
  }

  #renewWake(): void {
    if (this.#wake.signal.aborted && !this.#stopping) this.#wake = new AbortController();
  }

  // ---- running ---------------------------------------------------------------------------

  #launch(job: Job, claim: JobClaim): void {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const active: Active = { job, claim, engine: undefined, suspend: new AbortController(), lost: false, done };
    if (this.#suspending) active.suspend.abort();
    this.#active.set(job.uuid, active);
    this.#emit(job, 'claimed');
    this.#run(active)
      .catch((e: unknown) => log('%s: job %s: %O', this.name, job.uuid, e))
      .finally(() => {
        this.#active.delete(job.uuid);
        resolveDone();
        this.#wake.abort();
      });
  }

  async #run(a: Active): Promise<void> {
    const { job, claim } = a;
    let flow: FlowItem;
    try {
      flow = await this.#flows.get(job.name)!(job.details);
    } catch (e) {
      await this.#finish(a, { kind: 'trash', reason: `the factory for '${job.name}' threw: ${describe(e)}` });
      return;
    }
    let error: unknown;
    let ran = false;
    try {
      const options: LoadOptions = {
        backend: this.#board.store.backend,
        flowDetail: job.flowUuid,
        claim,
        leaseMs: this.leaseMs,
        ...(this.#engine !== undefined ? { engine: this.#engine } : {}),
        ...(this.#maxWorkers !== undefined ? { maxWorkers: this.#maxWorkers } : {}),
        ...(this.#worker !== undefined ? { worker: this.#worker } : {}),
      };
      a.engine = load(flow, options);
      ran = true;
      await a.engine.run({ signal: a.suspend.signal });
    } catch (e) {
      error = e;
    }
    if (error instanceof ClaimLost || a.lost) {
      if (!a.lost) this.#lose(a, describe(error));
      return;
    }
    if (error instanceof StorageFailure) {
      await this.#finish(a, { kind: 'abandon', reason: describe(error) }, error.name);
      return;
    }
    const state = ran ? flowState(a.engine!) : undefined;
    switch (state) {
      case 'SUCCESS': {
        const value = a.engine!.storage.fetchAll();
        await this.#finish(a, { kind: 'complete', outcome: 'SUCCESS', resultText: JSON.stringify(value) }, state, { ok: true, value });
        return;
      }
      case 'REVERTED':
      case 'FAILURE':
        await this.#finish(a, { kind: 'complete', outcome: state, resultText: null }, state, { ok: false, error });
        return;
      case 'SUSPENDED':
        if (error === undefined) {
          await this.#finish(a, { kind: 'abandon', reason: 'suspended' }, state);
          return;
        }
        break;
      default:
        break;
    }
    // The flow could not run at all (bad definition, missing arguments, a changed flow...).
    await this.#finish(a, { kind: 'trash', reason: `the run of '${job.name}' could not proceed: ${describe(error)}` });
  }

  async #finish(a: Active, end: JobEnd, state?: string, outcome?: Parameters<BoardInternals['settle']>[1]): Promise<void> {
    let ok: boolean;
    try {
      ok = await this.#board.store.finish(a.job.uuid, a.claim.token, end);
    } catch (e) {
      // The claim stays until its lease runs out; another conductor then takes the job over.
      log('%s: could not mark job %s (%s): %O', this.name, a.job.uuid, end.kind, e);
      return;
    }
    if (!ok) {
      this.#lose(a, 'the job was claimed by another conductor before it could be marked');
      return;
    }
    if (outcome !== undefined) this.#board.settle(a.job.uuid, outcome);
    const event = end.kind === 'complete' ? 'completed' : end.kind === 'abandon' ? 'abandoned' : 'trashed';
    a.job.lastState = end.kind === 'complete' ? 'COMPLETE' : end.kind === 'abandon' ? 'UNCLAIMED' : 'TRASHED';
    if (end.kind !== 'complete') a.job.reason = end.reason;
    this.#emit(a.job, event, {
      ...(state !== undefined ? { state } : {}),
      ...(end.kind !== 'complete' && end.reason !== null ? { reason: end.reason } : {}),
    });
  }

  #lose(a: Active, reason: string): void {
    if (a.lost) return;
    a.lost = true;
    a.suspend.abort();
    this.#emit(a.job, 'lost', { reason });
  }

  /** Renews every active claim; a claim found gone suspends its run (`lost`). */
  async #beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      await this.#beatAll();
    } finally {
      this.#beating = false;
    }
  }

  async #beatAll(): Promise<void> {
    for (const a of [...this.#active.values()]) {
      if (a.lost) continue;
      try {
        const until = await this.#board.store.heartbeat(a.job.uuid, a.claim.token, this.leaseMs);
        if (until === undefined) this.#lose(a, 'the heartbeat found the claim taken over');
        else a.job.leaseUntil = until;
      } catch (e) {
        log('%s: heartbeat of job %s failed (retried at the next beat): %O', this.name, a.job.uuid, e);
      }
    }
  }

  #emit(job: Job, event: ConductorEventKind, extra: { state?: string; reason?: string } = {}): void {
    log('%s: job %s %s %s', this.name, job.uuid, event, extra.state ?? extra.reason ?? '');
    this.#events.emit('job', Object.freeze({ job, event, ...extra }));
  }
}

function flowState(engine: Engine): FlowState | undefined {
  try {
    return engine.storage.getFlowState() ?? undefined;
  } catch {
    return undefined;
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
