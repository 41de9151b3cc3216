/**
 * The atom: the smallest unit an engine runs (a task or a retry controller). This module owns the
 * argument mapping (requires / optional / rebind / inject, for execute and for revert) and the
 * result mapping (provides), validated once at construction.
 */
import { describeValue } from './describe.js';
import { InvariantViolation } from './errors.js';
import type { Failure } from './failure.js';
import type { AtomKind } from './states.js';

/** One argument of `execute`/`revert`: the name the function sees and the stored name it reads. */
export interface ArgBinding {
  readonly arg: string;
  readonly stored: string;
  readonly optional: boolean;
}

/** How a result is published: whole under one name, or element-wise (array index / object key). */
export type ProvidesSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'whole'; readonly name: string }
  | { readonly kind: 'each'; readonly names: readonly string[] };

export interface AtomOptions {
  name?: string;
  provides?: string | readonly string[];
  requires?: readonly string[];
  optional?: readonly string[];
  rebind?: readonly string[] | Readonly<Record<string, string>>;
  inject?: Readonly<Record<string, unknown>>;
  priority?: number;
  revertRequires?: readonly string[];
  revertRebind?: readonly string[] | Readonly<Record<string, string>>;
  version?: string | number;
  /**
   * Engine 'worker': what happens when the worker running this atom dies mid-way. 'once' (default,
   * for idempotent atoms): it is delivered again once, then fails with `WorkerLost`; 'never'
   * (at most once): it fails with `WorkerLost` at once, and the retry/revert rules apply.
   */
  redeliver?: Redeliver;
}

/** Engine 'worker': how often an atom whose worker died is delivered again. */
export type Redeliver = 'once' | 'never';

export interface AtomContext {
  /** The atom's name. */
  readonly name: string;
  /** Aborted when the run's signal aborts (never during a revert: reverts are shielded). */
  readonly signal: AbortSignal;
  /** Report progress in [0, 1] (clamped); `details` are stored with it. */
  progress(fraction: number, details?: Readonly<Record<string, unknown>>): void;
  /** The run's flow detail id. */
  readonly flowUuid: string;
  /** This atom's detail id in the run (stable across crashes and resumes). */
  readonly atomUuid: string;
  /**
   * 1 on the first run of the atom in this flow detail; one more each time it is run again after
   * an enclosing retry, a halted failure, `engine.reset()` or re-running a REVERTED run. A resume
   * after a crash continues the same attempt.
   */
  readonly attempt: number;
  /**
   * `${atomUuid}:${attempt}`: the same across crashes and resumes of one attempt, different for
   * every attempt. Pass it to payment gateways and other services that deduplicate requests.
   */
  readonly idempotencyKey: string;
}

export interface RevertContext<R = unknown> extends AtomContext {
  /** What `execute` returned, or its `Failure` if it threw (undefined if it never finished). */
  readonly result: R | Failure | undefined;
  /** Every execute failure recorded in this run so far, by atom name. */
  readonly flowFailures: Readonly<Record<string, Failure>>;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'name',
  'provides',
  'requires',
  'optional',
  'rebind',
  'inject',
  'priority',
  'revertRequires',
  'revertRebind',
  'version',
  'redeliver',
]);

function isStringList(v: unknown): v is readonly string[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'string' || x.length === 0) return false;
  }
  return true;
}

function bad(subject: string, option: string, what: string): InvariantViolation {
  return new InvariantViolation(`atom '${subject}': option '${option}' ${what}`, { subject, option });
}

const NONE: readonly never[] = Object.freeze([]);
const NO_INJECT: Readonly<Record<string, unknown>> = Object.freeze({});
const PROVIDES_NONE: ProvidesSpec = Object.freeze({ kind: 'none' });

function uniq(xs: readonly string[]): readonly string[] {
  if (xs.length < 2) return xs;
  const set = new Set(xs);
  return set.size === xs.length ? xs : [...set];
}

/** Checks that `options` only has known keys (each atom kind adds its own). */
export function checkOptionKeys(subject: string, options: object, extra: readonly string[] = []): void {
  for (const key in options) {
    if (!Object.hasOwn(options, key)) continue;
    if (!OPTION_KEYS.has(key) && !extra.includes(key)) {
      throw new InvariantViolation(`atom '${subject}': unknown option '${key}'`, { subject, option: key });
    }
  }
}

