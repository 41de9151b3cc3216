/**
 * The flow interface every pattern implements: a named, ordered collection of atoms and subflows,
 * with an optional retry controller, and the links between its children. The compiler only reads
 * `pattern`, `retry`, `iterNodes()` and `iterLinks()`.
 */
import { describeValue } from './describe.js';
import { Atom } from './atom.js';
import { DuplicateNameError, InvariantViolation } from './errors.js';
import { Retry } from './retry.js';
import type { Depth } from './states.js';

/** A child of a flow: an atom (a task) or another flow. */
export type FlowItem = Atom | Flow;

/** Decides whether the target of a link runs; gets the results of the link sources by atom name. */
export type Decider = (history: Readonly<Record<string, unknown>>) => boolean;

export interface LinkMeta {
  /** A linear flow's ordering link. */
  readonly invariant?: true;
  /** Added by `link()`. */
  readonly manual?: true;
  /** Names that made a graph flow infer the link. */
  readonly reasons?: readonly string[];
  readonly decider?: Decider;
  readonly deciderDepth?: Depth;
}

export type Link = readonly [from: FlowItem, to: FlowItem, meta: LinkMeta];

export type PatternKind = 'linear' | 'unordered' | 'graph';

export interface FlowOptions {
  /** The retry controller governing this flow's atoms (named `<flow>_retry` unless named). */
  retry?: Retry;
}

export function isFlow(x: unknown): x is Flow {
  return x instanceof Flow;
}

export abstract class Flow {
  abstract readonly pattern: PatternKind;
  readonly name: string;
  readonly retry: Retry | undefined;
  protected readonly items: FlowItem[] = [];
  readonly #members = new Set<FlowItem>();
  /**
   * The named atoms of this flow's tree as known when they were added (a subflow's own later
   * additions are not seen here; compile() checks the whole tree), to refuse a name clash at add().
   */
  readonly #names = new Map<string, Atom>();

