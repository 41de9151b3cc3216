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

/** The execution graph: nodes 0..atoms-1 are atoms, the rest barriers. Adjacency is read-only. */
export interface ExecGraph {
  readonly nodeCount: number;
  readonly preds: readonly (readonly number[])[];
  readonly succs: readonly (readonly number[])[];
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
}

interface Ends {
  entries: number[];
  exits: number[];
}

/** Above this many direct edges a join goes through one barrier node. */
const BARRIER_THRESHOLD = 4;

class Builder {
  readonly atoms: CompiledAtom[] = [];
  readonly flows: CompiledFlow[] = [];
  readonly preds: number[][] = [];
  readonly succs: number[][] = [];
  readonly barriers: Array<[number[], number[]]> = [];
  readonly deciders = new Map<number, DeciderEdge[]>();
  readonly seen = new Set<FlowItem>();
  readonly names = new Map<string, number>();
  readonly dupes = new Set<string>();
  readonly edges: Array<[number, number]> = [];

  addAtom(atom: Atom, flow: number, pos: number, retry: number): number {
    if (this.seen.has(atom)) {
      throw new InvariantViolation(`atom '${atom.name}' is added more than once in the flow tree; each atom object may appear once`, {
        subject: atom.name,
      });
    }
    this.seen.add(atom);
    const index = this.atoms.length;
    const name = atom.name;
    if (this.names.has(name)) this.dupes.add(name);
    else this.names.set(name, index);
    this.atoms.push(Object.freeze({ index, atom, name, kind: atom.kind, priority: atom.priority, flow, pos, retry }));
    return index;
  }

  // Edges are recorded between atoms or barrier placeholders (negative ids until finalised).
  connect(exits: readonly number[], entries: readonly number[]): void {
    if (exits.length === 0 || entries.length === 0) return;
    if (exits.length * entries.length > exits.length + entries.length + BARRIER_THRESHOLD) {
      const b = -(this.barriers.length + 1);
      this.barriers.push([[...exits], [...entries]]);
      for (const u of exits) this.edges.push([u, b]);
      for (const v of entries) this.edges.push([b, v]);
      return;
    }
    for (const u of exits) for (const v of entries) this.edges.push([u, v]);
  }

  item(item: FlowItem, flow: number, pos: number, retry: number, depth: number): Ends {
    if (item instanceof Retry) {
      throw new InvariantViolation(`retry '${item.hasName ? item.name : '(unnamed)'}' cannot be compiled as a node; attach it with a flow's { retry } option`);
    }
    if (item instanceof Atom) {
      const i = this.addAtom(item, flow, pos, retry);
      return { entries: [i], exits: [i] };
    }
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
    const children = [...f.iterNodes()];
    const ends = children.map((c, i) => this.item(c, index, i, governing, depth + 1));
    const position = new Map<FlowItem, number>(children.map((c, i) => [c, i]));
    const childSuccessors: number[][] = children.map(() => []);
    const hasIn = children.map(() => false);
    const hasOut = children.map(() => false);

    if (f.pattern === 'linear') {
      let prev: Ends | undefined;
      ends.forEach((e, i) => {
        if (e.entries.length === 0) return;
        if (prev) {
          this.connect(prev.exits, e.entries);
          hasIn[i] = true;
        }
        prev = e;
      });
      ends.forEach((e, i) => (hasOut[i] = prev !== undefined && e !== prev && e.entries.length > 0));
    } else if (f.pattern === 'graph') {
      for (const [u, v, meta] of f.iterLinks()) {
        const pu = position.get(u);
        const pv = position.get(v);
        if (pu === undefined || pv === undefined) continue;
        childSuccessors[pu]!.push(pv);
        const eu = ends[pu]!;
        const ev = ends[pv]!;
        if (eu.exits.length === 0 || ev.entries.length === 0) continue;
        hasOut[pu] = true;
        hasIn[pv] = true;
        this.connect(eu.exits, ev.entries);
        if (meta.decider) {
          for (const target of ev.entries) {
            const list = this.deciders.get(target) ?? [];
            list.push({ sources: eu.exits, decider: meta.decider, depth: meta.deciderDepth ?? 'ALL' });
            this.deciders.set(target, list);
          }
        }
      }
    }
    const entries = ends.flatMap((e, i) => (hasIn[i] ? [] : e.entries));
    const exits = ends.flatMap((e, i) => (hasOut[i] ? [] : e.exits));
    this.flows[index] = Object.freeze({
      index,
      name: f.name,
      pattern: f.pattern,
      parent,
      depth,
      pos,
      retry,
      childSuccessors: Object.freeze(childSuccessors.map((s) => Object.freeze(s))),
    });
    if (retry >= 0) {
      this.connect([retry], entries);
      return { entries: [retry], exits: exits.length > 0 ? exits : [retry] };
    }
    return { entries, exits };
  }

  finish(root: FlowItem): Compilation {
    if (this.dupes.size > 0) throw new DuplicateNameError([...this.dupes].sort());
    const n = this.atoms.length;
    const nodeCount = n + this.barriers.length;
    const preds: number[][] = Array.from({ length: nodeCount }, () => []);
    const succs: number[][] = Array.from({ length: nodeCount }, () => []);
    const id = (x: number) => (x >= 0 ? x : n + (-x - 1));
    const seenEdge = new Set<number>();
    for (const [u0, v0] of this.edges) {
      const u = id(u0);
      const v = id(v0);
      const key = u * nodeCount + v;
      if (seenEdge.has(key)) continue;
      seenEdge.add(key);
      succs[u]!.push(v);
      preds[v]!.push(u);
    }
    const providers = new Map<string, number[]>();
    for (const a of this.atoms) {
      for (const name of a.atom.provided) {
        const list = providers.get(name) ?? [];
        list.push(a.index);
        providers.set(name, list);
      }
    }
    return Object.freeze({
      root,
      rootName: root.name,
      atoms: Object.freeze(this.atoms),
      flows: Object.freeze(this.flows),
      graph: Object.freeze({ nodeCount, preds, succs }),
      deciders: this.deciders,
      byName: this.names,
      providers,
    });
  }
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
