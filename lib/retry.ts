/**
 * Retry controllers: atoms that govern a subflow. A retry runs first in its flow on every attempt
 * (its `execute` value is provided to the subflow), and when an atom it governs fails it answers
 * RETRY, REVERT or REVERT_ALL from the history of attempts (TaskFlow's `retry.py`).
 */
import { describeValue } from './describe.js';
import { Atom, type AtomContext, type AtomOptions, type RevertContext } from './atom.js';
import { InvariantViolation, NotFound } from './errors.js';
import { Failure, type ErrorMatcher } from './failure.js';
import { Decision } from './states.js';

/** One attempt: the value the retry provided and the failures of that attempt by atom name. */
export interface Attempt<V = unknown> {
  readonly value: V;
  readonly failures: Readonly<Record<string, Failure>>;
}

/** An immutable list of attempts, oldest first. */
export class History<V = unknown> implements Iterable<Attempt<V>> {
  readonly #attempts: readonly Attempt<V>[];
  /** The retry's own failure (its `execute` threw), if any. */
  readonly failure: Failure | undefined;

  constructor(attempts: readonly Attempt<V>[] = [], failure?: Failure) {
    this.#attempts = Object.freeze(attempts.map((a) => Object.freeze({ value: a.value, failures: Object.freeze({ ...a.failures }) })));
    this.failure = failure;
    Object.freeze(this);
  }

  get length(): number {
    return this.#attempts.length;
  }
  at(index: number): Attempt<V> | undefined {
    return this.#attempts.at(index);
  }
  [Symbol.iterator](): Iterator<Attempt<V>> {
    return this.#attempts[Symbol.iterator]();
  }
  /** The values provided, oldest first. */
  values(): V[] {
    return this.#attempts.map((a) => a.value);
  }
  /** `[atomName, Failure]` pairs of one attempt (or of all). */
  outcomes(index?: number): Array<[string, Failure]> {
    const pick = index === undefined ? this.#attempts : [this.#attempts.at(index)].filter((a): a is Attempt<V> => a !== undefined);
    return pick.flatMap((a) => Object.entries(a.failures));
  }
  /** Whether any recorded failure (and, with `includeRetry`, the retry's own) matches. */
  causedBy(matcher: ErrorMatcher, options: { index?: number; includeRetry?: boolean } = {}): boolean {
    if (options.includeRetry && this.failure?.check(matcher) !== undefined) return true;
    return this.outcomes(options.index).some(([, f]) => f.check(matcher) !== undefined);
  }
  toJSON(): Array<{ value: V; failures: Record<string, ReturnType<Failure['toJSON']>> }> {
    return this.#attempts.map((a) => ({
      value: a.value,
      failures: Object.fromEntries(Object.entries(a.failures).map(([k, f]) => [k, f.toJSON()])),
    }));
  }
}

export interface BackoffOptions {
  readonly kind: 'fixed' | 'exponential';
  /** The first delay (fixed: every delay). */
  readonly delayMs: number;
  /** Upper bound for exponential delays. */
  readonly maxDelayMs?: number;
  /** Spread each delay uniformly over [delay * (1 - jitter), delay]; 0..1. */
  readonly jitter?: number;
}

export type RetryOptions = AtomOptions;

export abstract class Retry<A = any, V = unknown> extends Atom {
  readonly kind = 'retry' as const;
  static requires: readonly string[] | undefined;
  static optional: readonly string[] | undefined;
  static provides: string | readonly string[] | undefined;
  /** Delay policy between attempts (none by default). */
  readonly backoff: Readonly<BackoffOptions> | undefined;

  constructor(options: RetryOptions & { backoff?: BackoffOptions } = {}, extraOptionKeys: readonly string[] = []) {
    const { backoff, ...rest } = optionsOf<RetryOptions & { backoff?: BackoffOptions }>('retry', options);
    super(rest, undefined, extraOptionKeys);
    this.backoff = backoff === undefined ? undefined : validateBackoff(this.hasName ? this.name : '(retry)', backoff);
  }

