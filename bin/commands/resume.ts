/**
 * `atomflow resume <db> <flow-uuid>`: continues a stored run (after a crash, a Ctrl-C, a failed
 * revert) with the flow built by the user's module — what `resume(uuid, { backend, factory })`
 * does, with the live display attached before the run starts.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../../engines/load.js';
import { NotFound } from '../../lib/errors.js';
import type { FlowDetail } from '../../persistence/models.js';
import { drive } from './drive.js';
import {
  EXIT,
  HELP,
  flowOption,
  resumeCommand,
  UsageError,
  input,
  loadFlowSource,
  engineOption,
  openStore,
  parseCommand,
  positiveInt,
  positionals,
  self,
  sh,
  shortPath,
  type Command,
  type Io,
} from './common.js';

const usage = `Usage: atomflow resume <db> <flow-uuid> [options]

Continues a stored run from where it stopped: atoms that finished are not run again; the one
that was running when the process died runs again (or is reverted, per its stored intention).

Arguments:
  <db>                   the SQLite store (path) or a backend URI
  <flow-uuid>            the flow detail to continue ('atomflow inspect <db>' lists them); one
                         that starts with '-' goes last, after '--': resume <db> [options] -- <uuid>

Options:
  --module <file>        the module that builds the flow (default: the one recorded with the
                         run by 'atomflow run' or 'atomflow demo', if it lies inside the current
                         directory: a store never chooses code to run from elsewhere)
  --export <name>        its export: a flow, or a function returning one (default: 'flow', else
                         the default export; the recorded export when --module is not given)
  --engine <kind>        serial, parallel or worker (default: $ATOMFLOW_ENGINE, else serial)
  --max-workers <n>      parallel engine concurrency
  --plain                one line per transition even on a terminal
  -h, --help             this help

Exit code: 0 finished (or nothing left to do), 1 rolled back, 2 bad input, 3 suspended.`;

const OPTIONS = {
  ...HELP,
  module: { type: 'string' },
  export: { type: 'string' },
  engine: { type: 'string' },
  'max-workers': { type: 'string' },
  plain: { type: 'boolean' },
} as const;

function recordedFactory(fd: FlowDetail): { module: string; export: string } | undefined {
  const f = fd.meta['factory'] as { module?: unknown; export?: unknown } | undefined;
  if (f === undefined || f === null || typeof f !== 'object' || typeof f.module !== 'string') return undefined;
  return { module: f.module, export: typeof f.export === 'string' ? f.export : 'flow' };
}

/** atomflow's own folder (the demo's module lives there). */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Whether a module path recorded in a store may be imported without being named on the command
 * line: only one inside the current directory or atomflow's own (the demo).
 */
function trusted(module: string, io: Io): boolean {
  const path = resolve(io.cwd, module);
  const inside = (root: string): boolean => {
    const rel = relative(root, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  return inside(io.cwd) || inside(PACKAGE_ROOT);
}

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('resume', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  const [db, uuid] = positionals('resume', given, ['db', 'flow-uuid']) as [string, string];
  const chosenEngine = engineOption(values.engine);
  // Without --engine, load() takes ATOMFLOW_ENGINE (and refuses a bad value naming it).
  const engineKind = chosenEngine ?? (io.env['ATOMFLOW_ENGINE'] || 'serial');
  const maxWorkers = positiveInt('max-workers', values['max-workers']);
  const { backend, label } = await openStore(db, io, true);
  try {
    let stored: FlowDetail;
    try {
      stored = await backend.getFlowDetail(uuid);
    } catch (e) {
      if (e instanceof NotFound) throw new UsageError(`no flow '${uuid}' in ${label} ('atomflow inspect ${db}' lists them)`);
      throw new UsageError(e instanceof Error ? e.message : String(e), { cause: e });
    }
    if (stored.state === 'SUCCESS') {
      io.stdout.write(`flow '${stored.name}' (${uuid}) already finished: SUCCESS; nothing to resume\n`);
      return EXIT.OK;
    }
    if (stored.state === 'REVERTED') {
      throw new UsageError(`flow '${stored.name}' (${uuid}) ended REVERTED (rolled back); there is nothing to resume`);
    }
    const recorded = recordedFactory(stored);
    if (values.module === undefined && recorded !== undefined && !trusted(recorded.module, io)) {
      // A store is data: it must not choose code for us to run.
      throw new UsageError(
        `--module is required: the run records module ${recorded.module}, which is outside this directory; pass --module ${sh(recorded.module)} if you trust it`,
      );
    }
    const file = values.module ?? recorded?.module;
    if (file === undefined) throw new UsageError(`--module is required: flow '${stored.name}' (${uuid}) does not record the module that builds it`);
    const exportName = values.export ?? (values.module === undefined ? recorded?.export : undefined);
    const source = await loadFlowSource(file, exportName, io);
    const engine = await input(async () => {
      const flow = await source.build();
      const e = load(flow, { backend, flowDetail: uuid, ...(chosenEngine !== undefined ? { engine: chosenEngine } : {}), ...(maxWorkers !== undefined ? { maxWorkers } : {}) });
      if (e.compile().rootName !== stored.name) {
        throw new UsageError(`export '${source.exportName}' of ${file} builds flow '${e.compile().rootName}', but the stored run is of flow '${stored.name}'`);
      }
      await e.prepare();
      e.validate();
      return e;
    });
    const counts = new Map<string, number>();
    for (const d of engine.flowDetail.atomDetails) counts.set(d.state, (counts.get(d.state) ?? 0) + 1);
    const where = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
    io.stdout.write(`resuming flow '${stored.name}' (${uuid}) from ${label}: it was ${stored.state ?? 'never run'} (${where}); ${engineKind} engine\n`);
    for (const d of engine.flowDetail.atomDetails) {
      if (d.state === 'RUNNING') io.stdout.write(`  '${d.name}' was running when the run stopped: it ${d.intention === 'REVERT' ? 'is reverted' : 'runs again'}\n`);
      if (d.state === 'REVERTING') io.stdout.write(`  '${d.name}' was being reverted when the run stopped: its revert runs again\n`);
    }
    io.stdout.write('\n');
    const cli = self(io);
    const moduleArg = shortPath(source.module, io);
    const result = await drive({
      engine,
      io,
      plain: values.plain === true,
      hints: {
        inspect: `${cli} inspect ${sh(db)} ${flowOption(uuid)}`,
        resume: resumeCommand(cli, db, uuid, `--module ${sh(moduleArg)} --export ${sh(source.exportName)}`),
      },
    });
    return result.code;
  } finally {
    await backend.close();
  }
}

export const resume: Command = { name: 'resume', summary: 'continue a stored run (after a crash or Ctrl-C)', usage, run };
