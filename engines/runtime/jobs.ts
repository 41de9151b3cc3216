/**
 * What the machine hands an executor: one job per execute/revert, carrying the atom, its
 * arguments and its context. Plain classes with fixed fields (no closures per job), since one of
 * each is made for every atom a run executes.
 */
import type { Atom, AtomContext, RevertContext } from '../../lib/atom.js';
import { AtomTimeout } from '../../lib/errors.js';
import { Failure, type FailureData } from '../../lib/failure.js';
import { Retry, type History } from '../../lib/retry.js';
import type { Task } from '../../lib/task.js';
import { describeValue } from '../../lib/describe.js';
import { InvariantViolation } from '../../lib/errors.js';
import { storable } from '../../persistence/codec.js';
import type { AtomDetail } from '../../persistence/models.js';
import { HOST, PID, THREAD_ID, isThenable, type Completion, type Job, type JobDescription } from '../executors/executor.js';
import type { Clock } from './clock.js';
import type { EventEntry, StartEntry } from './runtime.js';

/** Where `ctx.progress(...)` reports go: the machine, keyed by atom index. */
export type ProgressSink = (atom: number, fraction: number, details: Readonly<Record<string, unknown>> | undefined) => void;

type ProgressFn = AtomContext['progress'];

/** The context an atom's `execute` gets. `progress` is made on first use (most atoms never report). */
export class ExecuteContext implements AtomContext {
  readonly name: string;
  readonly signal: AbortSignal;
  readonly flowUuid: string;
  readonly #atom: number;
  readonly #sink: ProgressSink;
  /** The atom's record when the job was made (its uuid and attempt). */
  readonly #detail: AtomDetail;
  #progress: ProgressFn | undefined;

  constructor(name: string, signal: AbortSignal, atom: number, sink: ProgressSink, flowUuid: string, detail: AtomDetail) {
    this.name = name;
    this.signal = signal;
    this.flowUuid = flowUuid;
    this.#atom = atom;
    this.#sink = sink;
    this.#detail = detail;
  }

  get atomUuid(): string {
    return this.#detail.uuid;
  }

  get attempt(): number {
    const a = this.#detail.meta.attempt;
    return typeof a === 'number' ? a : 1;
  }

  get idempotencyKey(): string {
    return `${this.#detail.uuid}:${this.attempt}`;
  }

  /** A function (it may be destructured: `execute(args, { progress })`). */
  get progress(): ProgressFn {
    return (this.#progress ??= (fraction: number, details?: Readonly<Record<string, unknown>>) => this.#sink(this.#atom, fraction, progressDetails(this.name, details)));
  }
}

/** The context a `revert` gets: the execute result (or failure) and the run's failures so far. */
export class RevertingContext extends ExecuteContext implements RevertContext {
  readonly result: unknown;
  readonly flowFailures: Readonly<Record<string, Failure>>;

  constructor(
    name: string,
    signal: AbortSignal,
    atom: number,
    sink: ProgressSink,
    flowUuid: string,
    detail: AtomDetail,
    result: unknown,
    flowFailures: Readonly<Record<string, Failure>>,
  ) {
    super(name, signal, atom, sink, flowUuid, detail);
    this.result = result;
    this.flowFailures = flowFailures;
  }
}

/**
 * The timeout of one job (made only for atoms that have one: none otherwise, so no cost). Its
 * controller is the signal the atom sees; the run's signal aborts it too (for an execute). The
 * timer is armed when the atom's own call starts (in process: at once; on a thread: when the
 * thread calls it, so a pool's queue, thread start and module import do not count) and cleared
 * when the job settles. It is not unref'd: while the run waits for the atom, the timer is what
 * ends the wait; unref'd, a process whose hung atom holds nothing else open would exit with the
 * run unfinished instead of failing the atom.
 */
export class Deadline {
  readonly ms: number;
  readonly controller = new AbortController();
  readonly #clock: Clock;
  readonly #unlink: (() => void) | undefined;
  #cancel: (() => void) | undefined;
  #expire: (() => void) | undefined;

