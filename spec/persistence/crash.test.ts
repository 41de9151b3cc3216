/**
 * Real crash tests: a child process runs a flow on SQLite (and on PostgreSQL) and is killed with SIGKILL at a chosen
 * point (inside an atom's execute, inside a revert, between atoms); a new process resumes it.
 * The side-effect journal shows that completed atoms never ran again and only the in-flight atom
 * re-ran; final states and results equal an uncrashed run's. Then a seeded random sweep.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBackend } from '../../index.js';
import type { CrashFlowKind } from '../support/crash-child.js';
import { freshUri } from '../support/postgres.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'crash-child.js');

interface Outcome {
  flowState: string | null;
  atoms: Record<string, { state: string; intention: string; results: unknown }>;
  journal: string[];
}

/** Where a crash case stores its run: a SQLite file in its folder, or a fresh PostgreSQL schema (dropped at the end). */
type Store = (dir: string) => string;
/**
 * SQLite runs every case and a sweep of 10; PostgreSQL (the same engine code over another
 * store) one case per flow shape and kill point kind and a sweep of 4, to keep the wall time modest.
 */
const STORES: ReadonlyArray<{ name: string; store: Store; only?: ReadonlySet<string>; sweep: number }> = [
  { name: 'SQLite', store: (dir) => `sqlite://${path.join(dir, 'run.db')}`, sweep: 10 },
  {
    name: 'PostgreSQL',
    store: () => freshUri('crash', '&durability=normal'),
    only: new Set(['linear c:execute', 'graph c:after', 'retry b:revert', 'revert boom:execute', 'batch d:execute']),
    sweep: 4,
  },
];

interface Place {
  readonly dir: string;
  readonly uri: string;
}

function runChild(at: Place, kind: CrashFlowKind, killAt: string, uuid?: string): { status: number | null; signal: string | null; uuid: string } {
  const r = spawnSync(process.execPath, [CHILD, at.uri, path.join(at.dir, 'journal'), kind, killAt, ...(uuid ? [uuid] : [])], { encoding: 'utf8', timeout: 60_000 });
  const first = r.stdout.split('\n')[0] ?? '';
  if (r.status !== 0 && r.signal !== 'SIGKILL') throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return { status: r.status, signal: r.signal, uuid: uuid ?? first };
}

async function outcome(at: Place, uuid: string): Promise<Outcome> {
  const { dir } = at;
  const backend = await openBackend(at.uri);
  try {
    const fd = await backend.getFlowDetail(uuid);
    const atoms: Outcome['atoms'] = {};
    for (const d of fd.atomDetails) atoms[d.name] = { state: d.state, intention: d.intention, results: d.kind === 'retry' ? (d.results as unknown[]).length : d.results };
    const journal = fs.existsSync(path.join(dir, 'journal')) ? fs.readFileSync(path.join(dir, 'journal'), 'utf8').split('\n').filter(Boolean) : [];
    return { flowState: fd.state, atoms, journal };
  } finally {
    await backend.close();
  }
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tmp(store: Store): Place {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-crash-'));
  dirs.push(dir);
  return { dir, uri: store(dir) };
}

async function uncrashed(store: Store, kind: CrashFlowKind): Promise<Outcome> {
  const at = tmp(store);
  const { uuid } = runChild(at, kind, '-');
  return outcome(at, uuid);
}

/** Runs `kind`, killing it at `killAt`, then resumes it in a new process. */
async function crashAndResume(store: Store, kind: CrashFlowKind, killAt: string): Promise<{ before: Outcome; after: Outcome }> {
  const at = tmp(store);
  const first = runChild(at, kind, killAt);
  assert.equal(first.signal, 'SIGKILL', `expected the child to be killed at ${killAt}`);
  const before = await outcome(at, first.uuid);
  runChild(at, kind, '-', first.uuid);
  return { before, after: await outcome(at, first.uuid) };
}

function count(journal: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of journal) m.set(line, (m.get(line) ?? 0) + 1);
  return m;
}

/**
 * Compares the journal of a crashed-and-resumed run with the uncrashed one: an atom that had
 * finished (stored SUCCESS/REVERTED) never ran again; an atom in flight when the process died
 * (stored RUNNING or REVERTING: a start is committed together with the previous step's results,
 * so it may not have begun; in a serial batch only the member in flight is stored so) ran at most
 * once more; the atom killed inside its own execute/revert ran exactly once more.
 */
