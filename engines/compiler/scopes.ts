/**
 * Scoping: which providers an atom may read a name from, nearest first (TaskFlow's `scopes.py`).
 * A provider is visible when it runs before the consumer: walking up from the consumer, each
 * level offers the atoms of earlier siblings (linear), of graph predecessors (graph), of the
 * flow's retry (always before its flow), never of unordered siblings. The innermost level wins;
 * within a level, the most recent provider wins.
 */
import type { Compilation } from './compile.js';

interface Place {
  flow: number;
  pos: number;
}

export class Scopes {
  readonly #c: Compilation;
  readonly #reach = new Map<number, Map<number, Set<number>>>();
  readonly #cache = new Map<string, readonly number[]>();

  constructor(c: Compilation) {
    this.#c = c;
  }

  #reachable(flow: number, from: number): Set<number> {
    let perFlow = this.#reach.get(flow);
    if (!perFlow) this.#reach.set(flow, (perFlow = new Map()));
    let set = perFlow.get(from);
    if (set) return set;
    set = new Set();
    const succ = this.#c.flows[flow]!.childSuccessors;
    const stack = [from];
    while (stack.length > 0) {
      for (const w of succ[stack.pop()!] ?? []) {
        if (!set.has(w)) {
          set.add(w);
          stack.push(w);
        }
      }
    }
    perFlow.set(from, set);
    return set;
  }

  #up(p: Place): Place {
    const f = this.#c.flows[p.flow]!;
    return { flow: f.parent, pos: f.pos };
  }

  /** The depth of the scope level at which `provider` is visible to `consumer`, or -1. */
  level(provider: number, consumer: number): number {
    if (provider === consumer) return -1;
    const { atoms, flows } = this.#c;
    const pa = atoms[provider]!;
    const ca = atoms[consumer]!;
    let a: Place = { flow: pa.flow, pos: pa.pos };
    let b: Place = { flow: ca.flow, pos: ca.pos };
    while (flows[a.flow]!.depth > flows[b.flow]!.depth) a = this.#up(a);
    while (flows[b.flow]!.depth > flows[a.flow]!.depth) b = this.#up(b);
    while (a.flow !== b.flow) {
      a = this.#up(a);
      b = this.#up(b);
    }
    const f = flows[a.flow]!;
    if (a.pos === b.pos) return -1;
    if (a.pos === -1) return f.depth; // the flow's retry runs before all of it
    if (b.pos === -1) return -1;
    switch (f.pattern) {
      case 'linear':
        return a.pos < b.pos ? f.depth : -1;
      case 'unordered':
        return -1;
      case 'graph':
        return this.#reachable(a.flow, a.pos).has(b.pos) ? f.depth : -1;
      default: {
        const never: never = f.pattern;
        return never;
      }
    }
  }

  /** Atoms `consumer` may read `name` from, the one to prefer first. */
  candidates(consumer: number, name: string): readonly number[] {
    const key = `${consumer}\u0000${name}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const scored: Array<[number, number]> = [];
    for (const p of this.#c.providers.get(name) ?? []) {
      const lvl = this.level(p, consumer);
      if (lvl >= 0) scored.push([p, lvl]);
    }
    scored.sort((x, y) => y[1] - x[1] || y[0] - x[0]);
    const out = Object.freeze(scored.map(([p]) => p));
    this.#cache.set(key, out);
    return out;
  }
}
