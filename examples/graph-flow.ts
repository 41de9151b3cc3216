/**
 * Inferred ordering in a graph flow (TaskFlow's `graph_flow` example, in our words).
 *
 * A few adders compute a small system of equations. No task says what runs before what: each
 * one only names its inputs (through `rebind`) and its output (`provides`), and the graph flow
 * orders them from that, subflows included. The same flow is run on the serial and on the
 * parallel engine, and both must compute the same values.
 */
import { GraphFlow, LinearFlow, Task, run, type AtomContext, type EngineKind } from '../index.js';

class Adder extends Task<{ x: number; y: number }, number> {
  static override requires = ['x', 'y'];
  execute({ x, y }: { x: number; y: number }, _ctx: AtomContext): number {
    return x + y;
  }
}

const adder = (name: string, provides: string, inputs: [string, string]): Adder => new Adder({ name, provides, rebind: inputs });

export function makeFlow(): GraphFlow {
  return new GraphFlow('root').add(
    // A linear subflow inside the graph: its order is kept, and what it needs and provides links it to the rest.
    new LinearFlow('nested_linear').add(
      adder('add2', 'x2', ['y3', 'y4']), // x2 = y3 + y4 = 12
      adder('add1', 'x1', ['y1', 'y2']), // x1 = y1 + y2 = 4
    ),
    adder('add5', 'x5', ['x1', 'x3']), // x5 = x1 + x3 = 20
    adder('add3', 'x3', ['x1', 'x2']), // x3 = x1 + x2 = 16
    adder('add4', 'x4', ['x2', 'y5']), // x4 = x2 + y5 = 21
    adder('add6', 'x6', ['x5', 'x4']), // x6 = x5 + x4 = 41
    adder('add7', 'x7', ['x6', 'x6']), // x7 = x6 + x6 = 82
  );
}

const STORE = { y1: 1, y2: 3, y3: 5, y4: 7, y5: 9 };

const EXPECTED: ReadonlyArray<readonly [string, number]> = [
  ['x1', 4],
  ['x2', 12],
  ['x3', 16],
  ['x4', 21],
  ['x5', 20],
  ['x6', 41],
  ['x7', 82],
];

/** `{ b: 2, a: 1 }` as `a=1, b=2` (sorted, so the line does not depend on completion order). */
function show(values: Record<string, unknown>): string {
  return Object.keys(values)
    .sort()
    .map((k) => `${k}=${JSON.stringify(values[k])}`)
    .join(', ');
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const wrong: string[] = [];
  const kinds: ReadonlyArray<readonly [EngineKind, string]> = [
    ['serial', 'Single threaded (serial) engine'],
    ['parallel', 'Concurrent (parallel) engine'],
  ];
  for (const [engine, label] of kinds) {
    const result = await run(makeFlow(), { engine, store: STORE });
    log(`${label} result: ${show(result)}`);
    for (const [name, value] of EXPECTED) {
      if (result[name] !== value) wrong.push(`${engine}: ${name} is ${JSON.stringify(result[name])}, expected ${value}`);
    }
  }
  if (wrong.length > 0) throw new Error(`unexpected results:\n${wrong.join('\n')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
