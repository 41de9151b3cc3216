/**
 * The workloads on PostgreSQL (and the many-small-flows one on SQLite beside it):
 *
 * - `raw_postgres`: the floor — one bare statement per step on one connection, on atomflow's own
 *   tables (a CTE updating the flow row and upserting two atom rows: the one finished and the next
 *   one starting), no engine.
 * - `linear_serial_postgres`: the engine's durable linear run, per atom, on the PostgreSQL backend
 *   (one connection). Raw and engine runs are interleaved round-robin in the same process, at
 *   durability normal (`synchronous_commit = off`) and full (`on`), so that their ratio (budget
 *   ≤ 1.5×) is read from the same minutes of a shared machine's disk.
 * - `saga_throughput`: 10,000 flows of 5 atoms, 64 in flight, one process, on SQLite and on
 *   PostgreSQL (durability normal on both): flows/s and store writes per flow, beside the bare
 *   commit rate measured the same way (the ceiling: commits/s ÷ commits per flow).
 *
 * The server is `ATOMFLOW_PG_URL` (default the local test database); every schema made here is
 * dropped before the case returns.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { LinearFlow, PostgresBackend, SqliteBackend, Task, load, type Backend, type FlowChange, type LogBook } from '../index.js';
import type { Claim, ClaimRequest } from '../persistence/backend.js';
import type { Durability } from '../persistence/index.js';
import { Noop, check, linear, now, round, scratch, secs } from './cases.js';
import type { Row } from './run.js';
import { sqliteFloorSeconds } from './sqlite-cases.js';

const PG_URL = process.env['ATOMFLOW_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PgRow {
  readonly name: string;
  readonly n: number;
  readonly seconds: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** A pool set up as `PostgresBackend.open()` sets up its own (durability, generic plans). */
async function pool(durability: Durability, max: number): Promise<pg.Pool> {
  const { default: driver } = await import('pg');
  const p = new driver.Pool({ connectionString: PG_URL, max, options: `-c synchronous_commit=${durability === 'full' ? 'on' : 'off'} -c plan_cache_mode=force_generic_plan` });
  p.on('error', () => {});
  return p;
}

const schemaName = (what: string): string => `af_bench_${what}_${process.pid}_${randomBytes(3).toString('hex')}`;

/**
 * The raw floor: atomflow's own tables (made by the backend's migrations in `schema`, with `flows`
 * flow rows f0…) and one bare statement per step, shaped like the engine's commit — the flow row
 * updated and two atom rows upserted (the one finished, the next one starting) — without the
 * engine, the row codec, the foreign-atom check or the column arrays.
 */
async function rawTables(p: pg.Pool, schema: string, flows: number): Promise<string> {
  await new PostgresBackend({ pool: p, schema }).getLogBooks(); // creates and migrates the schema
  const s = `"${schema}"`;
  await p.query(`INSERT INTO ${s}.logbooks (uuid, format, name, meta, created_at) VALUES ('b', 1, 'raw', '{}', 0);
    INSERT INTO ${s}.flowdetails (uuid, parent_uuid, format, name, state, meta, created_at)
      SELECT 'f' || g, 'b', 1, 'raw', 'RUNNING', '{}', 0 FROM generate_series(0, ${flows - 1}) g`);
  return `WITH f AS (UPDATE ${s}.flowdetails SET state = 'RUNNING', meta = '{}', updated_at = $2 WHERE uuid = $1 RETURNING uuid)
    INSERT INTO ${s}.atomdetails (uuid, parent_uuid, format, name, kind, version, state, intention, results, meta, created_at, updated_at)
    SELECT v.uuid, f.uuid, 1, v.name, 'task', '1.0', v.state, 'EXECUTE', v.results, '{}', $2, $2 FROM f,
      (VALUES ($3::text, $4::text, 'SUCCESS', '1'), ($5::text, $6::text, 'RUNNING', NULL)) AS v(uuid, name, state, results)
    ON CONFLICT (uuid) DO UPDATE SET state = excluded.state, results = excluded.results, meta = excluded.meta, updated_at = excluded.updated_at`;
}

/** A timed run: wall seconds, and CPU seconds of this process plus the server process of the (one) connection. */
interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

/** CPU seconds (user + system) a process on this machine has used, from /proc (NaN where unreadable). */
function procCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

