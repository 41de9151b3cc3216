/**
 * `npm run bench` (issue #6): times the workloads of ../shared/bench/taskflow_bench.py and our own,
 * prints one JSON line per measurement (`impl`, `case`, `n`, `seconds`, `us_per_atom`, extras)
 * and then a table with the budgets.
 *
 *   node --expose-gc dist/bench/run.js [--n 10000] [--cases a,b] [--json-only] [--big 100000] [--strict] [--in-process] [--processes 3]
 *
 * --n      n for the TaskFlow cases, the raw_* baselines and linear_serial_sqlite_full (default 10,000)
 * --cases  comma-separated subset (default: all, in the order of CASES below)
 * --big    n of resume_sqlite, peak_rss and the top of scaling (default 100,000; the budgets are for 100k)
 * --strict exit 1 when a budget is missed
 * --in-process  run every case in this process (default: each case in a fresh child process)
 * --processes   fresh processes for each quick case (the in-memory ones; default 3): the process
 *               with the median µs/atom is reported, with every process's figure in `processes`
 * io_parallel always runs 10,000 atoms; scaling runs linear_serial_mem at 1,000 / 10,000 / --big.
 * Protocol (see cases.ts `measure`): steady state — warm-up runs at min(n, 20,000) (at least 5, at least 100,000 atoms), no forced GC
 * between runs, median of 5 runs for n <= 20,000.
 * Baselines: raw_loop (a bare await loop over the same execute functions) and raw_sqlite /
 * raw_sqlite_full (one better-sqlite3 commit per atom): the '÷ baseline' column is µs/atom over
 * the baseline's µs/atom at the same --n. SQLite files go to ATOMFLOW_BENCH_TMP or the OS temp dir.
 */
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import {
  gcAvailable,
  graphChainSerialMem,
  ioParallel,
  linearRevertSerialMem,
  linearSerialMem,
  measure,
  peakRss,
  rawLoop,
  round,
  unorderedParallelMem,
  type Measured,
  type Workload,
} from './cases.js';
import { linearSerialSqlite, rawSqlite, resumeSqlite } from './sqlite-cases.js';
import { threadsCpu } from './threads-cases.js';
import { REGISTRY_CASES } from './registry-cases.js';
import { BOARD_CASES } from './board-cases.js';
import { postgresCases } from './postgres-cases.js';
import { unorderedSerialMem, unorderedSerialSqlite } from './semantics-cases.js';
import { objectResultsSerialMem } from './robust-cases.js';
import { WORKER_CASES } from './worker-cases.js';
import { fencedAndUnfenced } from './ownership-cases.js';

/** The TaskFlow script's cases, by name (compare.ts runs these). */
export const TASKFLOW_CASES: Readonly<Record<string, Workload>> = {
  linear_serial_mem: linearSerialMem,
  unordered_parallel_mem: unorderedParallelMem,
  graph_chain_serial_mem: graphChainSerialMem,
  linear_serial_sqlite: linearSerialSqlite('normal'),
  linear_revert_serial_mem: linearRevertSerialMem,
};

export interface Row {
  readonly impl: 'atomflow-ts';
  readonly case: string;
  readonly n: number;
  readonly seconds: number;
  readonly us_per_atom: number;
  readonly [extra: string]: unknown;
}

export interface Line {
  readonly row: Row;
  /** Text of the budget, e.g. '≤ 5 µs'. */
  readonly budget?: string;
  readonly ok?: boolean;
  readonly note?: string;
  /** Whether a ratio to raw_loop makes sense for this row. */
  readonly perAtom?: boolean;
  /** The baseline case for the ratio column (default raw_loop). */
  readonly base?: string;
}

interface Ctx {
  readonly n: number;
  readonly big: number;
}

export function toRow(name: string, m: Measured | { n: number; seconds: number; extra?: Readonly<Record<string, unknown>> }): Row {
  const runs = 'runs' in m && m.runs.length > 1 ? { runs: m.runs.map((s) => round(s, 4)) } : {};
  return {
    impl: 'atomflow-ts',
    case: name,
    n: m.n,
    seconds: round(m.seconds, 4),
    us_per_atom: round((m.seconds / m.n) * 1e6, 2),
    ...(m.extra ?? {}),
    ...runs,
  };
}

function perAtomBudget(name: string, limit: number, base?: string): (c: Ctx) => Promise<Line[]> {
  return async ({ n }) => {
    const row = toRow(name, await measure(TASKFLOW_CASES[name]!, n));
    return [{ row, budget: `≤ ${limit} µs`, ok: row.us_per_atom <= limit, perAtom: true, ...(base ? { base } : {}) }];
  };
}

const IO_N = 10_000;
const SCALING_MAX_DEVIATION = 0.25;

