/**
 * Side-by-side with OpenStack TaskFlow on this machine: runs ../shared/bench/taskflow_bench.py (the
 * reference, Debian's python3-taskflow) and our implementation of the same cases at the same n, in
 * one run, and prints both per case with the ratio TaskFlow / atomflow.
 *
 *   node --expose-gc dist/bench/compare.js [--n 1000] [--cases a,b] [--json-only]
 *
 * TaskFlow is slow (roughly 8–60 ms per atom), so the default n is 1000. The shared/ directory is
 * ATOMFLOW_SHARED if set, else the `shared` directory beside this repository. Nothing is installed
 * here: without TaskFlow this prints how to install it and exits with status 2.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gcAvailable, measure, round, timedRuns } from './cases.js';
import { printTable, TASKFLOW_CASES, toRow, type Row } from './run.js';

const PYTHON = '/usr/bin/python3';
const INSTALL = 'apt-get install -y python3-taskflow python3-sqlalchemy-utils python3-alembic';

interface TaskflowRow {
  readonly impl: string;
  readonly case: string;
  readonly n: number;
  readonly seconds: number;
  readonly us_per_atom: number;
}

function fail(msg: string, code = 2): never {
  process.stderr.write(`compare: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv: readonly string[]): { n: number; cases: string[]; jsonOnly: boolean } {
  const out = { n: 1000, cases: Object.keys(TASKFLOW_CASES), jsonOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = (): string => inline ?? argv[++i] ?? '';
    if (flag === '--n') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) fail('--n needs a positive integer');
      out.n = n;
    } else if (flag === '--cases') {
      const list = value().split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = list.filter((c) => !(c in TASKFLOW_CASES));
      if (list.length === 0 || unknown.length > 0) fail(`unknown case(s): ${unknown.join(', ') || '(none)'}; known: ${Object.keys(TASKFLOW_CASES).join(', ')}`);
      out.cases = Object.keys(TASKFLOW_CASES).filter((c) => list.includes(c));
    } else if (flag === '--json-only') out.jsonOnly = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`usage: node --expose-gc dist/bench/compare.js [--n 1000] [--cases ${Object.keys(TASKFLOW_CASES).join(',')}] [--json-only]\n`);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(argv[i])}`);
  }
  return out;
}

/** The reference script, or an explanation of why it cannot run here. */
function locateTaskflow(): string {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const shared = process.env.ATOMFLOW_SHARED ?? resolve(repoRoot, '..', 'shared');
  const script = join(shared, 'bench', 'taskflow_bench.py');
  if (!existsSync(script)) fail(`the TaskFlow reference script is not at ${script}; set ATOMFLOW_SHARED to the shared/ directory that holds bench/taskflow_bench.py`);
  const probe = spawnSync(PYTHON, ['-c', 'import taskflow, sqlalchemy'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = probe.error !== undefined ? `${PYTHON} could not be run (${probe.error.message})` : `'${PYTHON} -c "import taskflow"' failed:\n${probe.stderr.trim()}`;
    fail(
      `OpenStack TaskFlow is not installed for ${PYTHON}, so there is nothing to compare with.\n${why}\n\n` +
        `Install it (Debian/Ubuntu, as root; this script never installs anything itself):\n\n    ${INSTALL}\n\n` +
        `then run this again. Our own figures alone: npm run bench\n`,
    );
  }
  return script;
}

function runTaskflow(script: string, n: number, cases: readonly string[], quiet: boolean): TaskflowRow[] {
  if (!quiet) process.stderr.write(`compare: TaskFlow: ${PYTHON} ${script} ${n} ${cases.join(' ')} (this takes a while) ...\n`);
  const r = spawnSync(PYTHON, [script, String(n), ...cases], { cwd: dirname(script), encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error !== undefined || r.status !== 0) fail(`the TaskFlow script failed (${r.error?.message ?? `status ${r.status ?? r.signal}`}):\n${r.stderr}`, 1);
  const rows: TaskflowRow[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    rows.push(JSON.parse(line) as TaskflowRow);
  }
  for (const c of cases) if (!rows.some((x) => x.case === c)) fail(`the TaskFlow script printed no line for ${c}:\n${r.stdout}\n${r.stderr}`, 1);
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const script = locateTaskflow();
  const theirs = runTaskflow(script, args.n, args.cases, args.jsonOnly);
  for (const t of theirs) process.stdout.write(`${JSON.stringify(t)}\n`);
  const ours: Row[] = [];
  for (const name of args.cases) {
    if (!args.jsonOnly) process.stderr.write(`compare: atomflow: ${name} ...\n`);
    const row = toRow(name, await measure(TASKFLOW_CASES[name]!, args.n));
    process.stdout.write(`${JSON.stringify(row)}\n`);
    ours.push(row);
  }
  if (args.jsonOnly) return;
  process.stdout.write(
    `\nTaskFlow (${PYTHON}, one cold run per case, as its script does) vs atomflow-ts (node ${process.version}, ` +
      `warm-up then median of ${timedRuns(args.n)}${gcAvailable ? '' : ', no --expose-gc'}), n = ${args.n}\n\n`,
  );
  const rows = args.cases.map((name) => {
    const t = theirs.find((x) => x.case === name)!;
    const o = ours.find((x) => x.case === name)!;
    const tUs = (t.seconds / t.n) * 1e6; // the script rounds us_per_atom to 0.1
    return [name, String(args.n), tUs.toFixed(1), o.us_per_atom.toFixed(2), `${round(tUs / o.us_per_atom, 1).toFixed(1)}×`];
  });
  printTable(['case', 'n', 'TaskFlow µs/atom', 'atomflow µs/atom', 'TaskFlow / atomflow'], rows, new Set([1, 2, 3, 4]));
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) await main();
