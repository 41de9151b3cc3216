/**
 * Text drawings of a compiled flow's execution graph (`compilation.toGraph()`): Mermaid or
 * Graphviz dot. Atoms are boxes (retries hexagons), the edges the patterns and links make
 * (decider links dashed), flows nested boxes labelled with their pattern and retry, the internal
 * join (barrier) nodes small points. Optional states colour the atoms (e.g. a stored run's).
 * Used by `atomflow graph` and `Registry#visualize`.
 */
import type { ExecutionGraph, ExecNodeLabel } from './compiler/graph.js';

export type DrawFormat = 'mermaid' | 'dot';

export interface DrawOptions {
  readonly format?: DrawFormat;
  /** Atom name → state: colours the atoms. */
  readonly states?: ReadonlyMap<string, string>;
}

interface Node {
  readonly id: string;
  readonly kind: ExecNodeLabel['kind'];
  readonly label: string;
  readonly flow: number;
  readonly pos: number;
  readonly state: string | undefined;
}

interface Model {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly edges: readonly { readonly from: string; readonly to: string; readonly decider: boolean }[];
  readonly flows: readonly { readonly label: string; readonly parent: number; readonly pos: number }[];
}

const FILL: Readonly<Record<string, string>> = {
  PENDING: '#eeeeee',
  RUNNING: '#bbdefb',
  SUCCESS: '#c8e6c9',
  FAILURE: '#ffcdd2',
  REVERTING: '#ffe0b2',
  REVERTED: '#fff3cd',
  REVERT_FAILURE: '#ef9a9a',
  RETRYING: '#e1bee7',
  IGNORE: '#e0e0e0',
};

function model(g: ExecutionGraph, states: ReadonlyMap<string, string> | undefined): Model {
  const { name, flows } = g.graph();
  const labels = g.nodes().map((v) => g.node(v));
  const atoms = labels.filter((l) => l.kind !== 'barrier').length;
  const idOf = (l: ExecNodeLabel): string => (l.kind === 'barrier' ? `b${l.node - atoms}` : `a${l.node}`);
  const nodes: Node[] = labels
    .sort((a, b) => a.node - b.node)
    .map((l) => ({ id: idOf(l), kind: l.kind, label: l.name, flow: l.flow, pos: l.pos, state: l.kind === 'barrier' ? undefined : states?.get(l.name) }));
  const edges = g
    .edges()
    .map((e) => ({ u: g.node(e.v), v: g.node(e.w), decider: g.edge(e).decider }))
    .sort((x, y) => x.u.node - y.u.node)
    .map(({ u, v, decider }) => ({ from: idOf(u), to: idOf(v), decider }));
  const retryName = (f: number): string => labels.find((l) => l.node === f)?.name ?? String(f);
  return {
    name,
    nodes,
    edges,
    flows: flows.map((f) => ({
      label: `${f.name} (${f.pattern}${f.retry >= 0 ? `, retry ${retryName(f.retry)}` : ''})`,
      parent: f.parent,
      pos: f.pos,
    })),
  };
}

/** Visits the flows depth-first, children in flow order, calling `open`/`close` around each flow and `node` for each node. */
function walk(m: Model, visit: { open(f: number, depth: number): void; close(f: number, depth: number): void; node(node: Node, depth: number): void }): void {
  type Child = { readonly pos: number; readonly flow?: number; readonly node?: Node };
  const children = (parent: number): Child[] => {
    const out: Child[] = [];
    m.flows.forEach((f, i) => f.parent === parent && out.push({ pos: f.pos, flow: i }));
    for (const node of m.nodes) if (node.flow === parent) out.push({ pos: node.pos, node });
    return out.sort((a, b) => a.pos - b.pos);
  };
  const rec = (parent: number, depth: number): void => {
    for (const child of children(parent)) {
      if (child.node !== undefined) {
        visit.node(child.node, depth);
      } else if (child.flow !== undefined) {
        visit.open(child.flow, depth);
        rec(child.flow, depth + 1);
        visit.close(child.flow, depth);
      }
    }
  };
  rec(-1, 0);
}

function toMermaid(m: Model): string {
  const q = (s: string) => `"${s.replace(/"/g, '#quot;')}"`;
  const lines = ['flowchart TD'];
  const pad = (d: number) => '  '.repeat(d + 1);
  walk(m, {
    open: (f, d) => lines.push(`${pad(d)}subgraph f${f}[${q(m.flows[f]!.label)}]`, `${pad(d + 1)}direction TB`),
    close: (_f, d) => lines.push(`${pad(d)}end`),
    node: (node, d) => {
      const label = node.state ? `${node.label} · ${node.state}` : node.label;
      if (node.kind === 'barrier') lines.push(`${pad(d)}${node.id}((" ")):::barrier`);
      else if (node.kind === 'retry') lines.push(`${pad(d)}${node.id}{{${q(label)}}}`);
      else lines.push(`${pad(d)}${node.id}[${q(label)}]`);
    },
  });
  for (const e of m.edges) lines.push(e.decider ? `  ${e.from} -. decider .-> ${e.to}` : `  ${e.from} --> ${e.to}`);
  lines.push('  classDef barrier fill:#999,stroke:#999,color:#999');
  const byState = new Map<string, string[]>();
  for (const node of m.nodes) if (node.state) byState.set(node.state, [...(byState.get(node.state) ?? []), node.id]);
  for (const [state, ids] of byState) {
    lines.push(`  classDef ${state} fill:${FILL[state] ?? '#ffffff'},stroke:#555`);
    lines.push(`  class ${ids.join(',')} ${state}`);
  }
  return lines.join('\n');
}

function toDot(m: Model): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  const lines = [`digraph ${q(m.name)} {`, '  rankdir=TB;', '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];'];
  const pad = (d: number) => '  '.repeat(d + 1);
  walk(m, {
    open: (f, d) => lines.push(`${pad(d)}subgraph ${q(`cluster_f${f}`)} {`, `${pad(d + 1)}label=${q(m.flows[f]!.label)}; style=rounded; color="#888888";`),
    close: (_f, d) => lines.push(`${pad(d)}}`),
    node: (node, d) => {
      if (node.kind === 'barrier') {
        lines.push(`${pad(d)}${node.id} [shape=point, width=0.08, label=""];`);
        return;
      }
      const attrs = [`label=${q(node.state ? `${node.label}\n${node.state}` : node.label)}`];
      if (node.kind === 'retry') attrs.push('shape=hexagon');
      if (node.state) attrs.push(`fillcolor=${q(FILL[node.state] ?? '#ffffff')}`);
      lines.push(`${pad(d)}${node.id} [${attrs.join(', ')}];`);
    },
  });
  for (const e of m.edges) lines.push(`  ${e.from} -> ${e.to}${e.decider ? ' [style=dashed, label="decider"]' : ''};`);
  lines.push('}');
  return lines.join('\n');
}

/** The graph as Mermaid (default) or Graphviz dot text. */
export function drawGraph(g: ExecutionGraph, options: DrawOptions = {}): string {
  const m = model(g, options.states);
  return options.format === 'dot' ? toDot(m) : toMermaid(m);
}