const CASES: Readonly<Record<string, (c: Ctx) => Promise<Line[]>>> = {
  raw_loop: async ({ n }) => {
    const row = toRow('raw_loop', await measure(rawLoop, n));
    const build = ((row['build_seconds'] as number) / n) * 1e6;
    return [{ row, note: `the limit: bare await loop (building the tasks: ${build.toFixed(2)} µs/atom more)`, perAtom: true }];
  },
  linear_serial_mem: perAtomBudget('linear_serial_mem', 5),
  unordered_parallel_mem: perAtomBudget('unordered_parallel_mem', 5),
  graph_chain_serial_mem: perAtomBudget('graph_chain_serial_mem', 10),
  linear_revert_serial_mem: perAtomBudget('linear_revert_serial_mem', 10),
  object_results_serial_mem: async ({ n }) => [{ row: toRow('object_results_serial_mem', await measure(objectResultsSerialMem, n)), note: 'each result a small object: checked and copied (frozen); no budget', perAtom: true }],
  unordered_serial_mem: async ({ n }) => [{ row: toRow('unordered_serial_mem', await measure(unorderedSerialMem, n)), note: 'one serial batch; no budget', perAtom: true }],
  raw_sqlite: async ({ n }) => [
    { row: toRow('raw_sqlite', await measure(rawSqlite('normal'), n)), note: 'SQLite floor: 1 commit/atom, WAL, synchronous NORMAL', perAtom: true, base: 'raw_sqlite' },
    { row: toRow('raw_sqlite_full', await measure(rawSqlite('full'), n)), note: 'SQLite floor: 1 commit/atom, WAL, synchronous FULL', perAtom: true, base: 'raw_sqlite_full' },
  ],
  linear_serial_sqlite: async ({ n }) => {
    // Owned and fenced; the unfenced run beside it (bench/ownership-cases.ts).
    const f = await fencedAndUnfenced(n);
    const cpu = f.fencedCpu / f.unfencedCpu;
    const wall = f.fenced.seconds / f.unfenced.seconds;
    const us = (s: number) => round((s / n) * 1e6, 2);
    const row = { ...toRow('linear_serial_sqlite', f.fenced), cpu_us_per_atom: us(f.fencedCpu), fenced_over_unfenced_cpu: round(cpu, 3), fenced_over_unfenced_wall: round(wall, 3) };
    const bare = { ...toRow('linear_serial_sqlite_unfenced', f.unfenced), cpu_us_per_atom: us(f.unfencedCpu) };
    return [
      { row, budget: '≤ 50 µs', ok: row.us_per_atom <= 50, perAtom: true, base: 'raw_sqlite', note: `owned and fenced; CPU ${us(f.fencedCpu)} µs/atom` },
      {
        row: bare,
        budget: 'fenced ≤ 1.05 ×',
        ok: cpu <= 1.05,
        perAtom: true,
        base: 'raw_sqlite',
        note: `CPU ${us(f.unfencedCpu)} µs/atom; fenced/unfenced CPU ${cpu.toFixed(3)}, wall ${wall.toFixed(3)} (alternating runs)`,
      },
    ];
  },
  unordered_serial_sqlite: async ({ n }) => [{ row: toRow('unordered_serial_sqlite', await measure(unorderedSerialSqlite, n)), note: 'one serial batch, a commit per member; no budget', perAtom: true, base: 'raw_sqlite' }],
  linear_serial_sqlite_exclusive: async ({ n }) => [
    {
      row: toRow('linear_serial_sqlite_exclusive', await measure(linearSerialSqlite('normal', 'exclusive'), n)),
      note: "locking 'exclusive' (the backend holds the file); no budget",
      perAtom: true,
      base: 'raw_sqlite',
    },
  ],
  linear_serial_sqlite_full: async ({ n }) => [
    { row: toRow('linear_serial_sqlite_full', await measure(linearSerialSqlite('full'), n)), note: 'fsync per commit; no budget', perAtom: true, base: 'raw_sqlite_full' },
  ],
  io_parallel: async () => {
    const row = toRow('io_parallel', await measure(ioParallel, IO_N));
    const ratio = row['ratio'] as number;
    return [{ row, budget: 'wall ≤ 1.15 × ideal', ok: ratio <= 1.15, note: `wall/ideal ${ratio.toFixed(3)} (ideal ${row['ideal_seconds'] as number} s)` }];
  },
  resume_sqlite: async ({ big }) => {
    const row = toRow('resume_sqlite', await measure(resumeSqlite, big));
    return [{ row, budget: big === 100_000 ? '≤ 1 s' : '≤ 1 s (at 100k)', ok: row.seconds <= 1, note: `load → first resumed execute; storing took ${row['store_seconds'] as number} s` }];
  },
  peak_rss: async ({ big }) => {
    const r = peakRss(big);
    const row = toRow('peak_rss', { n: big, seconds: r.seconds, extra: { maxrss_mb: r.maxrss_mb, startup_maxrss_mb: r.startup_maxrss_mb } });
    return [{ row, budget: '≤ 300 MB', ok: r.maxrss_mb <= 300, note: `max RSS ${r.maxrss_mb} MB (node at start: ${r.startup_maxrss_mb} MB)` }];
  },
  threads_cpu: async () => {
    const r = await threadsCpu();
    const row = toRow('threads_cpu', { n: 8, seconds: r.two, extra: { one_thread_seconds: round(r.one, 4), speedup: round(r.one / r.two, 2), pool_start_ms: r.startMs, job_us: r.jobUs } });
    return [{ row, note: `8 CPU-bound atoms: ${r.one.toFixed(3)} s on 1 thread, ${r.two.toFixed(3)} s on 2 (×${(r.one / r.two).toFixed(2)}); pool start ${r.startMs} ms, ${r.jobUs} µs/job` }];
  },
  scaling: async ({ big }) => {
    const sizes = [...new Set([1_000, 10_000, big])].sort((a, b) => a - b);
    const lines: Line[] = [];
    let base = 0;
    // One untimed run at 10,000 first: with only the per-size warm-up the smallest size is timed
    // in colder code than the largest, which reads as a per-atom cost falling with n.
    await TASKFLOW_CASES['linear_serial_mem']!(10_000);
    for (const size of sizes) lines.push({ row: { ...toRow('scaling', await measure(TASKFLOW_CASES['linear_serial_mem']!, size)), of: 'linear_serial_mem' }, perAtom: true });
    return judgeScaling(lines);
  },
  ...REGISTRY_CASES,
  ...BOARD_CASES,
  ...WORKER_CASES,
  ...postgresCases(toRow),
};

