/**
 * The jobboard commands: `atomflow conductor` (claims and runs posted jobs until SIGTERM/SIGINT),
 * `atomflow jobs` (lists them) and `atomflow post` (posts one).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Conductor, type FlowFactory } from '../../jobs/conductor.js';
import { JOB_STATES, type JobState } from '../../persistence/board-store.js';
import { openJobBoard, type JobBoard } from '../../jobs/board.js';
import { parseStore } from './run.js';
import { EXIT, HELP, UsageError, input, oneOf, parseCommand, positionals, positiveInt, sqliteUri, widest, brief, type Command, type Io } from './common.js';

const URI = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/** A board URI, or a SQLite file path made into one. */
function boardUri(ref: string, io: Io): string {
  if (URI.test(ref) && !/^[a-zA-Z]:[\\/]/.test(ref)) return ref;
  return sqliteUri(resolve(io.cwd, ref));
}

async function openBoard(ref: string, io: Io): Promise<JobBoard> {
  return input(() => openJobBoard(boardUri(ref, io)));
}

// ---- conductor -------------------------------------------------------------------------------

const conductorUsage = `Usage: atomflow conductor --board <uri> --module <file> [options]

Claims jobs posted to the board whose names the module has a factory for, runs them, and marks
them complete, until SIGTERM or SIGINT: it then stops claiming and lets its runs finish (a second
signal suspends them, and their jobs go back to the board for another conductor).

The module exports the factories (each takes the job's details and returns a flow): an object
'flows' (job name -> factory), else every exported function, named after its export.

Options:
  --board <uri>          sqlite:///abs/path.db, a SQLite file path, or postgres://…?schema=…
  --module <file>        the compiled module (.js/.mjs) exporting the factories
  --concurrency <n>      jobs run at once (default 1)
  --lease-ms <n>         claim lease in ms, renewed every third of it (default 30000)
  --name <id>            the owner id claims carry (default <hostname>:<pid>)
  --engine <kind>        serial (default), parallel or worker (atoms in 'atomflow worker' processes)
  --poll-ms <n>          longest wait between two claim attempts when idle (default 1000)
  --host <name>          the host claims record (default: the hostname)
  --max-attempts <n>     trash a job claimed this many times without completing (default 5)
  --quiet                no line per job event
  -h, --help             this help`;

