/**
 * A graph flow: children ordered by links, inferred from requires/provides when added (in any
 * order) and given explicitly with `link()`, optionally with a decider. Cycles are refused when
 * they would appear, leaving the flow unchanged. `setTarget()` restricts the flow to one child and
 * what it transitively needs.
 */
import { describeValue, safeString } from '../lib/describe.js';
import { AmbiguousDependency, CycleError, InvariantViolation, NotFound } from '../lib/errors.js';
import { Flow, itemProvides, itemRequires, type Decider, type FlowItem, type FlowOptions, type Link, type LinkMeta } from '../lib/flow.js';
import { IdHeap } from '../lib/heap.js';
import { findCyclePath } from './cycles.js';
import { parseDepth, type Depth } from '../lib/states.js';

export interface LinkOptions {
  decider?: Decider;
  deciderDepth?: Depth | Lowercase<Depth>;
}

interface EdgeLabel {
  manual?: true;
  reasons?: string[];
  decider?: Decider;
  deciderDepth?: Depth;
  /** What `iterLinks()` hands out for this label (made once, frozen; a relabel makes a new label). */
  meta?: LinkMeta;
}

/** What one `add()` changed, so a refused add can be undone. */
interface Journal {
  readonly items: number;
  readonly edges: number;
  /** Provider/requirer lists pushed to. */
  readonly lists: number[][];
  readonly satisfied: Array<[number, string]>;
  readonly relabeled: Array<[number, EdgeLabel]>;
}

/** Edge labels are keyed by this number (node ids stay far below 2^26). */
const edgeKey = (from: number, to: number): number => from * 67_108_864 + to;

/**
 * The graph is kept here as integer adjacency (a node's id is its position in `items`, which is
 * also the order it was added in): a 100,000-node flow is built in linear time without a general
 * graph library's per-edge string ids and objects.
 */
export class GraphFlow extends Flow {
  readonly pattern = 'graph' as const;
  readonly #ids = new Map<FlowItem, number>();
  readonly #out: number[][] = [];
  readonly #in: number[][] = [];
  readonly #labels = new Map<number, EdgeLabel>();
  /** Every edge in the order it was first made (from, to pairs). */
  readonly #edgeFrom: number[] = [];
  readonly #edgeTo: number[] = [];
  readonly #providers = new Map<string, number[]>();
  readonly #requirers = new Map<string, number[]>();
  /** Per node: the names an inferred link already satisfies (one name, or several). */
  readonly #satisfied = new Map<number, string | Set<string>>();
  #order: FlowItem[] | undefined;
  #target: FlowItem | undefined;

  constructor(name: string, options: FlowOptions = {}) {
    super(name, options);
  }

  protected override addChecked(items: readonly FlowItem[]): void {
    const journal: Journal = { items: this.items.length, edges: this.#edgeFrom.length, lists: [], satisfied: [], relabeled: [] };
    const retryGives: ReadonlySet<string> = new Set(this.retry?.provided ?? []);
    try {
      for (const item of items) this.#addOne(item, retryGives, journal);
    } catch (e) {
      this.#rollback(journal);
      this.#order = undefined;
      throw e;
    }
    this.#order = undefined;
  }

  /** Undoes a failed `add()`: everything it changed, newest first. */
  #rollback(j: Journal): void {
    for (let k = j.relabeled.length - 1; k >= 0; k--) this.#labels.set(j.relabeled[k]![0], j.relabeled[k]![1]);
    while (this.#edgeFrom.length > j.edges) {
      const from = this.#edgeFrom.pop()!;
      const to = this.#edgeTo.pop()!;
      this.#labels.delete(edgeKey(from, to));
      this.#out[from]!.pop();
      this.#in[to]!.pop();
    }
    for (const [id, name] of j.satisfied) {
      const had = this.#satisfied.get(id);
      if (had === name) this.#satisfied.delete(id);
      else if (had instanceof Set) had.delete(name);
    }
    for (let k = j.lists.length - 1; k >= 0; k--) j.lists[k]!.pop();
    while (this.items.length > j.items) {
      this.#ids.delete(this.items.pop()!);
      this.#out.pop();
      this.#in.pop();
    }
  }