/** Budgets of the scaling rows: ≤ 5 µs each, and within ±25% of the first (smallest) size. */
function judgeScaling(lines: readonly Line[]): Line[] {
  const base = lines[0]?.row.us_per_atom ?? 0;
  const first = lines[0]?.row.n ?? 0;
  return lines.map((l, k) => {
    const us = l.row.us_per_atom;
    const dev = base > 0 ? us / base - 1 : 0;
    return {
      ...l,
      row: { ...l.row, vs_first: round(dev, 3) },
      budget: k === 0 ? '≤ 5 µs (base)' : '≤ 5 µs, ±25% of base',
      ok: us <= 5 && Math.abs(dev) <= SCALING_MAX_DEVIATION,
      note: k === 0 ? 'linear_serial_mem' : `${dev >= 0 ? '+' : ''}${(dev * 100).toFixed(1)}% vs ${first}`,
    };
  });
}

/** Cases quick enough to run in several processes; each row reports the median process. */
const REPEATED: ReadonlySet<string> = new Set(['raw_loop', 'linear_serial_mem', 'unordered_parallel_mem', 'graph_chain_serial_mem', 'linear_revert_serial_mem', 'unordered_serial_mem', 'scaling']);

/** Line by line, the line with the median µs/atom among the processes' results (all the figures kept in `processes`). */
function medianOfProcesses(name: string, results: readonly (readonly Line[])[]): Line[] {
  const picked = results[0]!.map((_, k) => {
    const candidates = results.map((r) => r[k]!).sort((a, b) => a.row.us_per_atom - b.row.us_per_atom);
    const median = candidates[(candidates.length - 1) >> 1]!;
    return { ...median, row: { ...median.row, processes: results.map((r) => r[k]!.row.us_per_atom) } };
  });
  return name === 'scaling' ? judgeScaling(picked) : picked;
}

interface Args {
  n: number;
  big: number;
  cases: string[];
  jsonOnly: boolean;
  strict: boolean;
  /** Run each case in a fresh child process (default), so no case runs in code shaped by another. */
  isolate: boolean;
  /** Internal: print whole lines (for the parent), not rows. */
  child: boolean;
  /** Fresh processes per quick case (REPEATED); the median one is reported. */
  processes: number;
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`bench: ${msg}\n`);
  process.stderr.write(
    'usage: node --expose-gc dist/bench/run.js [--n 10000] [--cases a,b] [--json-only] [--big 100000] [--strict] [--in-process] [--processes 3]\n' +
      `cases: ${Object.keys(CASES).join(', ')}\n`,
  );
  process.exit(msg ? 2 : 0);
}