const CONDUCTOR_OPTIONS = {
  ...HELP,
  board: { type: 'string' },
  module: { type: 'string' },
  concurrency: { type: 'string' },
  'lease-ms': { type: 'string' },
  name: { type: 'string' },
  engine: { type: 'string' },
  'poll-ms': { type: 'string' },
  'max-attempts': { type: 'string' },
  host: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

/** The factories a module exports: `flows`, else its exported functions. */
async function loadFactories(file: string, io: Io): Promise<Record<string, FlowFactory>> {
  const path = resolve(io.cwd, file);
  if (!existsSync(path)) throw new UsageError(`no such module: ${file}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`cannot load module ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const flows = mod.flows;
  if (flows !== undefined) {
    if (typeof flows !== 'object' || flows === null || Array.isArray(flows)) throw new UsageError(`export 'flows' of ${file} must be an object of job name -> factory`);
    const entries = Object.entries(flows as Record<string, unknown>);
    const bad = entries.find(([, f]) => typeof f !== 'function');
    if (bad) throw new UsageError(`export 'flows' of ${file}: the factory for '${bad[0]}' is not a function`);
    if (entries.length === 0) throw new UsageError(`export 'flows' of ${file} is empty`);
    return flows as Record<string, FlowFactory>;
  }
  const out: Record<string, FlowFactory> = {};
  for (const [name, value] of Object.entries(mod)) if (name !== 'default' && typeof value === 'function') out[name] = value as FlowFactory;
  if (Object.keys(out).length === 0) throw new UsageError(`module ${file} exports no factories (an object 'flows', or functions)`);
  return out;
}

function nonNegativeInt(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${option} must be a whole number, not '${value}'`);
  return Number(value);
}

async function conductorCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('conductor', args, CONDUCTOR_OPTIONS);
  if (values.help) {
    io.stdout.write(`${conductorUsage}\n`);
    return EXIT.OK;
  }
  positionals('conductor', given, []);
  if (values.board === undefined) throw new UsageError("'atomflow conductor' needs --board <uri> (see atomflow conductor --help)");
  if (values.module === undefined) throw new UsageError("'atomflow conductor' needs --module <file> (see atomflow conductor --help)");
  const concurrency = positiveInt('concurrency', values.concurrency);
  const leaseMs = nonNegativeInt('lease-ms', values['lease-ms']);
  const pollMs = positiveInt('poll-ms', values['poll-ms']);
  const maxAttempts = positiveInt('max-attempts', values['max-attempts']);
  const engine = oneOf('engine', values.engine, ['serial', 'parallel', 'worker'] as const, 'serial');
  const flows = await loadFactories(values.module, io);
  const board = await openBoard(values.board, io);
  try {
    const conductor = await input(
      () =>
        new Conductor(board, {
          flows,
          engine,
          ...(concurrency !== undefined ? { concurrency } : {}),
          ...(leaseMs !== undefined ? { leaseMs } : {}),
          ...(pollMs !== undefined ? { pollMs } : {}),
          ...(maxAttempts !== undefined ? { maxAttempts } : {}),
          ...(values.host !== undefined ? { host: values.host } : {}),
          ...(values.name !== undefined ? { name: values.name } : {}),
        }),
    );
    if (values.quiet !== true) {
      conductor.on('job', (e) => {
        const extra = e.state ?? e.reason;
        io.stdout.write(`${e.event} ${e.job.name} ${e.job.uuid}${extra === undefined ? '' : ` ${brief(extra, 200)}`}\n`);
      });
    }
    let signals = 0;
    let stopped!: () => void;
    const stopping = new Promise<void>((r) => (stopped = r));
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        io.stderr.write(`conductor ${conductor.name}: ${signal}: no new claims; letting ${conductor.running} run(s) finish (again to suspend them)\n`);
        stopped();
      } else {
        io.stderr.write(`conductor ${conductor.name}: ${signal}: suspending ${conductor.running} run(s)\n`);
        void conductor.stop({ suspend: true });
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await conductor.start();
      io.stdout.write(`conductor ${conductor.name} started: ${Object.keys(flows).join(', ')}\n`);
      await stopping;
      await conductor.stop();
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    io.stdout.write(`conductor ${conductor.name} stopped\n`);
    return EXIT.OK;
  } finally {
    await board.close();
  }
}

export const conductor: Command = { name: 'conductor', summary: 'claim and run jobs posted to a board', usage: conductorUsage, run: conductorCommand };

// ---- jobs ----------------------------------------------------------------------------------

const jobsUsage = `Usage: atomflow jobs <board> [options]

Lists the board's jobs, highest priority first, then in post order.

Options:
  --state <state>        only jobs in this state (repeatable): ${JOB_STATES.join(', ')}
  --name <name>          only jobs of this name
  --limit <n>            at most n jobs
  --json                 one JSON array
  -h, --help             this help`;

const JOBS_OPTIONS = {
  ...HELP,
  state: { type: 'string', multiple: true },
  name: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;

async function jobsCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('jobs', args, JOBS_OPTIONS);
  if (values.help) {
    io.stdout.write(`${jobsUsage}\n`);
    return EXIT.OK;
  }
  const [ref] = positionals('jobs', given, ['board']);
  const states = (values.state ?? []).map((s) => oneOf('state', s.toUpperCase(), JOB_STATES, 'UNCLAIMED' as JobState));
  const limit = positiveInt('limit', values.limit);
  const board = await openBoard(ref!, io);
  try {
    const jobs = await board.jobs({
      ...(states.length > 0 ? { state: states } : {}),
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify(jobs.map((j) => j.toJSON()), null, 2)}\n`);
      return EXIT.OK;
    }
    if (jobs.length === 0) {
      io.stdout.write('no jobs\n');
      return EXIT.OK;
    }
    const rows = jobs.map((j) => [j.uuid, j.name, j.lastState, String(j.priority), String(j.attempts), j.owner ?? '-', brief(j.reason ?? '', 60)]);
    const head = ['UUID', 'NAME', 'STATE', 'PRIORITY', 'ATTEMPTS', 'OWNER', 'REASON'];
    const widths = head.map((h, i) => widest(rows, (r) => r[i]!.length, h.length));
    const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
    io.stdout.write(`${[line(head), ...rows.map(line)].join('\n')}\n`);
    return EXIT.OK;
  } finally {
    await board.close();
  }
}

export const jobs: Command = { name: 'jobs', summary: "list a board's jobs", usage: jobsUsage, run: jobsCommand };

// ---- post ----------------------------------------------------------------------------------

const postUsage = `Usage: atomflow post <board> <name> [options]

Posts a job: its run (LogBook + FlowDetail with the store and details) and the job, in one
transaction. Prints the job's uuid.

Options:
  --store <key=value>    an initial value of the run (repeatable); JSON if it parses, else a string
  --details <key=value>  a detail the conductor's factory receives (repeatable)
  --priority <n>         higher is claimed first (default 0; a negative one as --priority=-1)
  --key <key>            idempotency key: posting it again returns the same job
  --json                 print the job as JSON
  -h, --help             this help`;

const POST_OPTIONS = {
  ...HELP,
  store: { type: 'string', multiple: true },
  details: { type: 'string', multiple: true },
  priority: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
} as const;

async function postCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('post', args, POST_OPTIONS);
  if (values.help) {
    io.stdout.write(`${postUsage}\n`);
    return EXIT.OK;
  }
  const [ref, name] = positionals('post', given, ['board', 'name']);
  const store = parseStore(values.store ?? []);
  const details = input(() => parseStore(values.details ?? [])).catch((e: unknown) => {
    throw new UsageError((e as Error).message.replace('--store', '--details'));
  });
  const detailValues = await details;
  let priority: number | undefined;
  if (values.priority !== undefined) {
    if (!/^-?\d+$/.test(values.priority) || !Number.isSafeInteger(Number(values.priority))) throw new UsageError(`--priority must be a whole number, not '${values.priority}'`);
    priority = Number(values.priority);
  }
  const board = await openBoard(ref!, io);
  try {
    const job = await input(() =>
      board.post(name!, {
        store,
        details: detailValues,
        ...(priority !== undefined ? { priority } : {}),
        ...(values.key !== undefined ? { key: values.key } : {}),
      }),
    );
    io.stdout.write(values.json === true ? `${JSON.stringify(job.toJSON(), null, 2)}\n` : `${job.uuid}\n`);
    return EXIT.OK;
  } finally {
    await board.close();
  }
}

export const post: Command = { name: 'post', summary: 'post a job to a board', usage: postUsage, run: postCommand };
