/** `atomflow demo`: the trip-booking saga on embedded SQLite, with a live display. */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { load } from '../../engines/load.js';
import { TRIP_STORE, TRIP_TASKS, buildTripFlow } from '../demo-flow.js';
import type { LiveDisplay } from '../display.js';
import { drive } from './drive.js';
import { EXIT, HELP, UsageError, flowOption, resumeCommand, input, engineOption,
  openStore, parseCommand, positionals, self, sh, shortPath, type Command, type Io } from './common.js';

const DEMO_MODULE = fileURLToPath(new URL('../demo-flow.js', import.meta.url));

const usage = `Usage: atomflow demo [options]

Books a trip as a saga, persisted in SQLite: flight and hotel are reserved in parallel, then a
car is rented, the card is charged (the gateway times out once; a retry takes care of it), and
the itinerary is sent. Each step has a real revert (cancel, refund, notify).

Options:
  --db <path>            the SQLite store (default ./atomflow-demo.db; created if missing)
  --engine <kind>        serial, parallel or worker (default: $ATOMFLOW_ENGINE, else serial): same flow, same outcome
  --fail-at <task>       make that task fail, to watch the rollback in reverse order
  --crash-at <task>      kill the process (SIGKILL) inside that task, then try 'atomflow resume'
  --pace <factor>        slow the simulated work down (e.g. 5) or speed it up (0.1)
  --plain                one line per transition even on a terminal
  -h, --help             this help

Tasks: ${TRIP_TASKS.join(', ')} (charge runs under the retry 'payment_retry').
Exit code: 0 booked, 1 rolled back, 2 bad input; with --crash-at the process dies by SIGKILL.`;

const OPTIONS = {
  ...HELP,
  db: { type: 'string' },
  engine: { type: 'string' },
  'fail-at': { type: 'string' },
  'crash-at': { type: 'string' },
  pace: { type: 'string' },
  plain: { type: 'boolean' },
} as const;

function task(option: string, value: string | undefined): string | undefined {
  if (value !== undefined && !(TRIP_TASKS as readonly string[]).includes(value)) {
    throw new UsageError(`--${option}: the demo has no task '${value}' (tasks: ${TRIP_TASKS.join(', ')})`);
  }
  return value;
}

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals: rest } = parseCommand('demo', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  positionals('demo', rest, []);
  const chosenEngine = engineOption(values.engine);
  // Without --engine, load() takes ATOMFLOW_ENGINE (and refuses a bad value naming it).
  const engineKind = chosenEngine ?? (io.env['ATOMFLOW_ENGINE'] || 'serial');
  const failAt = task('fail-at', values['fail-at']);
  const crashAt = task('crash-at', values['crash-at']);
  let pace = 1;
  if (values.pace !== undefined) {
    pace = Number(values.pace);
    if (values.pace.trim() === '' || !Number.isFinite(pace) || pace < 0) throw new UsageError(`--pace must be a number >= 0, not '${values.pace}'`);
  }
  const dbPath = resolve(io.cwd, values.db ?? 'atomflow-demo.db');
  const { backend, label } = await openStore(dbPath, io, false);
  const db = shortPath(dbPath, io);
  const cli = self(io);
  const moduleArg = shortPath(DEMO_MODULE, io);
  let display: LiveDisplay | undefined;
  try {
    const engine = await input(async () => {
      const flow = buildTripFlow({
        pace,
        ...(failAt !== undefined ? { failAt } : {}),
        ...(crashAt !== undefined ? { crashAt } : {}),
        onCrash: (name) => {
          display?.log(`💥 simulating a crash inside '${name}': the process kills itself (SIGKILL) now`);
          display?.stop();
        },
      });
      const e = load(flow, {
        backend,
        ...(chosenEngine !== undefined ? { engine: chosenEngine } : {}),
        store: TRIP_STORE,
        meta: { factory: { module: DEMO_MODULE, export: 'buildTripFlow' }, demo: { failAt: failAt ?? null, crashAt: crashAt ?? null, engine: engineKind } },
      });
      await e.prepare();
      e.validate();
      return e;
    });
    const uuid = engine.flowDetail.uuid;
    const resumeCmd = resumeCommand(cli, db, uuid, `--module ${sh(moduleArg)} --export buildTripFlow`);
    const out = (line = ''): void => void io.stdout.write(`${line}\n`);
    out(`atomflow demo: booking a trip for ${String(TRIP_STORE['traveler'])} to ${String(TRIP_STORE['destination'])} (${engineKind} engine)`);
    out(`  store: ${label}   flow: ${uuid}`);
    if (failAt !== undefined) out(`  '${failAt}' will fail: watch the completed steps being undone, most recent first`);
    if (crashAt !== undefined) {
      out(`  the process will be killed inside '${crashAt}'; afterwards, resume the run with:`);
      out(`    ${resumeCmd}`);
    }
    out();
    const result = await drive({
      engine,
      io,
      plain: values.plain === true,
      onDisplay: (d) => (display = d),
      hints: {
        inspect: `${cli} inspect ${sh(db)} ${flowOption(uuid)}`,
        resume: resumeCmd,
        more: [`graph it:    ${cli} graph --module ${sh(moduleArg)} --export buildTripFlow --db ${sh(db)} ${flowOption(uuid)}`],
      },
    });
    return result.code;
  } finally {
    await backend.close();
  }
}

export const demo: Command = { name: 'demo', summary: 'book a trip as a saga on SQLite, live (--fail-at, --crash-at)', usage, run };
