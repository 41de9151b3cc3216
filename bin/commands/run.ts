/** `atomflow run --module <file>`: runs a user's flow with the live display. */
import { load } from '../../engines/load.js';
import { MemoryBackend } from '../../persistence/memory.js';
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
  positionals,
  positiveInt,
  self,
  sh,
  shortPath,
  type Command,
  type Io,
  type Store,
} from './common.js';

const usage = `Usage: atomflow run --module <file> [options]

Runs the flow a module exports, with a live display of its atoms (plain lines when stdout is
not a terminal), and prints its results.

Options:
  --module <file>        the compiled module (.js/.mjs) that exports the flow
  --export <name>        a flow, or a function returning one (default: 'flow', else the default export)
  --engine <kind>        serial, parallel or worker (default: $ATOMFLOW_ENGINE, else serial)
  --max-workers <n>      parallel engine concurrency (default 8)
  --backend <db|uri>     persist the run: a SQLite file path or a backend URI (default: in memory)
  --store <key=value>    an initial value (repeatable); the value is JSON if it parses, else a string
  --print                TaskFlow-style transition lines (PrintingListener) instead of the display
  --plain                one line per transition even on a terminal
  -h, --help             this help

Exit code: 0 success, 1 the flow failed (rolled back), 2 bad input, 3 suspended (Ctrl-C).`;

const OPTIONS = {
  ...HELP,
  module: { type: 'string' },
  export: { type: 'string' },
  engine: { type: 'string' },
  'max-workers': { type: 'string' },
  backend: { type: 'string' },
  store: { type: 'string', multiple: true },
  print: { type: 'boolean' },
  plain: { type: 'boolean' },
} as const;

/** `k=v` pairs; `v` is JSON when it parses (`n=3`, `ok=true`, `xs=[1,2]`), else the string itself. */
export function parseStore(pairs: readonly string[]): Record<string, unknown> {
  const store: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--store takes key=value, not '${pair}'`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      throw new UsageError(`--store: '${key}' cannot be used as a name (it is reserved in JavaScript objects)`);
    }
    if (Object.hasOwn(store, key)) throw new UsageError(`--store: '${key}' is given twice`);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    store[key] = value;
  }
  return store;
}

async function runCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('run', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  positionals('run', given, []);
  if (values.module === undefined) throw new UsageError("'atomflow run' needs --module <file> (see atomflow run --help)");
  const chosenEngine = engineOption(values.engine);
  // Without --engine, load() takes ATOMFLOW_ENGINE (and refuses a bad value naming it).
  const engineKind = chosenEngine ?? (io.env['ATOMFLOW_ENGINE'] || 'serial');
  const maxWorkers = positiveInt('max-workers', values['max-workers']);
  const store = parseStore(values.store ?? []);
  const source = await loadFlowSource(values.module, values.export, io);
  const persisted: Store | undefined = values.backend === undefined ? undefined : await openStore(values.backend, io, false);
  const backend = persisted?.backend ?? new MemoryBackend();
  try {
    const engine = await input(async () => {
      const e = load(await source.build(), {
        backend,
        ...(chosenEngine !== undefined ? { engine: chosenEngine } : {}),
        store,
        ...(maxWorkers !== undefined ? { maxWorkers } : {}),
        ...(persisted ? { meta: { factory: { module: source.module, export: source.exportName } } } : {}),
      });
      await e.prepare();
      e.validate();
      return e;
    });
    const cli = self(io);
    const db = persisted ? values.backend! : undefined;
    const uuid = engine.flowDetail.uuid;
    const result = await drive({
      engine,
      io,
      plain: values.plain === true,
      print: values.print === true,
      hints:
        db === undefined
          ? {}
          : {
              inspect: `${cli} inspect ${sh(db)} ${flowOption(uuid)}`,
              resume: resumeCommand(cli, db, uuid, `--module ${sh(shortPath(source.module, io))} --export ${sh(source.exportName)}`),
            },
    });
    return result.code;
  } finally {
    await backend.close();
  }
}

export const run: Command = { name: 'run', summary: "run a module's flow with the live display", usage, run: runCommand };
