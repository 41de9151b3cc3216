/**
 * Compile: the flow tree becomes one immutable `Compilation` — the execution graph over atoms
 * (plus barrier nodes that keep joins between wide groups linear in size), the scope hierarchy
 * (flows, positions) and the atom index. Duplicate names, atoms added twice and retries used as
 * tasks are refused here. Nothing here does I/O.
 */
import { Atom } from '../../lib/atom.js';
import { DuplicateNameError, InvariantViolation } from '../../lib/errors.js';
import { Flow, type Decider, type FlowItem, type PatternKind } from '../../lib/flow.js';
import { Retry } from '../../lib/retry.js';
import type { AtomKind, Depth } from '../../lib/states.js';
import { buildGraph, type ExecutionGraph } from './graph.js';

export interface CompiledAtom {
  readonly index: number;
  readonly atom: Atom;
  readonly name: string;
  readonly kind: AtomKind;
  readonly priority: number;
  /** The flow this atom sits in directly (for a retry: the flow it governs). */
  readonly flow: number;
  /** Position among the flow's children (-1 for the flow's retry). */
  readonly pos: number;
  /** The retry governing this atom (nearest enclosing flow with one, not counting its own), or -1. */
  readonly retry: number;
}

export interface CompiledFlow {
  readonly index: number;
  readonly name: string;
  readonly pattern: PatternKind;
  readonly parent: number;
  readonly depth: number;
  /** Position among the parent's children. */
  readonly pos: number;
  readonly retry: number;
  /** For graph flows: child position → positions of its direct successors. */
  readonly childSuccessors: readonly (readonly number[])[];
}

export interface DeciderEdge {
  readonly sources: readonly number[];
  readonly decider: Decider;
  readonly depth: Depth;
}

/**
 * The execution graph: nodes 0..atoms-1 are atoms, the rest barriers. Adjacency is kept in
 * compressed rows (one flat list per direction and an offset per node, so a 100,000-atom flow
 * costs a few typed arrays, not 200,000 small ones): the predecessors of v are
 * `predList[predStart[v] .. predStart[v + 1])`, each list in the order its edges were made.
 */
export interface ExecGraph {
  readonly nodeCount: number;
  readonly predStart: Int32Array;
  readonly predList: Int32Array;
  readonly succStart: Int32Array;
  readonly succList: Int32Array;
}

/** The predecessors of node `v` as an array (for tools; the engine reads the rows directly). */
export function predsOf(g: ExecGraph, v: number): number[] {
  return Array.from(g.predList.subarray(g.predStart[v]!, g.predStart[v + 1]!));
}

/** The successors of node `v` as an array. */
export function succsOf(g: ExecGraph, v: number): number[] {
  return Array.from(g.succList.subarray(g.succStart[v]!, g.succStart[v + 1]!));
}

export interface Compilation {
  readonly root: FlowItem;
  readonly rootName: string;
  readonly atoms: readonly CompiledAtom[];
  readonly flows: readonly CompiledFlow[];
  readonly graph: ExecGraph;
  readonly deciders: ReadonlyMap<number, readonly DeciderEdge[]>;
  readonly byName: ReadonlyMap<string, number>;
  /** Stored name → atoms providing it, in compile (flow) order. */
  readonly providers: ReadonlyMap<string, readonly number[]>;
  /**
   * The execution graph as a `@dagrejs/graphlib` `Graph` (for tools: drawing, cycle reports),
   * built from the rows on the first call and kept; the engine never uses it.
   */
  toGraph(): ExecutionGraph;
}

/**
 * Where an item is entered and left: an atom is its own entry and exit (kept as its index, so a
 * flow of atoms allocates nothing per child); a flow has lists (empty when it holds no atom).
 */
type Ends = number | { readonly entries: readonly number[]; readonly exits: readonly number[] };

const isEmpty = (e: Ends): boolean => typeof e !== 'number' && e.entries.length === 0;
const entriesOf = (e: Ends): number | readonly number[] => (typeof e === 'number' ? e : e.entries);
const exitsOf = (e: Ends): number | readonly number[] => (typeof e === 'number' ? e : e.exits);

function pushAll(out: number[], xs: number | readonly number[]): void {
  if (typeof xs === 'number') out.push(xs);
  else for (const x of xs) out.push(x);
}

const asList = (xs: number | readonly number[]): readonly number[] => (typeof xs === 'number' ? [xs] : xs);

const NO_SUCCESSORS: readonly (readonly number[])[] = Object.freeze([]);

/** Above this many direct edges a join goes through one barrier node. */
const BARRIER_THRESHOLD = 4;

class Builder {
  readonly atoms: CompiledAtom[] = [];
  readonly flows: CompiledFlow[] = [];
  /** Barrier count; barrier k is node -(k + 1) until `finish` numbers it. */
  barriers = 0;
  readonly deciders = new Map<number, DeciderEdge[]>();
  /** Flows met so far (an atom met twice is found through its name). */
  readonly seen = new Set<FlowItem>();
  readonly names = new Map<string, number>();
  readonly dupes = new Set<string>();
  /** Edges as two parallel lists (atoms or barrier placeholders). */
  readonly from: number[] = [];
  readonly to: number[] = [];

