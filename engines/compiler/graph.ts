/**
 * The execution graph as a `@dagrejs/graphlib` `Graph`, for tools (drawing, cycle reports,
 * analysis). The engine keeps its compact rows (`ExecGraph`); this is built from them on demand,
 * once per compilation, and never read by the runtime.
 *
 * Nodes are keyed by atom name (names are unique in a compilation); the internal join (barrier)
 * nodes by `(join <k>)` (with a suffix in the unlikely case an atom has that name). Each node's
 * label says what it is, the flow it is drawn in and its position there; each edge's label
 * whether a decider guards it. The graph's label holds the root name and the compiled flows.
 */
import { Graph } from '@dagrejs/graphlib';
import type { AtomKind } from '../../lib/states.js';
import type { Compilation, CompiledFlow } from './compile.js';

export interface ExecNodeLabel {
  readonly kind: AtomKind | 'barrier';
  /** The atom's name ('' for a barrier). */
  readonly name: string;
  /** The node's number in the compilation (atoms first, then barriers). */
  readonly node: number;
  /** The flow it sits in (for a barrier: the innermost flow around all its neighbours; -1 none). */
  readonly flow: number;
  /** Its position among the flow's children (-1: the flow's retry; barriers: Infinity, drawn last). */
  readonly pos: number;
}

export interface ExecEdgeLabel {
  /** Whether a decider link guards this edge. */
  readonly decider: boolean;
}

export interface ExecGraphLabel {
  readonly name: string;
  readonly flows: readonly CompiledFlow[];
}

export type ExecutionGraph = Graph<ExecGraphLabel, ExecNodeLabel, ExecEdgeLabel>;

const rowOf = (start: Int32Array, list: Int32Array, v: number): Int32Array => list.subarray(start[v]!, start[v + 1]!);

/** Builds the graphlib graph of a compilation (see the module comment). */
export function buildGraph(c: Compilation): ExecutionGraph {
  const n = c.atoms.length;
  const { nodeCount, predStart, predList, succStart, succList } = c.graph;
  const ids: string[] = new Array(nodeCount);
  for (const a of c.atoms) ids[a.index] = a.name;
  for (let v = n; v < nodeCount; v++) {
    let id = `(join ${v - n})`;
    while (c.byName.has(id)) id += "'";
    ids[v] = id;
  }
  const chain = (f: number): number[] => {
    const out: number[] = [];
    for (let x = f; x >= 0; x = c.flows[x]!.parent) out.unshift(x);
    return out;
  };
  const common = (flows: readonly number[]): number => {
    const chains = flows.map(chain);
    let depth = 0;
    while (chains.every((ch) => ch[depth] !== undefined && ch[depth] === chains[0]![depth])) depth++;
    return depth === 0 ? -1 : chains[0]![depth - 1]!;
  };
  const g: ExecutionGraph = new Graph({ directed: true });
  g.setGraph(Object.freeze({ name: c.rootName, flows: c.flows }));
  for (const a of c.atoms) g.setNode(a.name, Object.freeze({ kind: a.kind, name: a.name, node: a.index, flow: a.flow, pos: a.pos }));
  for (let v = n; v < nodeCount; v++) {
    const around: number[] = [];
    for (const u of rowOf(predStart, predList, v)) if (u < n) around.push(c.atoms[u]!.flow);
    for (const u of rowOf(succStart, succList, v)) if (u < n) around.push(c.atoms[u]!.flow);
    g.setNode(ids[v]!, Object.freeze({ kind: 'barrier' as const, name: '', node: v, flow: around.length === 0 ? -1 : common(around), pos: Infinity }));
  }
  const guarded = (u: number, v: number): boolean => {
    const list = c.deciders.get(v);
    if (list === undefined) return false;
    if (u < n) return list.some((d) => d.sources.includes(u));
    return Array.from(rowOf(predStart, predList, u)).every((p) => list.some((d) => d.sources.includes(p)));
  };
  for (let u = 0; u < nodeCount; u++) {
    for (const v of rowOf(succStart, succList, u)) g.setEdge(ids[u]!, ids[v]!, Object.freeze({ decider: guarded(u, v) }));
  }
  return g;
}
