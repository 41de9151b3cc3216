/**
 * The registry and the graph model, off the engine's hot path (no budgets; figures for the notes):
 *
 * - `registry_flow`: n functions registered as a chain (each depending on the one before), then
 *   `flow()` (dependency check, graphlib cycle search, GraphFlow build), compile and run on the
 *   serial engine, per task.
 * - `to_graph`: `compilation.toGraph()` of a compiled n-atom linear flow (the graphlib `Graph`
 *   tools draw from), per atom; the compilation itself is not timed.
 */
import { LinearFlow, Registry, compile, load, task } from '../index.js';
import { check, measure, now, round, secs, type Sample } from './cases.js';

/** What run.ts prints (its `Line`, structurally). */
interface RegistryLine {
  readonly row: { readonly impl: 'atomflow-ts'; readonly case: string; readonly n: number; readonly seconds: number; readonly us_per_atom: number; readonly [k: string]: unknown };
  readonly note?: string;
  readonly perAtom?: boolean;
}

async function registryFlow(n: number): Promise<Sample> {
  const t0 = now();
  const reg = new Registry('bench');
  reg.task('t0', () => 0);
  for (let i = 1; i < n; i++) reg.task(`t${i}`, { dependsOn: [`t${i - 1}`] }, (args: Record<string, number>) => args[`t${i - 1}`]! + 1);
  const built = now();
  const e = load(reg.flow(), { engine: 'serial' });
  await e.run();
  const s = secs(t0);
  check(e.storage.get(`t${n - 1}`) === n - 1, 'registry chain did not compute');
  return { seconds: s, extra: { register_seconds: round(secs(t0, built), 4) } };
}

async function toGraph(n: number): Promise<Sample> {
  const flow = new LinearFlow('chain');
  for (let i = 0; i < n; i++) flow.add(task({ name: `t${i}`, execute: () => i }));
  const c = compile(flow);
  const t0 = now();
  const g = c.toGraph();
  const s = secs(t0);
  check(g.nodeCount() === n && g.edgeCount() === n - 1, 'toGraph lost nodes or edges');
  return { seconds: s };
}

const row = (name: string, m: { n: number; seconds: number; extra?: Readonly<Record<string, unknown>> }): RegistryLine['row'] => ({
  impl: 'atomflow-ts',
  case: name,
  n: m.n,
  seconds: round(m.seconds, 4),
  us_per_atom: round((m.seconds / m.n) * 1e6, 2),
  ...(m.extra ?? {}),
});

export const REGISTRY_CASES: Readonly<Record<string, (c: { readonly n: number }) => Promise<RegistryLine[]>>> = {
  registry_flow: async ({ n }) => [{ row: row('registry_flow', await measure(registryFlow, n)), perAtom: true, note: 'register + flow() + compile + serial run, per task; no budget' }],
  to_graph: async ({ n }) => [{ row: row('to_graph', await measure(toGraph, n)), perAtom: true, note: 'compilation.toGraph() (graphlib), per atom, tools only; no budget' }],
};