  addAtom(atom: Atom, flow: number, pos: number, retry: number): number {
    const index = this.atoms.length;
    const name = atom.name;
    const holder = this.names.get(name);
    if (holder === undefined) this.names.set(name, index);
    else if (this.atoms[holder]!.atom === atom || this.atoms.some((a) => a.atom === atom)) {
      // The same object twice: it has the same name, so only a repeated name needs the search.
      throw new InvariantViolation(`atom '${name}' is added more than once in the flow tree; each atom object may appear once`, { subject: name });
    } else this.dupes.add(name);
    // Readonly by type, not frozen: freezing one small object per atom costs more than making it.
    this.atoms.push({ index, atom, name, kind: atom.kind, priority: atom.priority, flow, pos, retry });
    return index;
  }

  #edge(u: number, v: number): void {
    this.from.push(u);
    this.to.push(v);
  }

  /** Every exit before every entry; through one barrier node when that is fewer edges. */
  connect(exits: number | readonly number[], entries: number | readonly number[]): void {
    if (typeof exits === 'number' && typeof entries === 'number') {
      this.#edge(exits, entries);
      return;
    }
    const xs = asList(exits);
    const ys = asList(entries);
    if (xs.length === 0 || ys.length === 0) return;
    if (xs.length * ys.length > xs.length + ys.length + BARRIER_THRESHOLD) {
      const b = -(++this.barriers);
      for (const u of xs) this.#edge(u, b);
      for (const v of ys) this.#edge(b, v);
      return;
    }
    for (const u of xs) for (const v of ys) this.#edge(u, v);
  }

  item(item: FlowItem, flow: number, pos: number, retry: number, depth: number): Ends {
    if (item instanceof Retry) {
      throw new InvariantViolation(`retry '${item.hasName ? item.name : '(unnamed)'}' cannot be compiled as a node; attach it with a flow's { retry } option`);
    }
    if (item instanceof Atom) return this.addAtom(item, flow, pos, retry);
    if (item instanceof Flow) return this.flow(item, flow, pos, retry, depth);
    throw new InvariantViolation(`unknown object ${String(item)} requested to compile: only tasks and flows can be compiled`);
  }

  flow(f: Flow, parent: number, pos: number, parentRetry: number, depth: number): Ends {
    if (this.seen.has(f)) {
      throw new InvariantViolation(`flow '${f.name}' is added more than once in the flow tree; each flow object may appear once`, { subject: f.name });
    }
    this.seen.add(f);
    const index = this.flows.length;
    const placeholder = { index } as CompiledFlow;
    this.flows.push(placeholder);
    const retry = f.retry ? this.addAtom(f.retry, index, -1, parentRetry) : -1;
    const governing = retry >= 0 ? retry : parentRetry;
    const children = Array.from(f.iterNodes());
    const ends: Ends[] = new Array(children.length);
    for (let i = 0; i < children.length; i++) ends[i] = this.item(children[i]!, index, i, governing, depth + 1);

    const entries: number[] = [];
    const exits: number[] = [];
    let childSuccessors: readonly (readonly number[])[] = NO_SUCCESSORS;
    if (f.pattern === 'linear') {
      let first = -1;
      let last = -1;
      for (let i = 0; i < ends.length; i++) {
        const e = ends[i]!;
        if (isEmpty(e)) continue;
        if (last >= 0) this.connect(exitsOf(ends[last]!), entriesOf(e));
        else first = i;
        last = i;
      }
      if (first >= 0) {
        pushAll(entries, entriesOf(ends[first]!));
        pushAll(exits, exitsOf(ends[last]!));
      }
    } else if (f.pattern === 'unordered') {
      for (const e of ends) {
        pushAll(entries, entriesOf(e));
        pushAll(exits, exitsOf(e));
      }
    } else {
      const position = new Map<FlowItem, number>();
      for (let i = 0; i < children.length; i++) position.set(children[i]!, i);
      const successors: number[][] = children.map(() => []);
      const hasIn = new Uint8Array(children.length);
      const hasOut = new Uint8Array(children.length);
      for (const [u, v, meta] of f.iterLinks()) {
        const pu = position.get(u);
        const pv = position.get(v);
        if (pu === undefined || pv === undefined) continue;
        successors[pu]!.push(pv);
        const eu = ends[pu]!;
        const ev = ends[pv]!;
        if (isEmpty(eu) || isEmpty(ev)) continue;
        hasOut[pu] = 1;
        hasIn[pv] = 1;
        this.connect(exitsOf(eu), entriesOf(ev));
        if (meta.decider) {
          const sources = asList(exitsOf(eu));
          for (const target of asList(entriesOf(ev))) {
            const list = this.deciders.get(target) ?? [];
            list.push({ sources, decider: meta.decider, depth: meta.deciderDepth ?? 'ALL' });
            this.deciders.set(target, list);
          }
        }
      }
      for (let i = 0; i < ends.length; i++) {
        if (hasIn[i] === 0) pushAll(entries, entriesOf(ends[i]!));
        if (hasOut[i] === 0) pushAll(exits, exitsOf(ends[i]!));
      }
      childSuccessors = Object.freeze(successors.map((s) => Object.freeze(s)));
    }
    this.flows[index] = Object.freeze({ index, name: f.name, pattern: f.pattern, parent, depth, pos, retry, childSuccessors });
    if (retry >= 0) {
      this.connect(retry, entries);
      return { entries: [retry], exits: exits.length > 0 ? exits : [retry] };
    }
    if (entries.length === 0) {
      // A flow without atoms still orders what is linked before and after it (a → empty → b
      // keeps a before b): it becomes one pass-through node (a barrier with nothing inside).
      const b = -(++this.barriers);
      return { entries: [b], exits: [b] };
    }
    return { entries, exits };
  }

  finish(root: FlowItem): Compilation {
    if (this.dupes.size > 0) throw new DuplicateNameError([...this.dupes].sort());
    const n = this.atoms.length;
    const nodeCount = n + this.barriers;
    const edgeCount = this.from.length;
    const from = new Int32Array(edgeCount);
    const to = new Int32Array(edgeCount);
    for (let e = 0; e < edgeCount; e++) {
      const u = this.from[e]!;
      const v = this.to[e]!;
      from[e] = u >= 0 ? u : n - u - 1;
      to[e] = v >= 0 ? v : n - v - 1;
    }
    // Drop repeated edges (keeping the first): group edge ids by source, mark targets per row.
    const rowStart = new Int32Array(nodeCount + 1);
    for (let e = 0; e < edgeCount; e++) rowStart[from[e]! + 1]!++;
    for (let v = 0; v < nodeCount; v++) rowStart[v + 1]! += rowStart[v]!;
    const byRow = new Int32Array(edgeCount);
    const fill = rowStart.slice(0, nodeCount);
    for (let e = 0; e < edgeCount; e++) byRow[fill[from[e]!]!++] = e;
    const keep = new Uint8Array(edgeCount);
    const mark = new Int32Array(nodeCount).fill(-1);
    for (let u = 0; u < nodeCount; u++) {
      for (let k = rowStart[u]!; k < rowStart[u + 1]!; k++) {
        const e = byRow[k]!;
        if (mark[to[e]!] === u) continue;
        mark[to[e]!] = u;
        keep[e] = 1;
      }
    }
    const succ = rows(nodeCount, edgeCount, keep, from, to);
    const pred = rows(nodeCount, edgeCount, keep, to, from);
    const providers = new Map<string, number[]>();
    for (const a of this.atoms) {
      for (const name of a.atom.provided) {
        const list = providers.get(name);
        if (list === undefined) providers.set(name, [a.index]);
        else list.push(a.index);
      }
    }
    let drawn: ExecutionGraph | undefined;
    const compilation: Compilation = Object.freeze({
      root,
      rootName: root.name,
      atoms: Object.freeze(this.atoms),
      flows: Object.freeze(this.flows),
      graph: Object.freeze({ nodeCount, predStart: pred.start, predList: pred.list, succStart: succ.start, succList: succ.list }),
      deciders: this.deciders,
      byName: this.names,
      providers,
      toGraph: () => (drawn ??= buildGraph(compilation)),
    });
    return compilation;
  }
}