/** Times `work` on the pool's one connection: wall, and CPU of both ends (the server process read from /proc). */
async function timing(p: pg.Pool, work: () => Promise<void>): Promise<Timing> {
  const pid = (await p.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const s0 = procCpu(pid);
  const c0 = process.cpuUsage();
  const t0 = now();
  await work();
  const wall = secs(t0);
  const c = process.cpuUsage(c0);
  const samePid = (await p.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid === pid;
  return { wall, cpu: (c.user + c.system) / 1e6 + (samePid ? procCpu(pid) - s0 : Number.NaN) };
}

/** n bare steps on one connection. */
async function rawRun(p: pg.Pool, step: string, n: number, tag: string): Promise<Timing> {
  return timing(p, async () => {
    for (let i = 0; i < n; i++) {
      const t = Date.now();
      await p.query({ name: 'af_bench_raw', text: step, values: ['f0', t, `${tag}${i - 1}`, `t${i - 1}`, `${tag}${i}`, `t${i}`] });
    }
  });
}

/** Store calls seen by a counting backend. */
interface Calls {
  commits: number;
  /** Commits that carried a fencing token. */
  fenced: number;
  other: number;
}

/** SQLite counting its commits (through `commitSync`, which the engine uses) and other writes. */
class CountingSqlite extends SqliteBackend {
  readonly calls: Calls = { commits: 0, fenced: 0, other: 0 };
  override commitSync(flowUuid: string, change: FlowChange): void {
    this.calls.commits++;
    super.commitSync(flowUuid, change);
  }
  override async saveLogBook(book: LogBook): Promise<void> {
    this.calls.other++;
    return super.saveLogBook(book);
  }
  override async claim(flowUuid: string, request: ClaimRequest): Promise<Claim> {
    this.calls.other++;
    return super.claim(flowUuid, request);
  }
  override async release(flowUuid: string, token: number): Promise<void> {
    this.calls.other++;
    return super.release(flowUuid, token);
  }
}

/** PostgreSQL counting its commits and other writes. */
class CountingPostgres extends PostgresBackend {
  readonly calls: Calls = { commits: 0, fenced: 0, other: 0 };
  override async commit(flowUuid: string, change: FlowChange): Promise<void> {
    this.calls.commits++;
    if ((change as { fence?: number }).fence !== undefined) this.calls.fenced++;
    return super.commit(flowUuid, change);
  }
  override async saveLogBook(book: LogBook): Promise<void> {
    this.calls.other++;
    return super.saveLogBook(book);
  }
  override async claim(flowUuid: string, request: ClaimRequest): Promise<Claim> {
    this.calls.other++;
    return super.claim(flowUuid, request);
  }
  override async release(flowUuid: string, token: number): Promise<void> {
    this.calls.other++;
    return super.release(flowUuid, token);
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
}

/** The engine's commits without their fence (what they were before ownership; the claim is still made). */
class UnfencedPostgres extends CountingPostgres {
  override async commit(flowUuid: string, change: FlowChange): Promise<void> {
    const { fence: _fence, ...unfenced } = change as FlowChange & { fence?: number };
    return super.commit(flowUuid, unfenced);
  }
}

/** One engine run of linear(n) on `backend`: seconds, commits, and whether its commits carried a fence. */
async function engineRun(p: pg.Pool, backend: CountingPostgres, n: number): Promise<Timing & { commits: number; fenced: boolean }> {
  const before = backend.calls.commits;
  const fencedBefore = backend.calls.fenced;
  const t = await timing(p, async () => {
    const e = load(linear(n), { engine: 'serial', backend });
    await e.run();
    check(e.storage.getFlowState() === 'SUCCESS', 'the postgres run did not succeed');
  });
  return { ...t, commits: backend.calls.commits - before, fenced: backend.calls.fenced > fencedBefore };
}

/**
 * raw_postgres, linear_serial_postgres (owned and fenced when the engine claims its runs) and the
 * same run with the fence stripped from each commit, at one durability: `rounds` interleaved
 * rounds of n steps each (after one warm-up round; the two engine variants alternate which goes
 * first), medians reported.
 */
export async function linearSerialPostgres(durability: Durability, n: number, rounds = 5): Promise<{ raw: PgRow; engine: PgRow; unfenced: PgRow }> {
  const p = await pool(durability, 1);
  const schema = schemaName('lin');
  const full = durability === 'full' ? '_full' : '';
  try {
    const step = await rawTables(p, schema, 1);
    const fencedBackend = new CountingPostgres({ pool: p, schema: `${schema}_af` });
    const unfencedBackend = new UnfencedPostgres({ pool: p, schema: `${schema}_af` });
    const rawT: Timing[] = [];
    const engT: Timing[] = [];
    const unfT: Timing[] = [];
    let commits = 0;
    let fenced = false;
    for (let r = -1; r < rounds; r++) {
      const size = r < 0 ? Math.min(n, 300) : n;
      const raw = await rawRun(p, step, size, `r${r}_`);
      const order = r % 2 === 0 ? [fencedBackend, unfencedBackend] : [unfencedBackend, fencedBackend];
      const got = new Map<CountingPostgres, Awaited<ReturnType<typeof engineRun>>>();
      for (const b of order) got.set(b, await engineRun(p, b, size));
      if (r < 0) continue;
      rawT.push(raw);
      engT.push(got.get(fencedBackend)!);
      unfT.push(got.get(unfencedBackend)!);
      commits = got.get(fencedBackend)!.commits;
      fenced = got.get(fencedBackend)!.fenced;
    }
    const wall = (xs: Timing[]) => median(xs.map((x) => x.wall));
    const cpu = (xs: Timing[]) => median(xs.map((x) => x.cpu));
    const runs = (xs: Timing[]) => xs.map((x) => round(x.wall, 4));
    const cpuUs = (xs: Timing[]) => round((cpu(xs) / n) * 1e6, 2);
    return {
      raw: { name: `raw_postgres${full}`, n, seconds: wall(rawT), extra: { runs: runs(rawT), cpu_us_per_atom: cpuUs(rawT) } },
      engine: {
        name: `linear_serial_postgres${full}`,
        n,
        seconds: wall(engT),
        extra: {
          runs: runs(engT),
          cpu_us_per_atom: cpuUs(engT),
          vs_raw: round(wall(engT) / wall(rawT), 3),
          vs_raw_cpu: round(cpu(engT) / cpu(rawT), 3),
          commits_per_atom: round(commits / n, 3),
          fenced,
        },
      },
      unfenced: {
        name: `linear_serial_postgres${full}_unfenced`,
        n,
        seconds: wall(unfT),
        extra: { runs: runs(unfT), cpu_us_per_atom: cpuUs(unfT), fenced_over_unfenced: round(wall(engT) / wall(unfT), 3), fenced_over_unfenced_cpu: round(cpu(engT) / cpu(unfT), 3) },
      },
    };
  } finally {
    await p.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_af" CASCADE`).catch(() => {});
    await p.end();
  }
}

const SAGA_ATOMS = 5;
const IN_FLIGHT = 64;

class Step extends Task<Record<string, never>, number> {
  override execute(): number {
    return 1;
  }
  override revert(): void {}
}

function saga(k: number): LinearFlow {
  const flow = new LinearFlow(`saga-${k}`);
  for (let i = 0; i < SAGA_ATOMS; i++) flow.add(i % 2 === 0 ? new Step({ name: `s${i}` }) : new Noop({ name: `s${i}` }));
  return flow;
}

/** `flows` sagas, IN_FLIGHT at a time, on `backend`: seconds and store calls. */
async function sagas(backend: Backend & { readonly calls: Calls }, flows: number): Promise<{ seconds: number; commits: number; other: number }> {
  const start = { ...backend.calls };
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let k = next++; k < flows; k = next++) {
      const e = load(saga(k), { engine: 'serial', backend });
      await e.run();
      if (e.storage.getFlowState() !== 'SUCCESS') throw new Error(`saga ${k} did not succeed`);
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = secs(t0);
  return { seconds, commits: backend.calls.commits - start.commits, other: backend.calls.other - start.other };
}

/** The bare commit rate with the same concurrency: IN_FLIGHT loops of raw steps over `conns` connections. */
async function bareRatePostgres(p: pg.Pool, step: string, total: number): Promise<number> {
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    for (let i = next++; i < total; i = next++) {
      await p.query({ name: 'af_bench_raw', text: step, values: [`f${w}`, Date.now(), `${i}:a`, 'ta', `${i}:b`, 'tb'] });
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  return total / secs(t0);
}

function bareRateSqlite(path: string, total: number): number {
  return total / sqliteFloorSeconds(path, 'normal', total);
}

/** saga_throughput on SQLite and PostgreSQL: one row each, flows/s with commits per flow and the bare rate. */
export async function sagaThroughput(flows: number): Promise<PgRow[]> {
  const rows: PgRow[] = [];
  const warm = Math.min(flows, 1000);
  // SQLite
  {
    const tmp = scratch();
    const backend = new CountingSqlite(tmp.path, { durability: 'normal' });
    try {
      await sagas(backend, warm);
      const r = await sagas(backend, flows);
      const bare = bareRateSqlite(`${tmp.path}-raw`, 20_000);
      rows.push(sagaRow('saga_throughput_sqlite', flows, r, bare));
    } finally {
      await backend.close();
      tmp.done();
    }
  }
  // PostgreSQL: the backend's default pool size (4)
  {
    const p = await pool('normal', 4);
    const schema = schemaName('saga');
    try {
      const backend = new CountingPostgres({ pool: p, schema });
      await sagas(backend, warm);
      const r = await sagas(backend, flows);
      const step = await rawTables(p, `${schema}_raw`, IN_FLIGHT);
      const bare = await bareRatePostgres(p, step, 20_000);
      rows.push(sagaRow('saga_throughput_postgres', flows, r, bare));
    } finally {
      await p.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_raw" CASCADE`).catch(() => {});
      await p.end();
    }
  }
  return rows;
}

function sagaRow(name: string, flows: number, r: { seconds: number; commits: number; other: number }, bare: number): PgRow {
  const perFlow = (r.commits + r.other) / flows;
  return {
    name,
    n: flows * SAGA_ATOMS, // so that µs/atom is per atom
    seconds: r.seconds,
    extra: {
      flows,
      flows_per_s: Math.round(flows / r.seconds),
      commits_per_flow: round(r.commits / flows, 2),
      other_writes_per_flow: round(r.other / flows, 2),
      bare_commits_per_s: Math.round(bare),
      ceiling_flows_per_s: Math.round(bare / perFlow),
      atoms_per_flow: SAGA_ATOMS,
      in_flight: IN_FLIGHT,
    },
  };
}

// ---- the cases, as bench/run.ts lists them ------------------------------------------------------

interface LineLike {
  readonly row: Row;
  readonly budget?: string;
  readonly ok?: boolean;
  readonly note?: string;
  readonly perAtom?: boolean;
}

type ToRow = (name: string, m: { n: number; seconds: number; extra?: Readonly<Record<string, unknown>> }) => Row;

/** Steps per linear run on PostgreSQL (each a round trip, ~0.1–3 ms): at most 2,000. */
const pgN = (n: number): number => Math.min(n, 2_000);

export function postgresCases(toRow: ToRow): Record<string, (c: { n: number }) => Promise<LineLike[]>> {
  const us = (r: PgRow): number => (r.seconds / r.n) * 1e6;
  return {
    linear_serial_postgres: async ({ n }) => {
      const lines: LineLike[] = [];
      for (const durability of ['normal', 'full'] as const) {
        // With an fsync per step (full), fewer steps: the ratio is what is judged.
        const { raw, engine, unfenced } = await linearSerialPostgres(durability, durability === 'full' ? Math.min(pgN(n), 500) : pgN(n));
        const ratio = us(engine) / us(raw);
        const fence = us(engine) / us(unfenced);
        const owned = engine.extra['fenced'] === true;
        lines.push({ row: toRow(raw.name, raw), perAtom: true, note: `PG floor: 1 bare statement/step, synchronous_commit ${durability === 'full' ? 'on' : 'off'}` });
        lines.push({
          row: toRow(engine.name, engine),
          perAtom: true,
          budget: '≤ 1.5 × raw_postgres',
          ok: ratio <= 1.5,
          note: `${ratio.toFixed(2)} × ${raw.name} wall, ${engine.extra['vs_raw_cpu'] as number} × CPU (client + server; interleaved, same run); ${engine.extra['commits_per_atom'] as number} commits/atom; ${owned ? 'owned and fenced' : 'not fenced'}`,
        });
        lines.push({
          row: toRow(unfenced.name, unfenced),
          perAtom: true,
          ...(owned ? { budget: 'fenced ≤ 1.05 ×', ok: fence <= 1.05 } : {}),
          note: `the same run, fence stripped from each commit: fenced/unfenced ${fence.toFixed(3)} wall, ${unfenced.extra['fenced_over_unfenced_cpu'] as number} CPU (alternating runs)`,
        });
      }
      return lines;
    },
    saga_throughput: async ({ n }) =>
      (await sagaThroughput(Math.min(n, 10_000))).map((r) => ({
        row: toRow(r.name, r),
        perAtom: true,
        note: `${r.extra['flows'] as number} flows of 5: ${r.extra['flows_per_s'] as number} flows/s, ${r.extra['commits_per_flow'] as number} commits + ${r.extra['other_writes_per_flow'] as number} other writes (book save, claim, release)/flow; bare ${r.extra['bare_commits_per_s'] as number} commits/s → ceiling ${r.extra['ceiling_flows_per_s'] as number} flows/s`,
      })),
  };
}