function parseProvides(subject: string, value: unknown): ProvidesSpec {
  if (value === undefined || value === null) return PROVIDES_NONE;
  if (typeof value === 'string' && value.length > 0) return { kind: 'whole', name: value };
  if (isStringList(value)) return { kind: 'each', names: Object.freeze([...new Set(value)]) };
  throw bad(subject, 'provides', `must be a non-empty string or a list of names, not ${describeValue(value)}`);
}

function parseList(subject: string, option: string, value: unknown): readonly string[] {
  if (value === undefined) return NONE;
  if (!isStringList(value)) throw bad(subject, option, 'must be a list of non-empty strings');
  return value;
}

/** The statics' list and the options' list, deduplicated (no copy when one is empty). */
function joinLists(subject: string, option: string, fromClass: unknown, fromOptions: unknown): readonly string[] {
  const a = parseList(subject, option, fromClass);
  const b = parseList(subject, option, fromOptions);
  return uniq(a.length === 0 ? b : b.length === 0 ? a : [...a, ...b]);
}

/** Builds the (arg -> stored name) bindings for one method, as TaskFlow's `_build_arg_mapping`. */
function buildBindings(
  subject: string,
  method: 'execute' | 'revert',
  requires: readonly string[],
  optional: readonly string[],
  rebind: unknown,
  rebindOption: string,
): readonly ArgBinding[] {
  if (requires.length === 0 && optional.length === 0 && rebind === undefined) return NONE;
  const map = new Map<string, string>();
  for (const r of requires) map.set(r, r);
  const optionalSet = new Set(optional.filter((o) => !map.has(o)));
  if (rebind !== undefined) {
    if (Array.isArray(rebind)) {
      if (!isStringList(rebind)) throw bad(subject, rebindOption, 'must be a list of non-empty strings or an object');
      if (rebind.length > requires.length) {
        throw bad(
          subject,
          rebindOption,
          `lists ${rebind.length} names but ${method} requires only ${requires.length} ([${requires.join(', ')}])`,
        );
      }
      rebind.forEach((stored, i) => map.set(requires[i]!, stored));
    } else if (typeof rebind === 'object' && rebind !== null) {
      for (const [arg, stored] of Object.entries(rebind)) {
        if (typeof stored !== 'string' || stored.length === 0) {
          throw bad(subject, rebindOption, `maps '${arg}' to ${describeValue(stored)}, not a name`);
        }
        if (map.has(arg)) map.set(arg, stored);
        else if (optionalSet.has(arg)) {
          // Naming an optional argument in rebind makes it required (TaskFlow).
          optionalSet.delete(arg);
          map.set(arg, stored);
        } else if (method === 'execute') {
          throw bad(subject, rebindOption, `renames '${arg}', which is not one of its arguments [${[...map.keys(), ...optionalSet].join(', ')}]`);
        }
      }
    } else {
      throw bad(subject, rebindOption, `must be a list or an object, not ${describeValue(rebind)}`);
    }
  }
  const out: ArgBinding[] = [];
  for (const [arg, stored] of map) out.push(Object.freeze({ arg, stored, optional: false }));
  for (const arg of optionalSet) out.push(Object.freeze({ arg, stored: arg, optional: true }));
  return Object.freeze(out);
}

interface AtomStatics {
  readonly requires?: readonly string[];
  readonly optional?: readonly string[];
  readonly provides?: string | readonly string[];
  readonly revertRequires?: readonly string[];
}

export abstract class Atom {
  /** 'task' or 'retry'. */
  abstract readonly kind: AtomKind;
  #name: string | undefined;
  readonly version: string;
  readonly priority: number;
  /** Engine 'worker': delivered again after its worker died ('once', the default) or not ('never'). */
  readonly redeliver: Redeliver;
  readonly provides: ProvidesSpec;
  /** Names this atom publishes (in order). */
  readonly provided: readonly string[];
  readonly inject: Readonly<Record<string, unknown>>;
  readonly executeArgs: readonly ArgBinding[];
  readonly revertArgs: readonly ArgBinding[];
  /** Stored names needed by execute and revert, not counting injected or optional ones. */
  readonly requires: readonly string[];
  /** Stored names used only if something provides them. */
  readonly optional: readonly string[];

