/**
 * The workloads on the SQLite backend: the TaskFlow script's durable linear run (normal and full
 * durability), the SQLite floor they are read against (better-sqlite3 alone), and resume.
 */
import Database from 'better-sqlite3';
import { LinearFlow, Task, load, type Engine, type FlowItem } from '../index.js';
import { SqliteBackend, type Durability, type Locking } from '../persistence/index.js';
import { Hook, Noop, addAll, check, linear, now, round, scratch, secs, type Sample, type Workload } from './cases.js';

/**
 * One serial run of `flow(n)` on a fresh SQLite file opened by `open`, checked against what it
 * stored; opening the backend (schema creation) is not timed, as in TaskFlow's script.
 */
export async function timedSqliteRun(n: number, flow: (n: number) => FlowItem, open: (path: string) => SqliteBackend): Promise<Sample> {
  const tmp = scratch();
  const backend = open(tmp.path);
  try {
    const t0 = now();
    const e = load(flow(n), { engine: 'serial', backend });
    await e.run();
    const s = secs(t0);
    const stored = await backend.getFlowDetail(e.flowDetail.uuid);
    check(stored.state === 'SUCCESS' && stored.atomDetails.length === n, 'the stored run is not SUCCESS with every atom');
    return { seconds: s };
  } finally {
    await backend.close();
    tmp.done();
  }
}

/** Durable SQLite on a fresh file (the TaskFlow script's durable linear run). */
export function linearSerialSqlite(durability: Durability, locking: Locking = 'shared'): Workload {
  return (n) => timedSqliteRun(n, linear, (path) => new SqliteBackend(path, { durability, locking }));
}

/**
 * The SQLite floor: what the engine's SQLite work costs at least, with better-sqlite3 directly, on a
 * fresh file in the same directory (WAL; synchronous NORMAL or FULL as the durability). One
 * IMMEDIATE transaction per atom, shaped like the engine's step commit for a linear flow (one
 * flow-row UPDATE and two atom-row upserts: the finished atom and the next one starting), on a
 * simpler schema (no foreign keys, no secondary index). Opening and creating tables is not timed.
 */
export function rawSqlite(durability: Durability): Workload {
  return async (n) => {
    const tmp = scratch();
    try {
      return { seconds: sqliteFloorSeconds(tmp.path, durability, n) };
    } finally {
      tmp.done();
    }
  };
}

/** `n` steps of the SQLite floor (see `rawSqlite`) on a new file at `path`: the seconds they took. */
export function sqliteFloorSeconds(path: string, durability: Durability, n: number): number {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`CREATE TABLE flows (uuid TEXT PRIMARY KEY, state TEXT, meta TEXT, updated_at REAL);
      CREATE TABLE atoms (uuid TEXT PRIMARY KEY, parent TEXT, name TEXT, state TEXT, intention TEXT, results TEXT, meta TEXT, updated_at REAL)`);
    db.prepare("INSERT INTO flows VALUES ('f', 'RUNNING', '{}', 0)").run();
    const flow = db.prepare('UPDATE flows SET state = ?, meta = ?, updated_at = ? WHERE uuid = ?');
    const atom = db.prepare(`INSERT INTO atoms VALUES (?, 'f', ?, ?, 'EXECUTE', ?, '{}', ?) ON CONFLICT(uuid) DO UPDATE SET
      state = excluded.state, results = excluded.results, meta = excluded.meta, updated_at = excluded.updated_at`);
    const step = db.transaction((i: number) => {
      const t = Date.now();
      flow.run('RUNNING', '{}', t, 'f');
      if (i > 0) atom.run(`a${i - 1}`, `t${i - 1}`, 'SUCCESS', '[1]', t);
      atom.run(`a${i}`, `t${i}`, 'RUNNING', null, t);
    });
    const t0 = now();
    for (let i = 0; i < n; i++) step.immediate(i);
    const s = secs(t0);
    check((db.prepare('SELECT count(*) AS c FROM atoms').get() as { c: number }).c === n, 'raw sqlite rows');
    return s;
  } finally {
    db.close();
  }
}

/**
 * Stores an n-atom linear run on SQLite, suspended by the task in the middle; then, with a new
 * backend connection and a fresh engine, times `load(flow, { backend, flowDetail })` + `run()` up
 * to the first newly executed atom's execute call (that atom suspends the resumed run, so the rest
 * is not run).
 */
export async function resumeSqlite(n: number): Promise<Sample> {
  const mid = Math.floor(n / 2);
  const tmp = scratch();
  try {
    const first = new SqliteBackend(tmp.path);
    let e1: Engine | undefined;
    const tasks1: Task[] = new Array(n);
    for (let i = 0; i < n; i++) tasks1[i] = i === mid - 1 ? new Hook(`t${i}`, () => e1!.suspend()) : new Noop({ name: `t${i}` });
    e1 = load(addAll(new LinearFlow('lin'), tasks1), { engine: 'serial', backend: first });
    const s0 = now();
    await e1.run();
    const storeSeconds = secs(s0);
    const uuid = e1.flowDetail.uuid;
    check(e1.storage.getFlowState() === 'SUSPENDED', 'the first run did not suspend');
    check(e1.storage.getAtomState(`t${mid - 1}`) === 'SUCCESS' && e1.storage.getAtomState(`t${mid}`) === 'PENDING', 'the first run did not stop half-way');
    await first.close();
    e1 = undefined;

    const backend = new SqliteBackend(tmp.path);
    try {
      let e2: Engine | undefined;
      let firstAt = 0;
      let firstName = '';
      const tasks2: Task[] = new Array(n);
      const probe = (name: string): void => {
        if (firstAt !== 0) return;
        firstAt = now();
        firstName = name;
        e2!.suspend();
      };
      for (let i = 0; i < n; i++) tasks2[i] = new Hook(`t${i}`, probe);
      const flow = addAll(new LinearFlow('lin'), tasks2);
      const t0 = now();
      e2 = load(flow, { engine: 'serial', backend, flowDetail: uuid });
      await e2.run();
      check(firstAt !== 0 && firstName === `t${mid}`, `the first resumed atom was ${firstName || 'none'}, not t${mid}`);
      return { seconds: secs(t0, firstAt), extra: { store_seconds: round(storeSeconds, 3), suspended_at: mid } };
    } finally {
      await backend.close();
    }
  } finally {
    tmp.done();
  }
}
