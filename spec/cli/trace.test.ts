/** `atomflow trace` and the trace builder: valid Trace Event Format JSON, one slice per execute/revert, retries visible. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinearFlow, SqliteBackend, Times, UnorderedFlow, load, task } from '../../index.js';
import { traceOf, type Trace } from '../../persistence/index.js';
import { cli, tempDir } from './helpers.js';

/** Checks `doc` against the Trace Event Format (JSON object form) as far as this writer uses it. */
function assertTraceFormat(doc: unknown): asserts doc is Trace {
  assert.equal(typeof doc, 'object');
  const t = doc as Record<string, unknown>;
  assert.ok(Array.isArray(t.traceEvents), 'traceEvents is an array');
  assert.ok(t.displayTimeUnit === 'ms' || t.displayTimeUnit === 'ns');
  const threads = new Set<string>();
  for (const e of t.traceEvents as Array<Record<string, unknown>>) {
    assert.equal(typeof e.name, 'string');
    assert.ok(e.ph === 'X' || e.ph === 'M', `phase ${String(e.ph)}`);
    assert.ok(Number.isInteger(e.pid), 'pid is an integer');
    assert.ok(Number.isInteger(e.tid), 'tid is an integer');
    assert.equal(typeof e.ts, 'number');
    assert.ok((e.ts as number) >= 0);
    if (e.ph === 'X') {
      assert.equal(typeof e.dur, 'number', 'a complete event has a duration');
      assert.ok((e.dur as number) >= 0);
      assert.ok(e.cat === 'execute' || e.cat === 'revert');
      assert.equal(typeof e.args, 'object');
    } else {
      assert.ok(['process_name', 'thread_name', 'thread_sort_index'].includes(e.name as string));
      if (e.name === 'thread_name') threads.add(`${e.pid}/${e.tid}`);
    }
  }
  // Slices on one track nest properly (no partial overlap).
  const byTrack = new Map<string, Array<{ ts: number; end: number }>>();
  for (const e of t.traceEvents as Array<{ ph: string; pid: number; tid: number; ts: number; dur: number }>) {
    if (e.ph !== 'X') continue;
    assert.ok(threads.has(`${e.pid}/${e.tid}`), 'every slice is on a named thread');
    const list = byTrack.get(`${e.pid}/${e.tid}`) ?? [];
    list.push({ ts: e.ts, end: e.ts + e.dur });
    byTrack.set(`${e.pid}/${e.tid}`, list);
  }
  for (const list of byTrack.values()) {
    list.sort((a, b) => a.ts - b.ts);
    for (let k = 1; k < list.length; k++) assert.ok(list[k]!.ts >= list[k - 1]!.end - 1e-6, 'slices on a track do not overlap');
  }
}

test('traceOf: execute and revert slices in µs, retries as separate slices, overlapping async atoms on lanes', async () => {
  let calls = 0;
  const flaky = task({ name: 'flaky', execute: async () => (++calls < 2 ? Promise.reject(new Error('again')) : 'ok') });
  const sleepy = (name: string) => task({ name, execute: () => new Promise((r) => setTimeout(r, 5, name)) });
  const flow = new LinearFlow('traced', { retry: new Times({ attempts: 2 }) }).add(new UnorderedFlow('side').add(sleepy('s1'), sleepy('s2')), flaky);
  const e = load(flow, { engine: 'parallel' });
  await e.run();
  const trace = traceOf([e.flowDetail]);
  assertTraceFormat(JSON.parse(JSON.stringify(trace)));
  const slices = trace.traceEvents.filter((ev) => ev.ph === 'X');
  const flakies = slices.filter((ev) => ev.name === 'flaky');
  assert.equal(flakies.length, 2, 'both attempts of flaky');
  assert.deepEqual(flakies.map((ev) => ev.args?.['attempt']).sort(), [1, 2]);
  assert.ok(slices.some((ev) => ev.name === 'flaky (revert)' && ev.cat === 'revert'));
  const s1 = slices.find((ev) => ev.name === 's1')!;
  const s2 = slices.find((ev) => ev.name === 's2')!;
  assert.ok(s1.dur! >= 1000, 'durations are in µs (5 ms sleeps)');
  const overlap = s1.ts < s2.ts + s2.dur! && s2.ts < s1.ts + s1.dur!;
  if (overlap) assert.notEqual(s1.tid, s2.tid, 'overlapping slices go to different lanes');
  assert.equal(s1.pid, process.pid);
  const names = trace.traceEvents.filter((ev) => ev.name === 'process_name');
  assert.equal(names.length, 1);
});

test('atomflow trace <db> writes trace.json (or --out), --flow picks one flow, bad input exits 2', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const db = join(dir, 'runs.db');
    const backend = new SqliteBackend(db);
    const uuids: string[] = [];
    for (const name of ['one', 'two']) {
      const e = load(new LinearFlow(name).add(task({ name: `${name}-a`, provides: 'v', execute: () => 1 }), task({ name: `${name}-b`, requires: ['v'], execute: ({ v }) => v })), { backend });
      await e.run();
      uuids.push(e.flowDetail.uuid);
    }
    await backend.close();

    const all = cli(['trace', 'runs.db'], { cwd: dir });
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, /wrote 4 slices from 2 flows to .*trace\.json/);
    const doc = JSON.parse(readFileSync(join(dir, 'trace.json'), 'utf8')) as unknown;
    assertTraceFormat(doc);

    const one = cli(['trace', 'runs.db', '--flow', uuids[1]!, '--out', 'two.json'], { cwd: dir });
    assert.equal(one.status, 0, one.stderr);
    const two = JSON.parse(readFileSync(join(dir, 'two.json'), 'utf8')) as Trace;
    assertTraceFormat(two);
    assert.deepEqual(
      two.traceEvents.filter((ev) => ev.ph === 'X').map((ev) => ev.name).sort(),
      ['two-a', 'two-b'],
    );
    assert.deepEqual(two.traceEvents.find((ev) => ev.name === 'two-b')?.args?.['parents'], ['two-a']);

    const stdout = cli(['trace', 'runs.db', '--out', '-'], { cwd: dir });
    assert.equal(stdout.status, 0);
    assertTraceFormat(JSON.parse(stdout.stdout));

    assert.equal(cli(['trace', 'runs.db', '--flow', 'nope'], { cwd: dir }).status, 2);
    assert.equal(cli(['trace', 'missing.db'], { cwd: dir }).status, 2);
    assert.equal(cli(['trace'], { cwd: dir }).status, 2);
    const inspect = cli(['inspect', 'runs.db', '--execution'], { cwd: dir });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /execute: ok on \S+ pid \d+ from \[one-a\], started /);
  } finally {
    cleanup();
  }
});
