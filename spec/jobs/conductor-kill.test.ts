/**
 * Three conductor processes, 200 posted jobs of five atoms that write a ledger (a file per
 * execution), a random conductor SIGKILLed every ~2 s (4 kills) and restarted: every job ends
 * COMPLETE once with the right result, no atom that had finished (its `end` mark written by a
 * process that was not killed) ran again, and every atom that ran more than once did so because
 * the process running it was killed.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { openJobBoard, type JobBoard } from '../../index.js';
import { ledgerDir, makeStore, startConductor, STORE_KINDS, until, type ConductorProcess, type TestStore } from './helpers.js';

const JOBS = 200;
const KILLS = 4;

for (const kind of STORE_KINDS) {
  describe(`conductors under SIGKILL (${kind})`, () => {
    let store: TestStore;
    let board: JobBoard | undefined;
    const procs: ConductorProcess[] = [];

    after(async () => {
      for (const p of procs) p.kill('SIGKILL');
      await Promise.all(procs.map((p) => p.exited));
      await board?.close();
      await store?.cleanup();
    });

    test(`${JOBS} jobs, ${KILLS} kills: each COMPLETE once; only atoms in flight at a kill ran again`, { timeout: 90_000 }, async (t) => {
      store = await makeStore(kind, 'kill');
      const ledger = ledgerDir(store);
      board = await openJobBoard(store.uri);
      const posted = [];
      for (let i = 0; i < JOBS; i++) posted.push(await board.post('ledger', { store: { x: i }, key: `order-${i}` }));
      const env = { ATOMFLOW_LEDGER: ledger, ATOMFLOW_STEP_MS: '40' };
      let serial = 0;
      const spawnOne = (): ConductorProcess => {
        const p = startConductor(store, { name: `c${++serial}`, leaseMs: 1500, concurrency: 2, env });
        procs.push(p);
        return p;
      };
      const live = [spawnOne(), spawnOne(), spawnOne()];
      await Promise.all(live.map((p) => p.waitFor(/^conductor .* started/)));

      const killed = new Set<number>();
      for (let k = 0; k < KILLS; k++) {
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 800));
        const done = (await board.jobs({ state: 'COMPLETE' })).length;
        if (done === JOBS) break;
        const i = Math.floor(Math.random() * live.length);
        const victim = live[i]!;
        victim.kill('SIGKILL');
        await victim.exited;
        killed.add(victim.pid);
        live[i] = spawnOne();
      }

      await until(async () => (await board!.jobs({ state: 'COMPLETE' })).length === JOBS, 60_000, 'every job COMPLETE');
      const stops = await Promise.all(live.map((p) => p.stop()));
      for (const s of stops) assert.deepEqual(s, { code: 0, signal: null });

      // Each job once, complete, with its run's result.
      const jobs = await board.jobs();
      assert.equal(jobs.length, JOBS);
      assert.equal(new Set(jobs.map((j) => j.uuid)).size, JOBS);
      for (const job of posted) {
        const x = Number(job.key!.slice('order-'.length));
        assert.deepEqual(await job.result(), { x, s1: x + 1, s2: x + 2, s3: x + 3, s4: x + 4, s5: x + 5 });
        const flow = await board.backend.getFlowDetail(job.flowUuid);
        assert.equal(flow.state, 'SUCCESS');
      }

      // The ledger: executions per (flow, atom).
      const runs = new Map<string, Array<{ pid: number; n: number; ended: boolean }>>();
      const files = readdirSync(ledger);
      const ends = new Set(files.filter((f) => f.endsWith('.end')).map((f) => f.slice(0, -'.end'.length)));
      for (const f of files) {
        if (!f.endsWith('.start')) continue;
        const base = f.slice(0, -'.start'.length);
        const parts = base.split('.');
        const [n, pid] = [Number(parts.pop()), Number(parts.pop())];
        const key = parts.join('.');
        const list = runs.get(key) ?? [];
        list.push({ pid, n, ended: ends.has(base) });
        runs.set(key, list);
      }
      assert.equal(runs.size, JOBS * 5, 'every atom of every job ran');
      let again = 0;
      for (const [key, list] of runs) {
        if (list.length === 1) continue;
        again += list.length - 1;
        // Every execution but one was in a process that was then killed (so it was in flight at the kill).
        const survivors = list.filter((e) => !killed.has(e.pid));
        assert.ok(survivors.length <= 1, `${key} ran in ${survivors.length} processes that were not killed: ${JSON.stringify(list)}`);
      }
      // At most the atoms in flight at each kill (concurrency 2, serial engine: 2 per kill) ran again.
      assert.ok(again <= killed.size * 2, `${again} re-executions after ${killed.size} kills`);
      t.diagnostic(`${killed.size} kills, ${again} atom re-executions`);
      assert.ok(killed.size > 0, 'at least one conductor was killed while jobs remained');
    });
  });
}