  protected constructor(options: AtomOptions = {}, fallbackName?: string, extraOptionKeys: readonly string[] = []) {
    if (typeof options !== 'object' || options === null) {
      throw new InvariantViolation(`atom options must be an object, not ${describeValue(options)}`);
    }
    const statics = this.constructor as AtomStatics;
    const name = options.name ?? fallbackName;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
      throw new InvariantViolation(`atom name must be a non-empty string, not ${describeValue(name)}`, { option: 'name' });
    }
    this.#name = name;
    const subject = name ?? '(unnamed)';
    checkOptionKeys(subject, options, extraOptionKeys);

    const version = options.version ?? '1.0';
    if (typeof version !== 'string' && typeof version !== 'number') throw bad(subject, 'version', 'must be a string or a number');
    this.version = String(version);
    const priority = options.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) throw bad(subject, 'priority', 'must be a finite number');
    this.priority = priority;
    const redeliver = options.redeliver ?? 'once';
    if (redeliver !== 'once' && redeliver !== 'never') throw bad(subject, 'redeliver', `must be 'once' or 'never', not ${JSON.stringify(redeliver)}`);
    this.redeliver = redeliver;
    this.provides = parseProvides(subject, options.provides ?? statics.provides);
    const p = this.provides;
    this.provided = p.kind === 'whole' ? Object.freeze([p.name]) : p.kind === 'each' ? p.names : NONE;
    if (options.inject !== undefined && (typeof options.inject !== 'object' || options.inject === null || Array.isArray(options.inject))) {
      throw bad(subject, 'inject', 'must be an object of values keyed by stored name');
    }
    this.inject = options.inject === undefined ? NO_INJECT : Object.freeze({ ...options.inject });

    const requires = joinLists(subject, 'requires', statics.requires, options.requires);
    const optional = joinLists(subject, 'optional', statics.optional, options.optional);
    const revertRequires =
      options.revertRequires !== undefined || statics.revertRequires !== undefined
        ? joinLists(subject, 'revertRequires', statics.revertRequires, options.revertRequires)
        : requires;
    this.executeArgs = buildBindings(subject, 'execute', requires, optional, options.rebind, 'rebind');
    this.revertArgs =
      revertRequires === requires && options.revertRebind === undefined
        ? this.executeArgs
        : buildBindings(
            subject,
            'revert',
            revertRequires,
            revertRequires === requires ? optional : NONE,
            options.revertRebind ?? options.rebind,
            options.revertRebind !== undefined ? 'revertRebind' : 'rebind',
          );
    if (this.executeArgs.length === 0 && this.revertArgs.length === 0) {
      this.requires = NONE;
      this.optional = NONE;
      return;
    }
    const injected = this.inject;
    const required = new Set<string>();
    const opt = new Set<string>();
    for (const list of [this.executeArgs, this.revertArgs]) {
      for (const b of list) {
        if (Object.hasOwn(injected, b.stored)) continue;
        if (b.optional) opt.add(b.stored);
        else required.add(b.stored);
      }
    }
    for (const r of required) opt.delete(r);
    this.requires = Object.freeze([...required]);
    this.optional = Object.freeze([...opt]);
  }

  get name(): string {
    if (this.#name === undefined) {
      throw new InvariantViolation(`a ${this.kind} has no name yet: give it one, or attach it to a flow that names it`);
    }
    return this.#name;
  }

  /** True once the atom has a name (a retry gets `<flow>_retry` from its flow). */
  get hasName(): boolean {
    return this.#name !== undefined;
  }

  /** Used by flows to name an unnamed retry; a no-op when it already has a name. */
  assignDefaultName(name: string): void {
    if (this.#name === undefined) this.#name = name;
  }

  toString(): string {
    return `"${this.#name ?? '(unnamed)'}==${this.version}"`;
  }
}