function assertOnlyInflightReran(clean: Outcome, before: Outcome, after: Outcome, killAt: string): void {
  const want = count(clean.journal);
  const got = count(after.journal);
  const inflight = new Set<string>();
  for (const [name, a] of Object.entries(before.atoms)) {
    if (a.state === 'RUNNING') inflight.add(`execute:${name}`);
    if (a.state === 'REVERTING') inflight.add(`revert:${name}`);
  }
  const [atom, phase] = killAt.split(':') as [string, string];
  const killedIn = phase === 'after' ? undefined : `${phase}:${atom}`;
  for (const line of new Set([...want.keys(), ...got.keys()])) {
    const w = want.get(line) ?? 0;
    const g = got.get(line) ?? 0;
    if (line === killedIn) assert.equal(g, w + 1, `${line} was killed in flight and must run exactly once more`);
    else if (inflight.has(line)) assert.ok(g === w || g === w + 1, `${line} was in flight: ${g} runs, uncrashed ${w}`);
    else assert.equal(g, w, `${line} had finished or not started: it must not run again`);
  }
}

/**
 * A kill inside a serial batch: the members that had finished are stored with their outcome, the
 * one in flight as started, those not started yet as before the batch; on resume only the one in
 * flight runs again (nothing else runs twice, nothing finished is lost).
 */
function assertBatchKill(clean: Outcome, before: Outcome, after: Outcome, killAt: string, expected: Record<string, string>): void {
  assert.deepEqual(Object.fromEntries(Object.entries(before.atoms).map(([k, v]) => [k, v.state])), expected, `stored states when killed at ${killAt}`);
  const want = count(clean.journal);
  const got = count(after.journal);
  const [atom, phase] = killAt.split(':') as [string, string];
  for (const line of new Set([...want.keys(), ...got.keys()])) {
    const w = want.get(line) ?? 0;
    assert.equal(got.get(line) ?? 0, line === `${phase}:${atom}` ? w + 1 : w, `${line}: only the atom in flight may run again`);
  }
}

const batchCases: Array<[CrashFlowKind, string, Record<string, string>]> = [
  ['batch', 'b:execute', { a: 'SUCCESS', b: 'RUNNING', c: 'PENDING', d: 'PENDING', e: 'PENDING', f: 'PENDING' }],
  ['batch', 'd:execute', { a: 'SUCCESS', b: 'SUCCESS', c: 'SUCCESS', d: 'RUNNING', e: 'PENDING', f: 'PENDING' }],
  ['batch', 'e:execute', { a: 'SUCCESS', b: 'SUCCESS', c: 'SUCCESS', d: 'SUCCESS', e: 'RUNNING', f: 'PENDING' }],
  ['batch-revert', 'c:revert', { a: 'SUCCESS', b: 'SUCCESS', c: 'REVERTING', d: 'REVERTED', e: 'REVERTED', boom: 'REVERTED' }],
];

const cases: Array<[CrashFlowKind, string]> = [
  ['linear', 'c:execute'],
  ['linear', 'b:after'],
  ['linear', 'e:execute'],
  ['graph', 'b:execute'],
  ['graph', 'c:after'],
  ['retry', 'flaky:execute'],
  ['retry', 'b:revert'],
  ['retry', 'b:after'],
  ['revert', 'b:revert'],
  ['revert', 'd:revert'],
  ['revert', 'boom:execute'],
];

