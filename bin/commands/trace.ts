/** `atomflow trace <db>`: the execution info of a store's runs as a Chrome trace (opens in Perfetto). */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { traceOf } from '../../persistence/trace.js';
import { EXIT, HELP, UsageError, input, openStore, parseCommand, positionals, shortPath, type Command, type Io } from './common.js';

const usage = `Usage: atomflow trace <db> [options]

Writes where and when every execute and revert of the store's runs ran as a Chrome trace
(Trace Event Format JSON): one track per host, process and thread, one slice per execute or
revert (earlier attempts too), with its phases (queued, args, task, result, return) in the
slice's arguments. Open it at https://ui.perfetto.dev (Open trace file) or chrome://tracing.

Arguments:
  <db>                   a SQLite store (path), or a backend URI (sqlite:///abs/path.db)

Options:
  --flow <uuid>          only this flow detail's atoms
  --out <file>           where to write it (default trace.json; '-' writes to stdout)
  -h, --help             this help`;

const OPTIONS = { ...HELP, flow: { type: 'string' }, out: { type: 'string', short: 'o' } } as const;

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('trace', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  const [db] = positionals('trace', given, ['db']);
  const out = values.out ?? 'trace.json';
  if (out.length === 0) throw new UsageError('--out needs a file name');
  const { backend, label } = await openStore(db!, io, true);
  try {
    const books = await input(() => backend.getLogBooks({ lazy: false }));
    const flows = books.flatMap((b) => b.flowDetails).filter((f) => values.flow === undefined || f.uuid === values.flow);
    if (values.flow !== undefined && flows.length === 0) throw new UsageError(`no flow '${values.flow}' in ${label} ('atomflow inspect ${db}' lists them)`);
    const trace = traceOf(flows);
    const text = JSON.stringify(trace);
    if (out === '-') {
      io.stdout.write(`${text}\n`);
      return EXIT.OK;
    }
    const path = resolve(io.cwd, out);
    writeFileSync(path, text);
    const slices = trace.traceEvents.filter((e) => e.ph === 'X').length;
    io.stdout.write(`wrote ${slices} slice${slices === 1 ? '' : 's'} from ${flows.length} flow${flows.length === 1 ? '' : 's'} to ${shortPath(path, io)} (open it at https://ui.perfetto.dev)\n`);
    return EXIT.OK;
  } finally {
    await backend.close();
  }
}

export const trace: Command = { name: 'trace', summary: 'write the runs\' execution info as a Chrome trace (Perfetto)', usage, run };