  constructor(ms: number, clock: Clock, runSignal: AbortSignal | undefined) {
    this.ms = ms;
    this.#clock = clock;
    if (runSignal !== undefined) {
      const controller = this.controller;
      if (runSignal.aborted) controller.abort(runSignal.reason);
      else {
        const onAbort = (): void => controller.abort(runSignal.reason);
        runSignal.addEventListener('abort', onAbort, { once: true });
        this.#unlink = () => runSignal.removeEventListener('abort', onAbort);
      }
    }
  }

  /**
   * `pending`, unless the timeout passes first: then AtomTimeout (and the atom's signal aborts); a
   * later outcome is ignored. The timer starts now, or (`armNow` false) at `arm()`.
   */
  race(pending: PromiseLike<unknown>, atom: string, action: 'execute' | 'revert', armNow = true): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let done = false;
      this.#expire = () => {
        if (done) return;
        done = true;
        const error = new AtomTimeout(atom, this.ms, action);
        reject(error);
        this.controller.abort(error);
      };
      if (armNow) this.arm();
      pending.then(
        (v) => {
          if (done) return;
          done = true;
          this.#cancel?.();
          resolve(v);
        },
        (e: unknown) => {
          if (done) return;
          done = true;
          this.#cancel?.();
          reject(e);
        },
      );
    });
  }

  /** Starts the timer (once). */
  arm(): void {
    const expire = this.#expire;
    if (expire === undefined || this.#cancel !== undefined) return;
    this.#cancel = this.#clock.setTimer(this.ms, expire);
  }

  /** Clears the timer and the link to the run's signal (the job has settled). */
  dispose(): void {
    this.#cancel?.();
    this.#unlink?.();
  }
}

/**
 * Calls the atom's `execute` or `revert` (a retry also gets its history first). One object per
 * start serves as the job, as its entry in the step's queue (with the events of the start and the
 * record to restore if it is called off) and, once settled, as its completion. It also carries the
 * execution stamps its executor fills in (all fields set in the constructor: one shape).
 */
export class AtomJob implements Job, StartEntry, Completion {
  readonly kind = 'start' as const;
  readonly atom: number;
  readonly action: 'execute' | 'revert';
  readonly #target: Atom;
  readonly #args: Record<string, unknown>;
  readonly #ctx: ExecuteContext;
  readonly #history: History | undefined;
  readonly #deadline: Deadline | undefined;
  prev: AtomDetail;
  events: readonly EventEntry[] = NO_EVENTS;
  ok = false;
  value: unknown = undefined;
  hostname = HOST;
  pid = PID;
  threadId = THREAD_ID;
  readonly submittedAt: number;
  readonly parents: readonly string[];
  startedAt: number | null = null;
  argsStartedAt: number | null = null;
  argsEndedAt: number | null = null;
  taskStartedAt: number | null = null;
  taskEndedAt: number | null = null;
  resultStartedAt: number | null = null;
  resultEndedAt: number | null = null;
  endedAt: number | null = null;

  constructor(
    atom: number,
    action: 'execute' | 'revert',
    target: Atom,
    args: Record<string, unknown>,
    ctx: ExecuteContext,
    history: History | undefined,
    prev: AtomDetail,
    submittedAt: number,
    parents: readonly string[],
    deadline: Deadline | undefined,
  ) {
    this.atom = atom;
    this.action = action;
    this.#target = target;
    this.#args = args;
    this.#ctx = ctx;
    this.#history = history;
    this.prev = prev;
    this.submittedAt = submittedAt;
    this.parents = parents;
    this.#deadline = deadline;
  }

  get job(): Job {
    return this;
  }

  /** The atom, its arguments and its context (for executors that run it elsewhere). */
  get target(): Atom {
    return this.#target;
  }
  get args(): Record<string, unknown> {
    return this.#args;
  }
  get context(): ExecuteContext {
    return this.#ctx;
  }

