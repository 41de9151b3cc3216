/**
 * The jobboard's costs, on SQLite (a temp file) and PostgreSQL (a schema of its own, dropped
 * after; ATOMFLOW_PG_URL, skipped when the server cannot be reached):
 *
 * - `board_ops`: one claim, one heartbeat, one completion (each one statement / one transaction)
 *   against one bare commit on the same store, through the driver: an engine-step-shaped
 *   transaction (SCALE-OUT §2 (a)): UPDATE the flow row + INSERT one atom row (PostgreSQL: one
 *   statement, a CTE). Budget ≤ 3 × each.
 * - `board_failover`: SIGKILL of the conductor running a job → the first commit of the new owner
 *   (seen as its atom starting, just after the RUNNING commit), with two conductor processes:
 *   on one host (the dead pid is taken over at once: budget ≤ 1 s) and as two hosts (`--host`:
 *   the lease must run out: budget ≤ lease + lease/3 + 1 s).
 * - `board_throughput`: jobs per second of 5-atom no-op flows with 1 and 2 conductor processes
 *   (concurrency 4 each), from the first post to the last COMPLETE; the machine's cores beside it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openJobBoard, type JobBoard } from '../index.js';
import { openBoardStore, type BoardStore } from '../persistence/index.js';
import { check, now, round, scratch, secs } from './cases.js';

const CLI = fileURLToPath(new URL('../bin/atomflow.js', import.meta.url));
const FLOWS = fileURLToPath(new URL('./board-flows.js', import.meta.url));
const PG_URL = process.env.ATOMFLOW_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** What run.ts prints (its `Line`, structurally). */
export interface BoardLine {
  readonly row: { readonly impl: 'atomflow-ts'; readonly case: string; readonly n: number; readonly seconds: number; readonly us_per_atom: number; readonly [k: string]: unknown };
  readonly budget?: string;
  readonly ok?: boolean;
  readonly note?: string;
}

interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly uri: string;
  readonly dir: string;
  /** One bare commit: UPDATE flow detail `flowUuid` + INSERT atom row `i`, in one transaction. */
  bareCommit(flowUuid: string, i: number): Promise<void> | void;
  done(): Promise<void>;
}

async function sqliteStore(): Promise<Store> {
  const tmp = scratch();
  const dir = join(tmp.path, '..');
  let db: Database.Database | undefined;
  let update: Database.Statement | undefined;
  let insert: Database.Statement | undefined;
  let tx: Database.Transaction<(f: string, k: number) => void> | undefined;
  return {
    kind: 'sqlite',
    uri: `sqlite://${tmp.path}`,
    dir,
    bareCommit(flowUuid, i) {
      if (db === undefined) {
        db = new Database(tmp.path);
        db.pragma('busy_timeout = 5000');
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        update = db.prepare('UPDATE flowdetails SET updated_at = ? WHERE uuid = ?');
        insert = db.prepare(`INSERT INTO atomdetails (uuid, parent_uuid, format, name, kind, version, state, intention, results, meta, created_at)
          VALUES (?, ?, 1, ?, 'task', '1.0', 'SUCCESS', 'EXECUTE', '1', '{}', ?)`);
        tx = db.transaction((f: string, k: number) => {
          const t = Date.now();
          update!.run(t, f);
          insert!.run(`bench-${process.pid}-${k}-${t}-${Math.random()}`, f, `a${k}`, t);
        });
      }
      tx!.immediate(flowUuid, i);
    },
    async done() {
      db?.close();
      tmp.done();
    },
  };
}