  constructor(name: string, options: FlowOptions = {}) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvariantViolation(`a flow needs a non-empty string name, not ${describeValue(name)}`, { option: 'name' });
    }
    this.name = name;
    if (typeof options !== 'object' || options === null) {
      throw new InvariantViolation(`flow '${name}': options must be an object`, { subject: name });
    }
    for (const key of Object.keys(options)) {
      if (key !== 'retry') throw new InvariantViolation(`flow '${name}': unknown option '${key}'`, { subject: name, option: key });
    }
    if (options.retry !== undefined) {
      if (!(options.retry instanceof Retry)) {
        throw new InvariantViolation(`flow '${name}': option 'retry' must be a Retry controller`, { subject: name, option: 'retry' });
      }
      options.retry.assignDefaultName(`${name}_retry`);
      this.retry = options.retry;
      this.#names.set(options.retry.name, options.retry);
    }
  }

  /** Adds atoms or flows; adding the same object again is ignored. Returns the flow. */
  add(...items: FlowItem[]): this {
    for (const item of items) this.checkItem(item);
    const named = this.#claimNames(items);
    const fresh: FlowItem[] = [];
    for (const item of items) {
      if (this.#members.has(item)) continue;
      this.#members.add(item);
      fresh.push(item);
    }
    if (fresh.length === 0) return this;
    try {
      this.addChecked(fresh);
    } catch (e) {
      for (const item of fresh) this.#members.delete(item);
      for (const n of named) this.#names.delete(n);
      throw e;
    }
    return this;
  }

  /**
   * Records the named atoms `items` bring (their whole trees) and returns the names recorded. A name
   * already used by another atom of this flow, or by two of them, is a DuplicateNameError listing
   * every such name, and nothing is recorded. (The same atom object twice is left to compile(),
   * which says so.)
   */
  #claimNames(items: readonly FlowItem[]): string[] {
    const names = this.#names;
    const added: string[] = [];
    let clashes: Set<string> | undefined;
    const visit = (item: FlowItem): void => {
      if (item instanceof Flow) {
        if (item.retry !== undefined) visit(item.retry);
        for (const child of item.iterNodes()) visit(child);
        return;
      }
      if (!item.hasName) return;
      const n = item.name;
      const prev = names.get(n);
      if (prev === undefined) {
        names.set(n, item);
        added.push(n);
      } else if (prev !== item) {
        (clashes ??= new Set()).add(n);
      }
    };
    for (const item of items) visit(item);
    if (clashes !== undefined) {
      for (const n of added) names.delete(n);
      const list = [...clashes].sort();
      throw new DuplicateNameError(list, `flow '${this.name}': atoms with duplicate names found: [${list.join(', ')}]; each atom of a flow tree needs its own name`);
    }
    return added;
  }

  /** Pattern-specific insertion (a graph flow infers links and refuses cycles here). */
  protected addChecked(items: readonly FlowItem[]): void {
    // One at a time: spreading 100,000 items into push() would overflow the call stack.
    for (const item of items) this.items.push(item);
  }

  protected checkItem(item: unknown): asserts item is FlowItem {
    if (item instanceof Retry) {
      throw new InvariantViolation(
        `flow '${this.name}': retry '${item.hasName ? item.name : '(unnamed)'}' cannot be added as a node; pass it as new ${this.constructor.name}(name, { retry })`,
        { subject: this.name },
      );
    }
    if (!(item instanceof Atom) && !(item instanceof Flow)) {
      throw new InvariantViolation(`flow '${this.name}': cannot add ${describe(item)}: only tasks and flows can be added`, { subject: this.name });
    }
    if (item === this || (item instanceof Flow && item.contains(this))) {
      throw new InvariantViolation(`flow '${this.name}': cannot add flow '${(item as Flow).name}', it would contain itself`, { subject: this.name });
    }
  }

  /** True if `x` is this flow or is nested anywhere inside it. */
  contains(x: FlowItem): boolean {
    if (x === this) return true;
    for (const item of this.items) {
      if (item === x) return true;
      if (item instanceof Flow && item.contains(x)) return true;
    }
    return false;
  }

  has(item: FlowItem): boolean {
    return this.#members.has(item);
  }

  /** Number of direct children. */
  get length(): number {
    return [...this.iterNodes()].length;
  }

  /** Direct children, in execution order where the pattern defines one. */
  iterNodes(): Iterable<FlowItem> {
    return this.items;
  }

  /** Links between direct children. */
  abstract iterLinks(): Iterable<Link>;

  /** Children that must finish before `item` may start (within this flow, transitively). */
  protected abstract predecessorsOf(item: FlowItem): Iterable<FlowItem>;

  /** Names this flow (its retry and every child, recursively) provides. */
  get provides(): string[] {
    const out = new Set<string>(this.retry?.provided ?? []);
    for (const item of this.iterNodes()) for (const p of itemProvides(item)) out.add(p);
    return [...out];
  }

  /** Names this flow needs from outside (requirements no earlier child or its retry provides). */
  get requires(): string[] {
    const out = new Set<string>(this.retry?.requires ?? []);
    const fromRetry = new Set(this.retry?.provided ?? []);
    for (const item of this.iterNodes()) {
      const given = new Set(fromRetry);
      for (const p of this.predecessorsOf(item)) for (const name of itemProvides(p)) given.add(name);
      for (const r of itemRequires(item)) if (!given.has(r)) out.add(r);
    }
    return [...out];
  }

  toString(): string {
    return `"${this.pattern}: ${this.name}(len=${this.length})"`;
  }
}

export function itemProvides(item: FlowItem): readonly string[] {
  return item instanceof Flow ? item.provides : item.provided;
}

export function itemRequires(item: FlowItem): readonly string[] {
  return item instanceof Flow ? item.requires : item.requires;
}

export function itemName(item: FlowItem): string {
  return item.name;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return `an object of class ${(x as object).constructor?.name ?? 'Object'}`;
  return `${typeof x} ${describeValue(x)}`;
}
