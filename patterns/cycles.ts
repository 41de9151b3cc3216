/**
 * Cycle reports: one cycle of a directed graph as the path of its nodes, back to the first. The
 * strongly connected parts come from graphlib's `alg.findCycles`; the path is walked inside the
 * part that holds the earliest node (in the order the nodes are given). Used on error paths only.
 */
import { Graph, alg } from '@dagrejs/graphlib';

export function findCyclePath(nodes: readonly string[], edges: Iterable<readonly [from: string, to: string]>): string[] | undefined {
  const g = new Graph({ directed: true });
  for (const v of nodes) g.setNode(v);
  for (const [u, v] of edges) g.setEdge(u, v);
  const cycles = alg.findCycles(g);
  if (cycles.length === 0) return undefined;
  const order = new Map(nodes.map((v, i) => [v, i]));
  const first = (part: readonly string[]): number => Math.min(...part.map((v) => order.get(v) ?? Infinity));
  const part = new Set(cycles.sort((x, y) => first(x) - first(y))[0]!);
  const start = nodes.find((v) => part.has(v))!;
  // Depth-first inside the part back to `start` (every node of a strongly connected part reaches it).
  const path = [start];
  const seen = new Set([start]);
  const walk = (v: string): boolean => {
    for (const w of g.successors(v) ?? []) {
      if (!part.has(w)) continue;
      if (w === start) return path.push(w), true;
      if (seen.has(w)) continue;
      seen.add(w);
      path.push(w);
      if (walk(w)) return true;
      path.pop();
    }
    return false;
  };
  walk(start);
  return path;
}