function positiveInt(flag: string, v: string | undefined): number {
  const x = Number(v);
  if (v === undefined || !Number.isInteger(x) || x < 1) usage(`${flag} needs a positive integer, not ${JSON.stringify(v)}`);
  return x;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { n: 10_000, big: 100_000, cases: Object.keys(CASES), jsonOnly: false, strict: false, isolate: true, child: false, processes: 3 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '--n') a.n = positiveInt('--n', value());
    else if (flag === '--big') a.big = positiveInt('--big', value());
    else if (flag === '--cases') {
      const list = (value() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = list.filter((c) => !(c in CASES));
      if (list.length === 0 || unknown.length > 0) usage(`unknown case(s): ${unknown.join(', ') || '(none given)'}`);
      a.cases = Object.keys(CASES).filter((c) => list.includes(c)); // raw_loop first, so ratios can use it
    } else if (flag === '--json-only') a.jsonOnly = true;
    else if (flag === '--strict') a.strict = true;
    else if (flag === '--in-process') a.isolate = false;
    else if (flag === '--processes') a.processes = positiveInt('--processes', value());
    else if (flag === '--child') a.child = true;
    else if (flag === '--help' || flag === '-h') usage();
    else usage(`unknown argument ${JSON.stringify(argv[i])}`);
  }
  return a;
}

function pad(s: string, w: number, right: boolean): string {
  const len = [...s].length;
  return right ? ' '.repeat(Math.max(0, w - len)) + s : s + ' '.repeat(Math.max(0, w - len));
}

export function printTable(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): void {
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => pad(c, widths[i]!, rightAligned.has(i))).join('  ').trimEnd();
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

/** Runs one case in a fresh `node` (same flags) and reads its lines back. */
function inChild(name: string, args: Args): Line[] {
  const argv = [...process.execArgv, process.argv[1]!, '--child', '--json-only', '--cases', name, '--n', String(args.n), '--big', String(args.big)];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`bench: case ${name} failed in its child process (${r.error?.message ?? `status ${r.status ?? r.signal}`})`);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ctx: Ctx = { n: args.n, big: args.big };
  if (!gcAvailable && !args.jsonOnly) process.stderr.write('bench: run with node --expose-gc for a full GC before every timed run\n');
  const lines: Line[] = [];
  for (const name of args.cases) {
    if (!args.jsonOnly) process.stderr.write(`bench: ${name} ...\n`);
    let got: Line[];
    if (args.child || !args.isolate) got = await CASES[name]!(ctx);
    else if (REPEATED.has(name) && args.processes > 1) {
      got = medianOfProcesses(name, Array.from({ length: args.processes }, () => inChild(name, args)));
    } else got = inChild(name, args);
    for (const line of got) {
      process.stdout.write(`${JSON.stringify(args.child ? line : line.row)}\n`);
      lines.push(line);
    }
  }
  if (args.child) return;
  const missed = lines.filter((l) => l.ok === false);
  if (!args.jsonOnly) {
    const baseUs = (name: string): number | undefined => lines.find((l) => l.row.case === name && l.row.n === args.n)?.row.us_per_atom;
    const ratio = (l: Line): string => {
      const base = l.base ?? 'raw_loop';
      const us = l.perAtom ? baseUs(base) : undefined;
      return us ? `${(l.row.us_per_atom / us).toFixed(1)}× ${base.replace(/^raw_/, '')}` : '';
    };
    process.stdout.write(
      `\natomflow-ts benchmark — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, n = ${args.n}` +
        `${gcAvailable ? '' : ' (no --expose-gc)'}; median of 5 runs for n ≤ 20,000, else 1; steady state after warm-up runs (≥ 5, ≥ 100,000 atoms) at min(n, 20,000), no forced GC between runs;` +
        ` ${args.isolate ? `each case in a fresh process (the quick ones in ${args.processes}, the median reported)` : 'all cases in one process'}\n\n`,
    );
    const rows = lines.map((l) => [
      l.row.case,
      l.row.n.toLocaleString('en-US'),
      l.row.seconds.toFixed(4),
      l.row.us_per_atom.toFixed(2),
      ratio(l),
      l.budget ?? '',
      l.ok === undefined ? '' : l.ok ? '✓' : '✗',
      l.note ?? '',
    ]);
    printTable(['case', 'n', 'seconds', 'µs/atom', '÷ baseline', 'budget', 'ok', 'note'], rows, new Set([1, 2, 3, 4]));
    const judged = lines.filter((l) => l.ok !== undefined).length;
    process.stdout.write(`\n${judged - missed.length}/${judged} budgets met${missed.length ? `; missed: ${missed.map((l) => `${l.row.case}@${l.row.n}`).join(', ')}` : ''}\n`);
  }
  if (args.strict && missed.length > 0) process.exitCode = 1;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) await main();
