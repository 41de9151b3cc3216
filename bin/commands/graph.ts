/**
 * `atomflow graph --module <file>`: the compiled execution graph as Mermaid or Graphviz dot —
 * atoms (tasks as boxes, retries as hexagons), the edges the patterns and links make (decider
 * links dashed), flows as nested boxes labelled with their pattern and retry, and the internal
 * join (barrier) nodes as small points. With `--db` and `--flow`, atoms are coloured by the state
 * stored for that run. A module exporting a `Registry` (functions as flows) draws the registry's
 * flow, optionally of some `--targets` and what they need. Drawn from `compilation.toGraph()`.
 */
import { compile } from '../../engines/compiler/compile.js';
import { drawGraph } from '../../engines/draw.js';
import { NotFound } from '../../lib/errors.js';
import { EXIT, HELP, UsageError, input, loadFlowSource, oneOf, openStore, parseCommand, positionals, type Command, type Io } from './common.js';

const usage = `Usage: atomflow graph --module <file> [options]

Prints the compiled graph of a module's flow: atoms, the order between them, decider links
(dashed), retry scopes (the flows they govern), and the internal join points.

Options:
  --module <file>        the compiled module (.js/.mjs) that exports the flow
  --export <name>        a flow, a function returning one, or a Registry (default: 'flow', else
                         the default export, else the module's only Registry)
  --targets <a,b>        with a Registry: only these tasks and what they need
  --format <fmt>         mermaid (default) or dot
  --db <db> --flow <uuid>  colour the atoms by the states stored for that run
  -h, --help             this help`;

const OPTIONS = { ...HELP, module: { type: 'string' }, export: { type: 'string' }, format: { type: 'string' }, targets: { type: 'string' }, db: { type: 'string' }, flow: { type: 'string' } } as const;

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
  const targets = values.targets?.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  if (targets !== undefined && targets.length === 0) throw new UsageError('--targets needs task ids, separated by commas');
  const source = await loadFlowSource(values.module, values.export, io, targets === undefined ? {} : { targets });
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
  io.stdout.write(`${drawGraph(compilation.toGraph(), { format, ...(states ? { states } : {}) })}\n`);
  return EXIT.OK;
}

export const graph: Command = { name: 'graph', summary: 'print the compiled flow graph (mermaid or dot), coloured by a stored run', usage, run };
