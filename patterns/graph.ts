/**
 * A graph flow: children ordered by links, inferred from requires/provides when added (in any
 * order) and given explicitly with `link()`, optionally with a decider. Cycles are refused when
 * they would appear, leaving the flow unchanged. `setTarget()` restricts the flow to one child and
 * what it transitively needs.
 */
import { Graph } from '@dagrejs/graphlib';
import { AmbiguousDependency, CycleError, InvariantViolation, NotFound } from '../lib/errors.js';
import { Flow, itemProvides, itemRequires, type Decider, type FlowItem, type FlowOptions, type Link, type LinkMeta } from '../lib/flow.js';
import { Heap } from '../lib/heap.js';
import { parseDepth, type Depth } from '../lib/states.js';


type G = InstanceType<typeof Graph>;

export interface LinkOptions {
  decider?: Decider;
  deciderDepth?: Depth | Lowercase<Depth>;
}

interface EdgeLabel {
  manual?: true;
  reasons?: string[];
  decider?: Decider;
  deciderDepth?: Depth;
}

export class GraphFlow extends Flow {
  readonly pattern = 'graph' as const;
  readonly #g: G = new Graph({ directed: true });
  readonly #ids = new Map<FlowItem, string>();
  readonly #byId = new Map<string, FlowItem>();
  readonly #providers = new Map<string, string[]>();
  readonly #requirers = new Map<string, string[]>();
  readonly #satisfied = new Map<string, Set<string>>();
  #nextId = 0;
  #order: FlowItem[] | undefined;
  #target: FlowItem | undefined;

  constructor(name: string, options: FlowOptions = {}) {
    super(name, options);
  }

  protected override addChecked(items: readonly FlowItem[]): void {
    const undo: Array<() => void> = [];
    try {
      for (const item of items) this.#addOne(item, undo);
    } catch (e) {
      for (const u of undo.reverse()) u();
      this.#order = undefined;
      throw e;
    }
    this.#order = undefined;
  }

