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
  /** Per consumer atom: stored name → candidate providers, nearest first. */
  readonly #cache: Array<Map<string, readonly number[]> | undefined>;

  constructor(c: Compilation) {
    this.#c = c;
    this.#cache = new Array(c.atoms.length);
  }

  /**
   * Whether child `to` of a graph flow is reachable from child `from`. Children are numbered in
   * a topological order, so the search never needs to go past `to`, and usually ends at once
   * (a provider is most often a direct predecessor).
   */
  #reaches(flow: number, from: number, to: number): boolean {
    if (from >= to) return false;
    const succ = this.#c.flows[flow]!.childSuccessors;
    const seen = new Set<number>([from]);
    const stack = [from];
    while (stack.length > 0) {
      for (const w of succ[stack.pop()!] ?? []) {
        if (w === to) return true;
        if (w < to && !seen.has(w)) {
          seen.add(w);
          stack.push(w);
        }
      }
    }
    return false;
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
        return this.#reaches(a.flow, a.pos, b.pos) ? f.depth : -1;
      default: {
        const never: never = f.pattern;
        return never;
      }
    }
  }

  /** Atoms `consumer` may read `name` from, the one to prefer first. */
  candidates(consumer: number, name: string): readonly number[] {
    let perAtom = this.#cache[consumer];
    if (perAtom === undefined) perAtom = this.#cache[consumer] = new Map();
    const hit = perAtom.get(name);
    if (hit) return hit;
    const scored: Array<[number, number]> = [];
    for (const p of this.#c.providers.get(name) ?? []) {
      const lvl = this.level(p, consumer);
      if (lvl >= 0) scored.push([p, lvl]);
    }
    scored.sort((x, y) => y[1] - x[1] || y[0] - x[0]);
    const out = Object.freeze(scored.map(([p]) => p));
    perAtom.set(name, out);
    return out;
  }
}