for (const { name: storeName, store, only, sweep } of STORES) describe(`crash and resume on ${storeName} (SIGKILL)`, () => {
  const clean = new Map<CrashFlowKind, Promise<Outcome>>();
  const cleanOf = (k: CrashFlowKind) => {
    if (!clean.has(k)) clean.set(k, uncrashed(store, k));
    return clean.get(k)!;
  };

  for (const [kind, killAt] of cases) {
    if (only !== undefined && !only.has(`${kind} ${killAt}`)) continue;
    test(`${kind} flow killed at ${killAt} resumes to the uncrashed outcome`, async () => {
      const reference = await cleanOf(kind);
      const { before, after } = await crashAndResume(store, kind, killAt);
      assert.equal(before.flowState, 'RUNNING', 'the killed run is stored as RUNNING');
      const [atom, phase] = killAt.split(':') as [string, string];
      if (phase !== 'after') assert.equal(before.atoms[atom]!.state, phase === 'execute' ? 'RUNNING' : 'REVERTING');
      assert.equal(after.flowState, reference.flowState);
      assert.deepEqual(after.atoms, reference.atoms);
      assertOnlyInflightReran(reference, before, after, killAt);
    });
  }

  for (const [kind, killAt, expected] of batchCases) {
    if (only !== undefined && !only.has(`${kind} ${killAt}`)) continue;
    test(`serial batch: ${kind} flow killed at ${killAt} re-runs only the member in flight`, async () => {
      const reference = await cleanOf(kind);
      const { before, after } = await crashAndResume(store, kind, killAt);
      assert.equal(before.flowState, 'RUNNING');
      assert.equal(after.flowState, reference.flowState);
      assert.deepEqual(after.atoms, reference.atoms);
      assertBatchKill(reference, before, after, killAt, expected);
    });
  }

  test('serial batch: a failure stored before the kill is resolved on resume; the member cut short is reverted, not run again', async () => {
    const { before, after } = await crashAndResume(store, 'batch-fail', 'c:execute');
    assert.deepEqual(
      Object.fromEntries(Object.entries(before.atoms).map(([k, v]) => [k, `${v.state}/${v.intention}`])),
      { a: 'SUCCESS/EXECUTE', b: 'SUCCESS/EXECUTE', x: 'FAILURE/EXECUTE', c: 'RUNNING/EXECUTE', d: 'PENDING/EXECUTE' },
    );
    assert.equal(after.flowState, 'REVERTED');
    assert.deepEqual(
      Object.fromEntries(Object.entries(after.atoms).map(([k, v]) => [k, v.state])),
      { a: 'REVERTED', b: 'REVERTED', x: 'REVERTED', c: 'REVERTED', d: 'PENDING' },
    );
    const got = count(after.journal);
    for (const name of ['a', 'b', 'x', 'c']) {
      assert.equal(got.get(`execute:${name}`), 1, `${name} ran once`);
      assert.equal(got.get(`revert:${name}`), 1, `${name} was reverted once`);
    }
    assert.equal(got.get('execute:d'), undefined, 'd never started');
    assert.ok(after.journal.indexOf('revert:a') > after.journal.indexOf('revert:c'), 'a is reverted after the batch');
  });

  test('the killed atom is stored RUNNING (or REVERTING) and finished atoms keep their results', async () => {
    const { before } = await crashAndResume(store, 'linear', 'c:execute');
    assert.deepEqual(
      Object.fromEntries(Object.entries(before.atoms).map(([k, v]) => [k, v.state])),
      { a: 'SUCCESS', b: 'SUCCESS', c: 'RUNNING', d: 'PENDING', e: 'PENDING' },
    );
    assert.equal(before.atoms.b!.results, 'b()');
    const rev = await crashAndResume(store, 'revert', 'b:revert');
    assert.equal(rev.before.atoms.b!.state, 'REVERTING');
    assert.equal(rev.after.flowState, 'REVERTED');
  });

  test('a seeded random sweep of kill points keeps every invariant', async () => {
    // Small deterministic PRNG (mulberry32), so a failure names a reproducible seed.
    let seed = 0x5eed;
    const rand = () => {
      seed |= 0;
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const points: Record<CrashFlowKind, string[]> = {
      linear: ['a', 'b', 'c', 'd', 'e'].flatMap((a) => [`${a}:execute`, `${a}:after`]),
      graph: ['a', 'b', 'c', 'd'].flatMap((a) => [`${a}:execute`, `${a}:after`]),
      retry: ['a:execute', 'b:execute', 'b:revert', 'flaky:execute', 'flaky:revert', 'c:execute', 'b:after'],
      revert: ['a:revert', 'b:revert', 'c:revert', 'd:revert', 'boom:revert', 'd:execute', 'c:after'],
      batch: ['b', 'c', 'd', 'e'].flatMap((a) => [`${a}:execute`, `${a}:after`]),
      'batch-revert': ['b', 'c', 'd', 'e'].flatMap((a) => [`${a}:execute`, `${a}:revert`]),
      // (a kill in a member after x, once x's failure is stored, has its own test above)
      'batch-fail': ['b:execute', 'x:execute', 'a:revert', 'b:revert', 'x:revert', 'c:revert', 'd:revert'],
    };
    const kinds = Object.keys(points) as CrashFlowKind[];
    for (let i = 0; i < sweep; i++) {
      const kind = kinds[Math.floor(rand() * kinds.length)]!;
      const list = points[kind];
      const killAt = list[Math.floor(rand() * list.length)]!;
      const reference = await cleanOf(kind);
      const { before, after } = await crashAndResume(store, kind, killAt);
      assert.equal(after.flowState, reference.flowState, `${kind} @ ${killAt}`);
      assert.deepEqual(after.atoms, reference.atoms, `${kind} @ ${killAt}`);
      assertOnlyInflightReran(reference, before, after, killAt);
    }
  });
});
