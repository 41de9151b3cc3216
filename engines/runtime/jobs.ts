/**
 * What the machine hands an executor: one job per execute/revert, carrying the atom, its
 * arguments and its context. Plain classes with fixed fields (no closures per job), since one of
 * each is made for every atom a run executes.
 */
import type { Atom, AtomContext, RevertContext } from '../../lib/atom.js';
import { Failure, type FailureData } from '../../lib/failure.js';
import { Retry, type History } from '../../lib/retry.js';
import type { Task } from '../../lib/task.js';
import { describeValue } from '../../lib/describe.js';
import { InvariantViolation } from '../../lib/errors.js';
import { storable } from '../../persistence/codec.js';
import type { AtomDetail } from '../../persistence/models.js';
import type { Completion, Job, JobDescription } from '../executors/executor.js';
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
 * Calls the atom's `execute` or `revert` (a retry also gets its history first). One object per
 * start serves as the job, as its entry in the step's queue (with the events of the start and the
 * record to restore if it is called off) and, once settled, as its completion.
 */
export class AtomJob implements Job, StartEntry, Completion {
  readonly kind = 'start' as const;
  readonly atom: number;
  readonly action: 'execute' | 'revert';
  readonly #target: Atom;
  readonly #args: Record<string, unknown>;
  readonly #ctx: ExecuteContext;
  readonly #history: History | undefined;
  prev: AtomDetail;
  events: readonly EventEntry[] = NO_EVENTS;
  ok = false;
  value: unknown = undefined;

  constructor(atom: number, action: 'execute' | 'revert', target: Atom, args: Record<string, unknown>, ctx: ExecuteContext, history: History | undefined, prev: AtomDetail) {
    this.atom = atom;
    this.action = action;
    this.#target = target;
    this.#args = args;
    this.#ctx = ctx;
    this.#history = history;
    this.prev = prev;
  }

  get job(): Job {
    return this;
  }

  run(): unknown {
    const t = this.#target;
    if (t instanceof Retry) {
      return this.action === 'execute' ? t.execute(this.#history!, this.#args, this.#ctx) : t.revert(this.#history!, this.#args, this.#ctx);
    }
    const task = t as Task;
    return this.action === 'execute' ? task.execute(this.#args, this.#ctx) : task.revert(this.#args, this.#ctx as RevertingContext);
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
