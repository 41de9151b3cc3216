/**
 * `atomflow graph --module <file>`: the compiled execution graph as Mermaid or Graphviz dot —
 * atoms (tasks as boxes, retries as hexagons), the edges the patterns and links make (decider
 * links dashed), flows as nested boxes labelled with their pattern and retry, and the internal
 * join (barrier) nodes as small points. With `--db` and `--flow`, atoms are coloured by the state
 * stored for that run.
 */
import { compile, predsOf, succsOf, type Compilation } from '../../engines/compiler/compile.js';
import { NotFound } from '../../lib/errors.js';
import { EXIT, HELP, UsageError, input, loadFlowSource, oneOf, openStore, parseCommand, positionals, type Command, type Io } from './common.js';

const usage = `Usage: atomflow graph --module <file> [options]

Prints the compiled graph of a module's flow: atoms, the order between them, decider links
(dashed), retry scopes (the flows they govern), and the internal join points.

Options:
  --module <file>        the compiled module (.js/.mjs) that exports the flow
  --export <name>        a flow, or a function returning one (default: 'flow', else the default export)
  --format <fmt>         mermaid (default) or dot
  --db <db> --flow <uuid>  colour the atoms by the states stored for that run
  -h, --help             this help`;

const OPTIONS = { ...HELP, module: { type: 'string' }, export: { type: 'string' }, format: { type: 'string' }, db: { type: 'string' }, flow: { type: 'string' } } as const;

interface Node {
  readonly id: string;
  readonly kind: 'task' | 'retry' | 'barrier';
  readonly label: string;
  /** The flow it is drawn in (-1: outside every flow). */
  readonly flow: number;
  /** Its position among the flow's children (-1: the flow's retry; barriers come last). */
  readonly pos: number;
  readonly state: string | undefined;
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly decider: boolean;
}

interface Model {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly edges: readonly Edge[];
  readonly flows: readonly { readonly name: string; readonly label: string; readonly parent: number; readonly pos: number }[];
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

/** The graph as nodes, edges and flows (barriers placed in the innermost flow around all their neighbours). */
export function graphModel(c: Compilation, states?: ReadonlyMap<string, string>): Model {
  const n = c.atoms.length;
  const id = (v: number) => (v < n ? `a${v}` : `b${v - n}`);
  const chain = (f: number): number[] => {
    const out: number[] = [];
    for (let x = f; x >= 0; x = c.flows[x]!.parent) out.unshift(x);
    return out;
  };
  const common = (flows: number[]): number => {
    const chains = flows.map(chain);
    let depth = 0;
    while (chains.every((ch) => ch[depth] !== undefined && ch[depth] === chains[0]![depth])) depth++;
    return depth === 0 ? -1 : chains[0]![depth - 1]!;
  };
  const flowOf = (v: number): number => (v < n ? c.atoms[v]!.flow : -1);
  const nodes: Node[] = [];
  for (const a of c.atoms) nodes.push({ id: id(a.index), kind: a.kind, label: a.name, flow: a.flow, pos: a.pos, state: states?.get(a.name) });
  for (let v = n; v < c.graph.nodeCount; v++) {
    const around = [...predsOf(c.graph, v), ...succsOf(c.graph, v)].filter((u) => u < n).map(flowOf);
    nodes.push({ id: id(v), kind: 'barrier', label: '', flow: around.length === 0 ? -1 : common(around), pos: Infinity, state: undefined });
  }
  const isDecider = (u: number, v: number): boolean => {
    const list = c.deciders.get(v);
    if (list === undefined) return false;
    if (u < n) return list.some((d) => d.sources.includes(u));
    return predsOf(c.graph, u).every((p) => list.some((d) => d.sources.includes(p)));
  };
  const edges: Edge[] = [];
  for (let u = 0; u < c.graph.nodeCount; u++) for (const v of succsOf(c.graph, u)) edges.push({ from: id(u), to: id(v), decider: isDecider(u, v) });
  const flows = c.flows.map((f) => ({
    name: f.name,
    label: `${f.name} (${f.pattern}${f.retry >= 0 ? `, retry ${c.atoms[f.retry]!.name}` : ''})`,
    parent: f.parent,
    pos: f.pos,
  }));
  return { name: c.rootName, nodes, edges, flows };
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

export function toMermaid(m: Model): string {
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

export function toDot(m: Model): string {
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

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('graph', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  positionals('graph', given, []);
  if (values.module === undefined) throw new UsageError("'atomflow graph' needs --module <file> (see atomflow graph --help)");
  const format = oneOf('format', values.format, ['mermaid', 'dot'] as const, 'mermaid');
  if ((values.db === undefined) !== (values.flow === undefined)) throw new UsageError('--db and --flow go together: the store and the run to colour by');
  const source = await loadFlowSource(values.module, values.export, io);
  const compilation = await input(async () => compile(await source.build()));
  let states: Map<string, string> | undefined;
  if (values.db !== undefined && values.flow !== undefined) {
    const { backend, label } = await openStore(values.db, io, true);
    try {
      const fd = await backend.getFlowDetail(values.flow).catch((e: unknown) => {
        throw new UsageError(e instanceof NotFound ? `no flow '${values.flow}' in ${label}` : e instanceof Error ? e.message : String(e), { cause: e });
      });
      if (fd.name !== compilation.rootName) throw new UsageError(`flow '${values.flow}' in ${label} is a run of '${fd.name}', not of '${compilation.rootName}'`);
      states = new Map(fd.atomDetails.map((d) => [d.name, d.state]));
    } finally {
      await backend.close();
    }
  }
  const model = graphModel(compilation, states);
  io.stdout.write(`${format === 'dot' ? toDot(model) : toMermaid(model)}\n`);
  return EXIT.OK;
}

export const graph: Command = { name: 'graph', summary: 'print the compiled flow graph (mermaid or dot), coloured by a stored run', usage, run };