  #isSatisfied(id: number, name: string): boolean {
    const had = this.#satisfied.get(id);
    return had === name || (had instanceof Set && had.has(name));
  }

  #addOne(item: FlowItem, retryGives: ReadonlySet<string>, journal: Journal): void {
    const id = this.items.length;
    this.#ids.set(item, id);
    this.items.push(item);
    this.#out.push([]);
    this.#in.push([]);
    const needs = itemRequires(item);
    const gives = itemProvides(item);
    // Existing providers of what the new item needs.
    for (const name of needs) {
      if (retryGives.has(name) || gives.includes(name)) continue;
      const providers = this.#providers.get(name);
      if (providers !== undefined && providers.length > 1) {
        throw new AmbiguousDependency(this.name, item.name, name, providers.map((p) => this.items[p]!.name));
      }
      if (providers !== undefined && providers.length === 1) this.#inferEdge(providers[0]!, id, name, journal);
      let requirers = this.#requirers.get(name);
      if (requirers === undefined) this.#requirers.set(name, (requirers = []));
      requirers.push(id);
      journal.lists.push(requirers);
    }
    // Existing items that need what the new item provides.
    for (const name of gives) {
      if (!retryGives.has(name)) {
        for (const otherId of this.#requirers.get(name) ?? []) {
          if (otherId === id) continue;
          const other = this.items[otherId]!;
          if (!itemRequires(other).includes(name) || itemProvides(other).includes(name)) continue;
          if (this.#isSatisfied(otherId, name)) {
            const current = (this.#providers.get(name) ?? []).map((p) => this.items[p]!.name);
            throw new AmbiguousDependency(this.name, other.name, name, [...current, item.name]);
          }
          this.#inferEdge(id, otherId, name, journal);
        }
      }
      let providers = this.#providers.get(name);
      if (providers === undefined) this.#providers.set(name, (providers = []));
      providers.push(id);
      journal.lists.push(providers);
    }
  }

  #inferEdge(from: number, to: number, reason: string, journal: Journal): void {
    this.#setEdge(from, to, { reasons: [reason] }, journal);
    const had = this.#satisfied.get(to);
    if (had === undefined) this.#satisfied.set(to, reason);
    else if (had instanceof Set) had.add(reason);
    else if (had !== reason) this.#satisfied.set(to, new Set([had, reason]));
    journal.satisfied.push([to, reason]);
  }

  /** Makes or relabels the edge `from → to` (refusing a cycle); `journal` records it for a rollback. */
  #setEdge(from: number, to: number, add: EdgeLabel, journal: Journal | undefined): void {
    const key = edgeKey(from, to);
    const previous = this.#labels.get(key);
    if (previous === undefined && this.#reaches(to, from)) {
      const path = this.#cycleThrough(from, to);
      throw new CycleError(this.name, `linking '${this.items[from]!.name}' to '${this.items[to]!.name}' (${path.join(' → ')})`, path);
    }
    let merged: EdgeLabel;
    if (previous === undefined) merged = add;
    else {
      const { meta: _stale, ...kept } = previous;
      merged = { ...kept, ...add };
      if (previous.reasons || add.reasons) merged.reasons = [...new Set([...(previous.reasons ?? []), ...(add.reasons ?? [])])];
    }
    this.#labels.set(key, merged);
    if (previous === undefined) {
      this.#out[from]!.push(to);
      this.#in[to]!.push(from);
      this.#edgeFrom.push(from);
      this.#edgeTo.push(to);
    } else {
      journal?.relabeled.push([key, previous]);
    }
  }

  /** The cycle the edge `from → to` would close, as names in run order (error path only: graphlib). */
  #cycleThrough(from: number, to: number): string[] {
    const edges: Array<readonly [string, string]> = [[String(from), String(to)]];
    for (let k = 0; k < this.#edgeFrom.length; k++) edges.push([String(this.#edgeFrom[k]!), String(this.#edgeTo[k]!)]);
    const ids = [from, ...this.items.keys()].map(String);
    return (findCyclePath([...new Set(ids)], edges) ?? []).map((id) => this.items[Number(id)]!.name);
  }

  #reaches(from: number, to: number): boolean {
    if (from === to) return true;
    if (this.#out[from]!.length === 0) return false;
    const seen = new Set<number>([from]);
    const stack = [from];
    while (stack.length > 0) {
      for (const w of this.#out[stack.pop()!]!) {
        if (w === to) return true;
        if (!seen.has(w)) {
          seen.add(w);
          stack.push(w);
        }
      }
    }
    return false;
  }

  #idOf(item: FlowItem | string, role: 'from' | 'to' | 'target'): number {
    let found: number | undefined;
    if (typeof item === 'string') {
      for (const [x, id] of this.#ids) if (x.name === item) found = id;
    } else {
      found = this.#ids.get(item);
    }
    if (found === undefined) {
      if (typeof item !== 'string' && (typeof item !== 'object' || item === null)) {
        throw new InvariantViolation(`graph flow '${this.name}': link ${role} must be a child of this flow or its name, not ${describeValue(item)}`, { subject: this.name, option: role });
      }
      const label = typeof item === 'string' ? item : safeString((item as { name?: unknown }).name);
      const what = role === 'target' ? 'to target' : `to link ${role}`;
      throw new NotFound(`graph flow '${this.name}': node '${label}' not found ${what}; add it to this flow first`, label);
    }
    return found;
  }

  /** Adds a manual link `from → to` (children or their names), optionally with a decider. */
  link(from: FlowItem | string, to: FlowItem | string, options: LinkOptions = {}): this {
    const u = this.#idOf(from, 'from');
    const v = this.#idOf(to, 'to');
    if (typeof options !== 'object' || options === null) {
      throw new InvariantViolation(`graph flow '${this.name}': link options must be an object`, { subject: this.name });
    }
    for (const k of Object.keys(options)) {
      if (k !== 'decider' && k !== 'deciderDepth') {
        throw new InvariantViolation(`graph flow '${this.name}': unknown link option '${k}'`, { subject: this.name, option: k });
      }
    }
    const label: EdgeLabel = { manual: true };
    if (options.decider !== undefined) {
      if (typeof options.decider !== 'function') {
        throw new InvariantViolation(`graph flow '${this.name}': link decider must be a function`, { subject: this.name, option: 'decider' });
      }
      label.decider = options.decider;
      try {
        label.deciderDepth = parseDepth(options.deciderDepth ?? 'ALL');
      } catch (e) {
        throw new InvariantViolation(`graph flow '${this.name}': ${(e as Error).message}`, { subject: this.name, option: 'deciderDepth' });
      }
    } else if (options.deciderDepth !== undefined) {
      throw new InvariantViolation(`graph flow '${this.name}': deciderDepth needs a decider`, { subject: this.name, option: 'deciderDepth' });
    }
    this.#setEdge(u, v, label, undefined);
    this.#order = undefined;
    return this;
  }

  /** Restricts the flow to `item` (a child or its name) and every child it transitively depends on. */
  setTarget(item: FlowItem | string): this {
    this.#target = this.items[this.#idOf(item, 'target')];
    this.#order = undefined;
    return this;
  }

  resetTarget(): this {
    this.#target = undefined;
    this.#order = undefined;
    return this;
  }

  get target(): FlowItem | undefined {
    return this.#target;
  }

  #visible(): Uint8Array | undefined {
    if (this.#target === undefined) return undefined;
    const start = this.#ids.get(this.#target)!;
    const seen = new Uint8Array(this.items.length);
    seen[start] = 1;
    const stack = [start];
    while (stack.length > 0) {
      for (const p of this.#in[stack.pop()!]!) {
        if (seen[p] === 0) {
          seen[p] = 1;
          stack.push(p);
        }
      }
    }
    return seen;
  }

  /** Children in a topological order; ties keep the order they were added in. */
  override iterNodes(): Iterable<FlowItem> {
    if (this.#order !== undefined) return this.#order;
    const visible = this.#visible();
    const n = this.items.length;
    const indeg = new Int32Array(n);
    for (let v = 0; v < n; v++) {
      if (visible !== undefined && visible[v] === 0) continue;
      let d = 0;
      for (const p of this.#in[v]!) if (visible === undefined || visible[p] === 1) d++;
      indeg[v] = d;
    }
    const order: FlowItem[] = [];
    const ready = new IdHeap(new Float64Array(n)); // equal keys: lowest id (first added) first
    for (let v = 0; v < n; v++) if ((visible === undefined || visible[v] === 1) && indeg[v] === 0) ready.push(v);
    while (ready.size > 0) {
      const v = ready.pop()!;
      order.push(this.items[v]!);
      for (const w of this.#out[v]!) {
        if (visible !== undefined && visible[w] === 0) continue;
        if (--indeg[w]! === 0) ready.push(w);
      }
    }
    this.#order = order;
    return order;
  }

  *iterLinks(): Iterable<Link> {
    const visible = this.#visible();
    const from = this.#edgeFrom;
    const to = this.#edgeTo;
    for (let k = 0; k < from.length; k++) {
      const u = from[k]!;
      const v = to[k]!;
      if (visible !== undefined && (visible[u] === 0 || visible[v] === 0)) continue;
      const label = this.#labels.get(edgeKey(u, v))!;
      label.meta ??= Object.freeze({
        ...(label.manual ? { manual: true as const } : {}),
        ...(label.reasons ? { reasons: Object.freeze([...label.reasons]) } : {}),
        ...(label.decider ? { decider: label.decider, deciderDepth: label.deciderDepth ?? 'ALL' } : {}),
      });
      yield [this.items[u]!, this.items[v]!, label.meta];
    }
  }

  protected *predecessorsOf(item: FlowItem): Iterable<FlowItem> {
    const start = this.#ids.get(item);
    if (start === undefined) return;
    const seen = new Uint8Array(this.items.length);
    const stack = [start];
    while (stack.length > 0) {
      for (const p of this.#in[stack.pop()!]!) {
        if (seen[p] === 0) {
          seen[p] = 1;
          stack.push(p);
          yield this.items[p]!;
        }
      }
    }
  }
}