/** Compressed rows of the kept edges keyed by `key`, each row in edge order (a stable counting sort). */
function rows(nodeCount: number, edgeCount: number, keep: Uint8Array, key: Int32Array, value: Int32Array): { start: Int32Array; list: Int32Array } {
  const start = new Int32Array(nodeCount + 1);
  let kept = 0;
  for (let e = 0; e < edgeCount; e++) {
    if (keep[e] === 0) continue;
    start[key[e]! + 1]!++;
    kept++;
  }
  for (let v = 0; v < nodeCount; v++) start[v + 1]! += start[v]!;
  const list = new Int32Array(kept);
  const fill = start.slice(0, nodeCount);
  for (let e = 0; e < edgeCount; e++) if (keep[e] === 1) list[fill[key[e]!]!++] = value[e]!;
  return { start, list };
}

/**
 * Compiles a flow (or a single task, which becomes the only atom of an implicit flow named after it).
 */
export function compile(root: FlowItem): Compilation {
  const b = new Builder();
  if (root instanceof Flow) {
    b.flow(root, -1, 0, -1, 0);
  } else if (root instanceof Retry) {
    throw new InvariantViolation(`retry '${root.hasName ? root.name : '(unnamed)'}' cannot be the root of an engine; attach it to a flow`);
  } else if (root instanceof Atom) {
    b.flows.push(Object.freeze({ index: 0, name: root.name, pattern: 'linear', parent: -1, depth: 0, pos: 0, retry: -1, childSuccessors: [[]] }));
    b.addAtom(root, 0, 0, -1);
  } else {
    throw new InvariantViolation(`unknown object ${String(root)} requested to compile: load() takes a flow or a task`);
  }
  return b.finish(root);
}