  /** Runs first in the subflow on every attempt; the value is provided to the subflow. */
  abstract execute(history: History<V>, args: A, ctx: AtomContext): V | Promise<V>;
  /** Called when the subflow gives up (the default does nothing). */
  revert(_history: History<V>, _args: A, _ctx: AtomContext): unknown {
    return undefined;
  }
  /** Decides what happens when an atom this retry governs fails. */
  abstract onFailure(history: History<V>, args: A): Decision;

  /** `invoke()` runs a retry's execute/revert with an empty history. */
  protected override perform(action: 'execute' | 'revert', args: Record<string, unknown>, ctx: RevertContext): unknown {
    const history = new History<V>();
    return action === 'execute' ? this.execute(history, args as A, ctx) : this.revert(history, args as A, ctx);
  }

  /**
   * The delay before attempt `attempt + 1` (1-based number of attempts made so far), in ms.
   * `random` is injected so tests are deterministic.
   */
  delayBefore(attempt: number, random: () => number = Math.random): number {
    const b = this.backoff;
    if (b === undefined) return 0;
    let delay = b.kind === 'fixed' ? b.delayMs : b.delayMs * 2 ** Math.max(0, attempt - 1);
    // Capped at what one timer can wait (longer would overflow setTimeout and fire at once).
    delay = Math.min(delay, b.maxDelayMs ?? MAX_BACKOFF_MS);
    if (b.jitter) delay -= delay * b.jitter * random();
    return Math.max(0, Math.round(delay));
  }
}

/** The longest backoff (ms): setTimeout's maximum, 2^31 - 1 (about 24.8 days). */
export const MAX_BACKOFF_MS = 2 ** 31 - 1;

/** The options object of a retry constructor: absent or an object (null and others refused). */
function optionsOf<T extends object>(kind: string, options: unknown): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvariantViolation(`${kind} options must be an object, not ${describeValue(options)}`, { option: 'options' });
  }
  return options as T;
}

function validateBackoff(subject: string, b: unknown): Readonly<BackoffOptions> {
  const fail = (what: string) => new InvariantViolation(`retry '${subject}': option 'backoff' ${what}`, { subject, option: 'backoff' });
  if (typeof b !== 'object' || b === null) throw fail('must be an object { kind, delayMs, maxDelayMs?, jitter? }');
  const o = b as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['kind', 'delayMs', 'maxDelayMs', 'jitter'].includes(k)) throw fail(`has an unknown key '${k}'`);
  if (o.kind !== 'fixed' && o.kind !== 'exponential') throw fail(`kind must be 'fixed' or 'exponential', not ${describeValue(o.kind)}`);
  const isMs = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_BACKOFF_MS;
  if (!isMs(o.delayMs)) throw fail(`delayMs must be a number of ms within [0, ${MAX_BACKOFF_MS}] (about 24.8 days), not ${describeValue(o.delayMs)}`);
  if (o.maxDelayMs !== undefined && (!isMs(o.maxDelayMs) || (o.maxDelayMs as number) < (o.delayMs as number))) {
    throw fail(`maxDelayMs must be a number of ms within [delayMs, ${MAX_BACKOFF_MS}], not ${describeValue(o.maxDelayMs)}`);
  }
  if (o.jitter !== undefined && (typeof o.jitter !== 'number' || !(o.jitter >= 0 && o.jitter <= 1))) throw fail('jitter must be within [0, 1]');
  return Object.freeze({ ...(o as unknown as BackoffOptions) });
}

function decideWhenExhausted(revertAll: boolean): Decision {
  return revertAll ? Decision.REVERT_ALL : Decision.REVERT;
}

function checkRevertAll(r: Retry, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new InvariantViolation(`retry '${r.hasName ? r.name : '(retry)'}': option 'revertAll' must be a boolean`, { option: 'revertAll' });
  return v;
}

export interface TimesOptions extends RetryOptions {
  /** Total number of runs of the subflow (0 behaves as 1). */
  attempts?: number;
  revertAll?: boolean;
  backoff?: BackoffOptions;
}

