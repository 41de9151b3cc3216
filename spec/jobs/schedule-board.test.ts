/**
 * Schedules with a real jobboard: two schedulers (two boards on one SQLite store, as two
 * processes would have) post each occurrence once, and a conductor runs a posted job with the
 * same factory a local schedule would use. (Skipped while the build has no jobboard.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as atomflow from '../../index.js';
import { LinearFlow, ManualClock, schedule, task, type FlowItem, type ScheduleBoard } from '../../index.js';

/** The jobboard API this test uses (structurally; see jobs/board.ts). */
interface Board extends ScheduleBoard {
  jobs(): Promise<Array<{ name: string; key: string | null; details: Readonly<Record<string, unknown>>; result(o: { signal: AbortSignal }): Promise<unknown> }>>;
  close(): Promise<void>;
}
interface Runner {
  start(): Promise<void>;
  stop(): Promise<void>;
}
const api = atomflow as unknown as {
  openJobBoard?: (uri: string) => Promise<Board>;
  Conductor?: new (board: Board, options: { flows: Record<string, (d: Readonly<Record<string, unknown>>) => FlowItem>; name: string }) => Runner;
};

const dir = mkdtempSync(join(tmpdir(), 'atomflow-schedule-board-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const build = (details: Readonly<Record<string, unknown>>): FlowItem =>
  new LinearFlow('report').add(task({ name: 'stamp', provides: 'stamp', execute: () => `report for ${String(details['occurrence'])}` }));

test('with a SQLite jobboard two schedulers post each occurrence once', { timeout: 60_000, skip: api.openJobBoard === undefined ? 'no jobboard in this build' : false }, async () => {
  const uri = `sqlite://${join(dir, 'flows.db')}`;
  const boardA = await api.openJobBoard!(uri);
  const boardB = await api.openJobBoard!(uri);
  const clock = new ManualClock(Date.parse('2026-03-01T08:59:30Z'));
  const a = schedule('report', build, { cron: '*/20 9 * * *' }, { board: boardA, clock, timezone: 'UTC' });
  const b = schedule('report', build, { cron: '*/20 9 * * *' }, { board: boardB, clock, timezone: 'UTC' });
  let conductor: Runner | undefined;
  try {
    let posts = 0;
    a.on('posted', () => posts++);
    b.on('posted', () => posts++);
    clock.advance(30_000 + 60 * 60_000); // 09:00, 09:20, 09:40
    await Promise.all([a.idle(), b.idle()]);
    assert.equal(posts, 6, 'each scheduler posted each occurrence');
    const jobs = await boardA.jobs();
    assert.deepEqual(
      jobs.map((j) => [j.name, j.key, j.details['occurrence']]),
      ['09:00', '09:20', '09:40'].map((t) => ['report', `report@2026-03-01T${t}:00.000Z`, `2026-03-01T${t}:00.000Z`]),
    );
    // A conductor runs a posted occurrence with the same factory.
    conductor = new api.Conductor!(boardB, { flows: { report: build }, name: 'c1' });
    await conductor.start();
    assert.deepEqual(await jobs[0]!.result({ signal: AbortSignal.timeout(30_000) }), { stamp: 'report for 2026-03-01T09:00:00.000Z' });
  } finally {
    await conductor?.stop();
    await Promise.all([a.stop(), b.stop()]);
    await boardA.close();
    await boardB.close();
  }
});