async function pgStore(): Promise<Store | undefined> {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  try {
    await pool.query('SELECT 1');
  } catch {
    await pool.end();
    return undefined;
  }
  const schema = `af_bench_board_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const uri = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  try {
    await (await openBoardStore(uri)).close();
  } catch (e) {
    process.stderr.write(`bench: no PostgreSQL board (${(e as Error).message}); SQLite only\n`);
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
    return undefined;
  }
  const tmp = scratch();
  return {
    kind: 'postgres',
    uri,
    dir: join(tmp.path, '..'),
    async bareCommit(flowUuid, i) {
      const s = `"${schema}"`;
      await pool.query({
        name: 'bare',
        text: `WITH f AS (UPDATE ${s}.flowdetails SET updated_at = $1 WHERE uuid = $2 RETURNING uuid)
          INSERT INTO ${s}.atomdetails (uuid, parent_uuid, format, name, kind, version, state, intention, results, meta, created_at)
          SELECT $3, f.uuid, 1, $4, 'task', '1.0', 'SUCCESS', 'EXECUTE', '1', '{}', $1 FROM f`,
        values: [Date.now(), flowUuid, `bench-${process.pid}-${i}-${Math.random()}`, `a${i}`],
      });
    },
    async done() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
      tmp.done();
    },
  };
}

async function stores(): Promise<Store[]> {
  const out = [await sqliteStore()];
  const pg = await pgStore().catch(() => undefined);
  if (pg !== undefined) out.push(pg);
  return out;
}

function row(name: string, n: number, seconds: number, extra: Record<string, unknown> = {}): BoardLine['row'] {
  return { impl: 'atomflow-ts', case: name, n, seconds: round(seconds, 4), us_per_atom: round((seconds / n) * 1e6, 2), ...extra };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
}

// ---- claim / heartbeat / complete vs a bare commit ------------------------------------------

const OPS_N = 300;

async function boardOps(store: Store): Promise<BoardLine[]> {
  const board = await openJobBoard(store.uri);
  const raw: BoardStore = await openBoardStore(store.uri);
  try {
    const jobs = [];
    for (let i = 0; i < OPS_N; i++) jobs.push(await board.post('noop5', { store: { i } }));
    const flow = jobs[0]!.flowUuid;
    // Warm-up: statements prepared, pages cached.
    for (let i = 0; i < 20; i++) await store.bareCommit(flow, -1 - i);
    const timeEach = async (fn: (i: number) => unknown): Promise<number> => {
      const t: number[] = [];
      for (let i = 0; i < OPS_N; i++) {
        const t0 = now();
        await fn(i);
        t.push((now() - t0) * 1000);
      }
      return median(t);
    };
    const bare1 = await timeEach((i) => store.bareCommit(flow, i));
    const claims: Array<{ uuid: string; token: number }> = [];
    const claim = await timeEach(async () => {
      const r = await raw.claim({ names: ['noop5'], owner: 'bench', host: 'bench-host', pid: process.pid, leaseMs: 30_000, maxAttempts: 5 });
      check(r.kind === 'claimed', 'a claim');
      if (r.kind === 'claimed') claims.push({ uuid: r.job.uuid, token: r.claim.token });
    });
    const beat = await timeEach(async (i) => check((await raw.heartbeat(claims[i]!.uuid, claims[i]!.token, 30_000)) !== undefined, 'a heartbeat'));
    const complete = await timeEach(async (i) => check(await raw.finish(claims[i]!.uuid, claims[i]!.token, { kind: 'complete', outcome: 'SUCCESS', resultText: '{}' }), 'a completion'));
    const bare2 = await timeEach((i) => store.bareCommit(flow, OPS_N + i));
    const bare = (bare1 + bare2) / 2;
    return (
      [
        ['claim', claim],
        ['heartbeat', beat],
        ['complete', complete],
      ] as const
    ).map(([op, us]) => {
      const ratio = us / bare;
      return {
        row: row(`board_${op}_${store.kind}`, 1, us / 1e6, { us_median: round(us, 1), bare_commit_us: round(bare, 1), ratio: round(ratio, 2) }),
        budget: '≤ 3 × bare commit',
        ok: ratio <= 3,
        note: `${op}: ${us.toFixed(0)} µs median vs bare commit ${bare.toFixed(0)} µs = ${ratio.toFixed(2)}× (${OPS_N} each)`,
      };
    });
  } finally {
    await raw.close();
    await board.close();
  }
}

// ---- conductor processes -----------------------------------------------------------------

function conductor(store: Store, args: string[], env: Record<string, string> = {}): { child: ChildProcess; started: Promise<void>; exited: Promise<unknown> } {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  delete e.DEBUG;
  const child = spawn(process.execPath, [CLI, 'conductor', '--board', store.uri, '--module', FLOWS, '--quiet', ...args], { env: e, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (/started/.test(out)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`conductor exited (${String(code)}) before starting`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, started, exited };
}

async function waitUntil(checkFn: () => boolean | Promise<boolean>, ms: number, what: string, every = 2): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await checkFn())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const FAILOVER_LEASE_MS = 1500;

/** SIGKILL of the owner → the new owner's first commit (its atom starting), in ms. */
async function failover(store: Store, hosts: 'same' | 'two'): Promise<number> {
  const marks = join(store.dir, `marks-${hosts}`);
  mkdirSync(marks, { recursive: true });
  const board = await openJobBoard(store.uri);
  const procs: Array<ReturnType<typeof conductor>> = [];
  let jobUuid: string | undefined;
  try {
    const args = (i: number) => ['--lease-ms', String(FAILOVER_LEASE_MS), '--poll-ms', '100', '--name', `f${i}`, ...(hosts === 'two' ? ['--host', `host-${i}`] : [])];
    const job = await board.post('marked', { details: { ms: 60_000 } });
    jobUuid = job.uuid;
    const a = conductor(store, args(1), { ATOMFLOW_MARKS: marks });
    procs.push(a);
    await a.started;
    await waitUntil(() => readdirSync(marks).some((f) => f.startsWith(job.flowUuid)), 30_000, 'the first owner to start');
    const b = conductor(store, args(2), { ATOMFLOW_MARKS: marks });
    procs.push(b);
    await b.started;
    const t0 = Date.now();
    a.child.kill('SIGKILL');
    await waitUntil(() => existsSync(join(marks, `${job.flowUuid}.${b.child.pid}`)), 30_000, 'the new owner to start');
    return Date.now() - t0;
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    if (jobUuid !== undefined) {
      // Take the job off the board, so the next case's conductors do not pick it up.
      const raw = await openBoardStore(store.uri);
      const j = await board.job(jobUuid);
      if (j.lastState === 'CLAIMED') await raw.finish(j.uuid, j.token, { kind: 'trash', reason: 'bench: done' });
      await raw.close();
    }
    await board.close();
  }
}

// ---- throughput --------------------------------------------------------------------------

const THROUGHPUT_JOBS = 300;

async function throughput(store: Store, processes: number): Promise<number> {
  const board: JobBoard = await openJobBoard(store.uri);
  const procs = Array.from({ length: processes }, (_, i) => conductor(store, ['--concurrency', '4', '--poll-ms', '50', '--name', `t${i}`]));
  try {
    await Promise.all(procs.map((p) => p.started));
    const t0 = now();
    const posted = [];
    for (let i = 0; i < THROUGHPUT_JOBS; i++) posted.push(await board.post('noop5', { store: { i } }));
    // The last job posted is among the last claimed; then every job is checked once.
    await posted[posted.length - 1]!.result({ pollMs: 10 });
    for (const job of posted) await job.result({ pollMs: 10 });
    return THROUGHPUT_JOBS / secs(t0);
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await board.close();
  }
}

// ---- the cases run.ts registers ----------------------------------------------------------

async function eachStore(fn: (s: Store) => Promise<BoardLine[]>): Promise<BoardLine[]> {
  const out: BoardLine[] = [];
  for (const s of await stores()) {
    try {
      out.push(...(await fn(s)));
    } finally {
      await s.done();
    }
  }
  return out;
}

export const BOARD_CASES: Readonly<Record<string, () => Promise<BoardLine[]>>> = {
  board_ops: () => eachStore(boardOps),
  board_failover: () =>
    eachStore(async (s) => {
      const same = await failover(s, 'same');
      const two = await failover(s, 'two');
      const limitTwo = FAILOVER_LEASE_MS + FAILOVER_LEASE_MS / 3 + 1000;
      return [
        { row: row(`board_failover_same_host_${s.kind}`, 1, same / 1000, { ms: same }), budget: '≤ 1000 ms', ok: same <= 1000, note: `SIGKILL → new owner's first commit, one host (dead pid): ${same} ms` },
        {
          row: row(`board_failover_two_hosts_${s.kind}`, 1, two / 1000, { ms: two, lease_ms: FAILOVER_LEASE_MS }),
          budget: `≤ ${limitTwo} ms`,
          ok: two <= limitTwo,
          note: `SIGKILL → new owner's first commit, two hosts (lease ${FAILOVER_LEASE_MS} ms runs out): ${two} ms`,
        },
      ];
    }),
  board_throughput: () =>
    eachStore(async (s) => {
      const cores = availableParallelism();
      const lines: BoardLine[] = [];
      for (const processes of [1, 2]) {
        const rate = await throughput(s, processes);
        lines.push({
          row: row(`board_throughput_${s.kind}_${processes}p`, THROUGHPUT_JOBS, THROUGHPUT_JOBS / rate, { jobs_per_s: round(rate, 1), processes, cores }),
          note: `${rate.toFixed(0)} jobs/s, 5-atom flows, ${processes} conductor process(es) × concurrency 4, ${cores} cores`,
        });
      }
      return lines;
    }),
};