  #addOne(item: FlowItem, undo: Array<() => void>): void {
    const id = `n${this.#nextId++}`;
    this.#ids.set(item, id);
    this.#byId.set(id, item);
    this.#g.setNode(id);
    this.items.push(item);
    undo.push(() => {
      this.#g.removeNode(id);
      this.#ids.delete(item);
      this.#byId.delete(id);
      this.items.pop();
    });
    const retryGives = new Set(this.retry?.provided ?? []);
    const needs = itemRequires(item);
    const gives = itemProvides(item);
    // Existing providers of what the new item needs.
    for (const name of needs) {
      if (retryGives.has(name) || gives.includes(name)) continue;
      const providers = (this.#providers.get(name) ?? []).filter((p) => p !== id);
      if (providers.length > 1) {
        throw new AmbiguousDependency(this.name, item.name, name, providers.map((p) => this.#byId.get(p)!.name));
      }
      if (providers.length === 1) this.#inferEdge(providers[0]!, id, name, undo);
      const requirers = this.#requirers.get(name) ?? [];
      requirers.push(id);
      this.#requirers.set(name, requirers);
      undo.push(() => requirers.pop());
    }
    // Existing items that need what the new item provides.
    for (const name of gives) {
      for (const otherId of this.#requirers.get(name) ?? []) {
        const other = this.#byId.get(otherId)!;
        if (otherId === id || retryGives.has(name)) continue;
        if (!itemRequires(other).includes(name) || itemProvides(other).includes(name)) continue;
        if (this.#satisfied.get(otherId)?.has(name)) {
          const current = (this.#providers.get(name) ?? []).map((p) => this.#byId.get(p)!.name);
          throw new AmbiguousDependency(this.name, other.name, name, [...current, item.name]);
        }
        this.#inferEdge(id, otherId, name, undo);
      }
      const list = this.#providers.get(name) ?? [];
      list.push(id);
      this.#providers.set(name, list);
      undo.push(() => list.pop());
    }
  }

  #inferEdge(from: string, to: string, reason: string, undo: Array<() => void>): void {
    this.#setEdge(from, to, { reasons: [reason] }, undo);
    const set = this.#satisfied.get(to) ?? new Set<string>();
    this.#satisfied.set(to, set);
    set.add(reason);
    undo.push(() => set.delete(reason));
  }

  #setEdge(from: string, to: string, add: EdgeLabel, undo: Array<() => void>): void {
    const previous = this.#g.edge(from, to) as EdgeLabel | undefined;
    if (previous === undefined && this.#reaches(to, from)) {
      throw new CycleError(this.name, `linking '${this.#byId.get(from)!.name}' to '${this.#byId.get(to)!.name}'`);
    }
    const merged: EdgeLabel = { ...(previous ?? {}), ...add };
    if (previous?.reasons || add.reasons) merged.reasons = [...new Set([...(previous?.reasons ?? []), ...(add.reasons ?? [])])];
    this.#g.setEdge(from, to, merged);
    undo.push(() => (previous === undefined ? this.#g.removeEdge(from, to) : this.#g.setEdge(from, to, previous)));
  }

  #reaches(from: string, to: string): boolean {
    if (from === to) return true;
    const seen = new Set<string>([from]);
    const stack = [from];
    while (stack.length > 0) {
      const v = stack.pop()!;
      for (const w of this.#g.successors(v) ?? []) {
        if (w === to) return true;
        if (!seen.has(w)) {
          seen.add(w);
          stack.push(w);
        }
      }
    }
    return false;
  }

  #idOf(item: FlowItem | string, role: 'from' | 'to' | 'target'): string {
    let found: string | undefined;
    if (typeof item === 'string') {
      for (const [x, id] of this.#ids) if (x.name === item) found = id;
    } else {
      found = this.#ids.get(item);
    }
    if (found === undefined) {
      const label = typeof item === 'string' ? item : item.name;
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
    this.#setEdge(u, v, label, []);
    this.#order = undefined;
    return this;
  }

  /** Restricts the flow to `item` (a child or its name) and every child it transitively depends on. */
  setTarget(item: FlowItem | string): this {
    this.#target = this.#byId.get(this.#idOf(item, 'target'));
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

  #visible(): Set<string> | undefined {
    if (this.#target === undefined) return undefined;
    const start = this.#ids.get(this.#target)!;
    const seen = new Set<string>([start]);
    const stack = [start];
    while (stack.length > 0) {
      for (const p of this.#g.predecessors(stack.pop()!) ?? []) {
        if (!seen.has(p)) {
          seen.add(p);
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
    const ids = [...this.#byId.keys()].filter((id) => visible === undefined || visible.has(id));
    const rank = new Map(ids.map((id, i) => [id, i]));
    const indeg = new Map<string, number>();
    for (const id of ids) indeg.set(id, (this.#g.predecessors(id) ?? []).filter((p) => rank.has(p)).length);
    const order: FlowItem[] = [];
    const ready = new Heap<string>((a, b) => rank.get(a)! < rank.get(b)!);
    for (const id of ids) if (indeg.get(id) === 0) ready.push(id);
    while (ready.size > 0) {
      const id = ready.pop()!;
      order.push(this.#byId.get(id)!);
      for (const w of this.#g.successors(id) ?? []) {
        if (!indeg.has(w)) continue;
        const d = indeg.get(w)! - 1;
        indeg.set(w, d);
        if (d === 0) ready.push(w);
      }
    }
    this.#order = order;
    return order;
  }

  *iterLinks(): Iterable<Link> {
    const visible = this.#visible();
    for (const e of this.#g.edges()) {
      if (visible !== undefined && (!visible.has(e.v) || !visible.has(e.w))) continue;
      const label = this.#g.edge(e) as EdgeLabel;
      const meta: LinkMeta = {
        ...(label.manual ? { manual: true as const } : {}),
        ...(label.reasons ? { reasons: [...label.reasons] } : {}),
        ...(label.decider ? { decider: label.decider, deciderDepth: label.deciderDepth ?? 'ALL' } : {}),
      };
      yield [this.#byId.get(e.v)!, this.#byId.get(e.w)!, meta];
    }
  }

  protected *predecessorsOf(item: FlowItem): Iterable<FlowItem> {
    const start = this.#ids.get(item);
    if (start === undefined) return;
    const seen = new Set<string>();
    const stack = [start];
    while (stack.length > 0) {
      for (const p of this.#g.predecessors(stack.pop()!) ?? []) {
        if (!seen.has(p)) {
          seen.add(p);
          stack.push(p);
          yield this.#byId.get(p)!;
        }
      }
    }
  }
}