  run(): unknown {
    const t = this.#target;
    let v: unknown;
    if (t instanceof Retry) {
      v = this.action === 'execute' ? t.execute(this.#history!, this.#args, this.#ctx) : t.revert(this.#history!, this.#args, this.#ctx);
    } else {
      const task = t as Task;
      v = this.action === 'execute' ? task.execute(this.#args, this.#ctx) : task.revert(this.#args, this.#ctx as RevertingContext);
    }
    // A synchronous atom cannot be timed out (it holds the thread until it returns).
    return this.#deadline !== undefined && isThenable(v) ? this.#deadline.race(v, this.#ctx.name, this.action) : v;
  }

  /**
   * `pending` (the outcome of this job run elsewhere) raced against the job's timeout, if it has
   * one; its timer starts at `calling()`.
   */
  guard(pending: PromiseLike<unknown>): PromiseLike<unknown> {
    return this.#deadline === undefined ? pending : this.#deadline.race(pending, this.#ctx.name, this.action, false);
  }

  /** The atom's own call has started where the job runs (its timeout starts now). */
  calling(): void {
    this.#deadline?.arm();
  }

  /**
   * A returned value is stored: what JSON cannot hold fails the atom (an `UnstorableValue` naming
   * the path), and what is kept is a frozen plain copy, so later changes to the atom's object (or
   * by whoever receives it) cannot make the live run differ from the stored one.
   */
  settle(ok: boolean, value: unknown): Completion {
    // Strings, booleans, null, undefined and finite numbers (not -0) are stored as they are: no call.
    if (ok && value !== undefined && value !== null && !plain(value)) {
      try {
        value = storable(value, this.action === 'execute' ? 'result' : 'revert result', { atom: this.prev.name });
      } catch (e) {
        ok = false;
        value = e;
      }
    }
    this.ok = ok;
    this.value = value;
    this.#deadline?.dispose();
    return this;
  }

  progress(fraction: number, details?: Readonly<Record<string, unknown>>): void {
    this.#ctx.progress(fraction, details);
  }

  describe(): JobDescription {
    const t = this.#target;
    const ctx = this.#ctx;
    const params = (t as { workerParams?: () => unknown }).workerParams?.();
    const out: Record<string, unknown> = {
      format: 1,
      kind: t.kind,
      atomName: ctx.name,
      className: t.constructor.name,
      version: t.version,
      action: this.action,
      state: this.prev.state,
      args: this.#args,
      flowUuid: ctx.flowUuid,
      atomUuid: ctx.atomUuid,
      attempt: ctx.attempt,
      idempotencyKey: ctx.idempotencyKey,
      redeliver: t.redeliver,
    };
    if (params !== undefined) out.params = params;
    if (ctx instanceof RevertingContext) {
      const r = ctx.result;
      if (r instanceof Failure) out.resultFailure = r.toJSON();
      else if (r !== undefined) out.result = r;
      const ff: Record<string, FailureData> = {};
      for (const [name, f] of Object.entries(ctx.flowFailures)) ff[name] = f.toJSON();
      out.flowFailures = ff;
    }
    return out as unknown as JobDescription;
  }
}

const NO_EVENTS: readonly EventEntry[] = Object.freeze([]);

function plain(value: unknown): boolean {
  const t = typeof value;
  return t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value) && !Object.is(value, -0));
}

/** Progress details are stored with the atom: an object of JSON data, else the `progress()` call throws. */
function progressDetails(atom: string, details: unknown): Readonly<Record<string, unknown>> | undefined {
  if (details === undefined) return undefined;
  if (typeof details !== 'object' || details === null || Array.isArray(details)) {
    throw new InvariantViolation(`atom '${atom}': progress details must be an object, not ${describeValue(details)}`, { subject: atom, option: 'details' });
  }
  return storable(details, 'progress.details', { atom }) as Readonly<Record<string, unknown>>;
}
