/**
 * Scoping: which providers an atom may read a name from, nearest first (TaskFlow's `scopes.py`).
 * A provider is visible when it runs before the consumer: walking up from the consumer, each
 * level offers the atoms of earlier siblings (linear), of graph predecessors (graph), of the
 * flow's retry (always before its flow), never of unordered siblings. The innermost level wins;
 * within a level, the most recent provider wins.
 */
import type { Compilation } from './compile.js';

const NONE: readonly number[] = Object.freeze([]);

export class Scopes {
  readonly #c: Compilation;
  /** Per consumer atom: stored name → candidate providers, nearest first (names with several providers). */
  readonly #cache: Array<Map<string, readonly number[]> | undefined>;
  /** Graph searches: visit stamps per flow (made on first use) and one shared stack. */
  readonly #visited: Array<Int32Array | undefined>;
  #stamp = 0;
  readonly #stack: number[] = [];

  constructor(c: Compilation) {
    this.#c = c;
    this.#cache = new Array(c.atoms.length);
    this.#visited = new Array(c.flows.length);
  }

  /**
   * Whether child `to` of a graph flow is reachable from child `from`. Children are numbered in
   * a topological order, so the search never needs to go past `to`, and usually ends at once
   * (a provider is most often a direct predecessor).
   */
  #reaches(flow: number, from: number, to: number): boolean {
    if (from >= to) return false;
    const succ = this.#c.flows[flow]!.childSuccessors;
    const direct = succ[from];
    if (direct === undefined) return false;
    if (direct.includes(to)) return true;
    const seen = (this.#visited[flow] ??= new Int32Array(succ.length));
    const stamp = ++this.#stamp;
    const stack = this.#stack;
    stack.length = 0;
    stack.push(from);
    seen[from] = stamp;
    while (stack.length > 0) {
      for (const w of succ[stack.pop()!] ?? NONE) {
        if (w === to) return true;
        if (w < to && seen[w] !== stamp) {
          seen[w] = stamp;
          stack.push(w);
        }
      }
    }
    return false;
  }

  /** The depth of the scope level at which `provider` is visible to `consumer`, or -1. */
  level(provider: number, consumer: number): number {
    if (provider === consumer) return -1;
    const { atoms, flows } = this.#c;
    const pa = atoms[provider]!;
    const ca = atoms[consumer]!;
    // Walk both places up to their common flow (a place is a flow and a position in it).
    let aFlow = pa.flow;
    let aPos = pa.pos;
    let bFlow = ca.flow;
    let bPos = ca.pos;
    while (flows[aFlow]!.depth > flows[bFlow]!.depth) {
      const f = flows[aFlow]!;
      aFlow = f.parent;
      aPos = f.pos;
    }
    while (flows[bFlow]!.depth > flows[aFlow]!.depth) {
      const f = flows[bFlow]!;
      bFlow = f.parent;
      bPos = f.pos;
    }
    while (aFlow !== bFlow) {
      const fa = flows[aFlow]!;
      aFlow = fa.parent;
      aPos = fa.pos;
      const fb = flows[bFlow]!;
      bFlow = fb.parent;
      bPos = fb.pos;
    }
    const f = flows[aFlow]!;
    if (aPos === bPos) return -1;
    if (aPos === -1) return f.depth; // the flow's retry runs before all of it
    if (bPos === -1) return -1;
    switch (f.pattern) {
      case 'linear':
        return aPos < bPos ? f.depth : -1;
      case 'unordered':
        return -1;
      case 'graph':
        return this.#reaches(aFlow, aPos, bPos) ? f.depth : -1;
      default: {
        const never: never = f.pattern;
        return never;
      }
    }
  }

  /** Atoms `consumer` may read `name` from, the one to prefer first. */
  candidates(consumer: number, name: string): readonly number[] {
    const providers = this.#c.providers.get(name);
    if (providers === undefined) return NONE;
    if (providers.length === 1) {
      // The common case needs no cache: one provider, visible or not.
      const p = providers[0]!;
      return this.level(p, consumer) >= 0 ? providers : NONE;
    }
    let perAtom = this.#cache[consumer];
    if (perAtom === undefined) perAtom = this.#cache[consumer] = new Map();
    const hit = perAtom.get(name);
    if (hit) return hit;
    const scored: Array<[number, number]> = [];
    for (const p of providers) {
      const lvl = this.level(p, consumer);
      if (lvl >= 0) scored.push([p, lvl]);
    }
    scored.sort((x, y) => y[1] - x[1] || y[0] - x[0]);
    const out = Object.freeze(scored.map(([p]) => p));
    perAtom.set(name, out);
    return out;
  }
}
