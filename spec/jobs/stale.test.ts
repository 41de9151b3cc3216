/**
 * A stale conductor: SIGSTOPped past its lease while an atom runs, another conductor takes the job
 * over and finishes it; after SIGCONT nothing the first one does reaches the store (its heartbeat
 * and its commit find the claim gone: `lost`, ClaimLost), and it never runs the next atom.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { openJobBoard, type JobBoard } from '../../index.js';
import { ledgerDir, makeStore, startConductor, STORE_KINDS, until, type ConductorProcess, type TestStore } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`stale conductor (${kind})`, () => {
    let store: TestStore;
    let board: JobBoard | undefined;
    const procs: ConductorProcess[] = [];

    after(async () => {
      for (const p of procs) {
        p.kill('SIGCONT');
        p.kill('SIGKILL');
      }
      await Promise.all(procs.map((p) => p.exited));
      await board?.close();
      await store?.cleanup();
    });

    test('SIGSTOP past the lease, another finishes, SIGCONT: nothing the first does reaches the store', { timeout: 60_000 }, async () => {
      store = await makeStore(kind, 'stale');
      const ledger = ledgerDir(store);
      board = await openJobBoard(store.uri);
      const job = await board.post('slow', { store: { x: 1 }, details: { ms: 2500 } });
      const env = { ATOMFLOW_LEDGER: ledger };
      const a = startConductor(store, { name: 'A', leaseMs: 1000, env });
      procs.push(a);
      await a.waitFor(new RegExp(`^claimed slow ${job.uuid}`));
      const started = (pid: number, atom: string, phase: string) =>
        readdirSync(ledger).some((f) => f.startsWith(`${job.flowUuid}.${atom}.${pid}.`) && f.endsWith(`.${phase}`));
      await until(async () => started(a.pid, 'wait', 'start'), 20_000, "A's atom to start");
      a.kill('SIGSTOP');

      const b = startConductor(store, { name: 'B', leaseMs: 1000, env });
      procs.push(b);
      await b.waitFor(new RegExp(`^completed slow ${job.uuid} SUCCESS`), 30_000);
      assert.deepEqual(await job.result(), { x: 1, waited: 2, done: 20 });
      const flowBefore = JSON.stringify(await board.backend.getFlowDetail(job.flowUuid));
      const jobBefore = JSON.stringify(await board.job(job.uuid));

      a.kill('SIGCONT');
      await a.waitFor(new RegExp(`^lost slow ${job.uuid}`), 20_000);
      // A's atom finished after SIGCONT; its result's commit was refused.
      await until(async () => started(a.pid, 'wait', 'end'), 20_000, "A's atom to end");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(JSON.stringify(await board.backend.getFlowDetail(job.flowUuid)), flowBefore);
      assert.equal(JSON.stringify(await board.job(job.uuid)), jobBefore);
      assert.equal(started(a.pid, 'after', 'start'), false, 'A never ran the next atom');
      assert.equal(await job.state(), 'COMPLETE');
      assert.ok(!a.lines.some((l) => l.startsWith('completed')), a.lines.join('\n'));
      assert.deepEqual(await a.stop(), { code: 0, signal: null });
      assert.deepEqual(await b.stop(), { code: 0, signal: null });
      assert.ok(existsSync(ledger));
    });
  });
}