/** Runs the subflow up to `attempts` times in all; provides the 1-based attempt number. */
export class Times extends Retry<Record<string, unknown>, number> {
  readonly attempts: number;
  readonly revertAll: boolean;
  constructor(options: TimesOptions = {}) {
    const { attempts, revertAll, ...rest } = optionsOf<TimesOptions>('Times', options);
    super(rest);
    const n = attempts ?? 1;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
      throw new InvariantViolation(`retry '${this.hasName ? this.name : '(retry)'}': option 'attempts' must be an integer >= 0`, { option: 'attempts' });
    }
    this.attempts = n;
    this.revertAll = checkRevertAll(this, revertAll);
  }
  execute(history: History<number>): number {
    return history.length + 1;
  }
  onFailure(history: History<number>): Decision {
    return history.length < this.attempts ? Decision.RETRY : decideWhenExhausted(this.revertAll);
  }
}

/** The next value of `values` not used yet by the history (duplicates count separately). */
function nextUnused<V>(retryName: string, values: readonly V[], history: History<V>): V {
  const used = history.values();
  for (const v of values) {
    const i = used.findIndex((u) => Object.is(u, v) || sameJson(u, v));
    if (i >= 0) used.splice(i, 1);
    else return v;
  }
  throw new NotFound(`no elements left in the values of retry controller '${retryName}' (${values.length} tried)`, retryName);
}

/** Whether two values have the same JSON text (values JSON cannot hold are never equal this way). */
function sameJson(a: unknown, b: unknown): boolean {
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

function remaining<V>(values: readonly V[], history: History<V>): number {
  return Math.max(0, values.length - history.length);
}

export interface ForEachOptions<V> extends RetryOptions {
  values: Iterable<V>;
  revertAll?: boolean;
  backoff?: BackoffOptions;
}

/** Tries the subflow once per value, in order; provides the current value. */
export class ForEach<V = unknown> extends Retry<Record<string, unknown>, V> {
  readonly values: readonly V[];
  readonly revertAll: boolean;
  constructor(options: ForEachOptions<V>) {
    const { values, revertAll, ...rest } = optionsOf<ForEachOptions<V>>('ForEach', options);
    super(rest);
    if (values === undefined || values === null || typeof (values as Iterable<V>)[Symbol.iterator] !== 'function' || typeof values === 'string') {
      throw new InvariantViolation(`retry '${this.hasName ? this.name : '(retry)'}': option 'values' must be an iterable of values`, { option: 'values' });
    }
    this.values = Object.freeze([...values]);
    this.revertAll = checkRevertAll(this, revertAll);
  }
  execute(history: History<V>): V {
    return nextUnused(this.name, this.values, history);
  }
  onFailure(history: History<V>): Decision {
    return remaining(this.values, history) > 0 ? Decision.RETRY : decideWhenExhausted(this.revertAll);
  }
}

export interface ParameterizedForEachOptions extends RetryOptions {
  revertAll?: boolean;
  backoff?: BackoffOptions;
}

/** Like `ForEach`, with the values taken from its `values` requirement (rebindable). */
export class ParameterizedForEach<V = unknown> extends Retry<{ values: Iterable<V> }, V> {
  static override requires = ['values'];
  readonly revertAll: boolean;
  constructor(options: ParameterizedForEachOptions = {}) {
    const { revertAll, ...rest } = optionsOf<ParameterizedForEachOptions>('ParameterizedForEach', options);
    super(rest);
    this.revertAll = checkRevertAll(this, revertAll);
  }
  #list(values: unknown): V[] {
    if (values === null || values === undefined || typeof (values as Iterable<V>)[Symbol.iterator] !== 'function') {
      throw new InvariantViolation(`retry '${this.name}': its 'values' argument must be iterable, got ${describeValue(values)}`, {
        subject: this.name,
      });
    }
    return [...(values as Iterable<V>)];
  }
  execute(history: History<V>, args: { values: Iterable<V> }): V {
    return nextUnused(this.name, this.#list(args.values), history);
  }
  onFailure(history: History<V>, args: { values: Iterable<V> }): Decision {
    return remaining(this.#list(args.values), history) > 0 ? Decision.RETRY : decideWhenExhausted(this.revertAll);
  }
}

/** Always reverts its subflow (and lets the parent decide). */
export class AlwaysRevert extends Retry {
  execute(): undefined {
    return undefined;
  }
  onFailure(): Decision {
    return Decision.REVERT;
  }
}

/** Always reverts the whole run. */
export class AlwaysRevertAll extends Retry {
  execute(): undefined {
    return undefined;
  }
  onFailure(): Decision {
    return Decision.REVERT_ALL;
  }
}
