/**
 * Run ownership across real processes, written once for any backend URI (SQLite here; the
 * PostgreSQL suite calls it with its own URI and schema). Children are spec/support/owner-child.js.
 *
 * - two processes resume one flow: exactly one runs it, the other gets FlowClaimed; side effects once;
 * - SIGKILL of the owner, restart on the same host: resumed at once (the lease is 60 s; the test
 *   is bounded well below it);
 * - an owner recorded on another host: refused while its lease runs (its pid means nothing here),
 *   resumed once it has run out;
 * - a stale owner (SIGSTOP past its lease, another process takes over and finishes, SIGCONT):
 *   its next commit is refused, it ends with ClaimLost, and the stored rows are the second owner's.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBackend, type Backend } from '../../index.js';
import type { OwnerChildOptions } from '../support/owner-child.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'owner-child.js');
/** No child may outlive this (a hung child fails its test instead of the whole run). */
const CHILD_TIMEOUT_MS = 60_000;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outcome: { outcome?: string; message?: string; owner?: string; leaseUntil?: number };
}

interface Child {
  readonly pid: number;
  readonly done: Promise<Exit>;
}

function start(args: readonly string[]): Child {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const done = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let outcome: Exit['outcome'] = {};
      try {
        outcome = JSON.parse(last) as Exit['outcome'];
      } catch {
        // not a JSON line: killed, or the prepare mode
      }
      resolve({ code, signal, stdout, stderr, outcome });
    });
  });
  return { pid: child.pid!, done };
}

/** Waits (bounded) until `cond` holds, polling. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function explain(r: Exit): string {
  return `code ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

export interface ProcessSuiteTarget {
  /** A fresh store's URI for one test (and how to clean it up in `after`). */
  readonly uri: (dir: string) => string;
  readonly cleanup?: () => Promise<void>;
}

export function ownershipProcessSuite(name: string, target: ProcessSuiteTarget): void {
  describe(`run ownership across processes: ${name}`, { timeout: 180_000 }, () => {
    let root: string;
    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-'));
    });
    after(async () => {
      fs.rmSync(root, { recursive: true, force: true });
      await target.cleanup?.();
    });

    /** One test's folder, store and ledger, with a stored (unclaimed) flow to resume. */
    async function setup(): Promise<{ dir: string; uri: string; ledger: string; uuid: string; backend: Backend; lines: () => string[] }> {
      const dir = fs.mkdtempSync(path.join(root, 't-'));
      const uri = target.uri(dir);
      const ledger = path.join(dir, 'ledger');
      const prepared = await start([uri, ledger, 'prepare']).done;
      assert.equal(prepared.code, 0, explain(prepared));
      const uuid = prepared.stdout.trim().split('\n')[0]!;
      const backend = await openBackend(uri);
      const lines = () => (fs.existsSync(ledger) ? fs.readFileSync(ledger, 'utf8').split('\n').filter(Boolean) : []);
      return { dir, uri, ledger, uuid, backend, lines };
    }

    const run = (s: { uri: string; ledger: string; uuid: string }, o: OwnerChildOptions) => start([s.uri, s.ledger, 'run', s.uuid, JSON.stringify(o)]);

    test('two processes resume one flow: exactly one runs it, the other gets FlowClaimed; each atom ran once', async () => {
      const s = await setup();
      try {
        const go = path.join(s.dir, 'go');
        // Both wait inside `a` for `go`, so whichever claims first still holds the flow when the other tries.
        const p1 = run(s, { tag: 'p1', hold: { atom: 'a', file: go } });
        const p2 = run(s, { tag: 'p2', hold: { atom: 'a', file: go } });
        const [loserTag, loser] = await Promise.race([p1.done.then((r) => ['p1', r] as const), p2.done.then((r) => ['p2', r] as const)]);
        assert.equal(loser.code, 3, explain(loser));
        assert.equal(loser.outcome.outcome, 'FlowClaimed');
        fs.writeFileSync(go, '');
        const winnerTag = loserTag === 'p1' ? 'p2' : 'p1';
        const winner = await (winnerTag === 'p1' ? p1 : p2).done;
        assert.equal(winner.code, 0, explain(winner));
        assert.deepEqual(s.lines(), [`${winnerTag} a`, `${winnerTag} b`, `${winnerTag} c`]);
        const stored = await s.backend.getFlowDetail(s.uuid);
        assert.equal(stored.state, 'SUCCESS');
        assert.deepEqual(stored.atomDetails.map((d) => d.results), ['a', 'b', 'c'].map((n) => `${n} by ${winnerTag}`));
        assert.equal(await s.backend.getClaim(s.uuid), undefined);
      } finally {
        await s.backend.close();
      }
    });

    test('SIGKILL of the owner, restart on the same host: resumed at once, not after the 60 s lease', async () => {
      const s = await setup();
      try {
        const killed = await run(s, { tag: 'k1', killAt: 'b', leaseMs: 60_000 }).done;
        assert.equal(killed.signal, 'SIGKILL', explain(killed));
        const held = await s.backend.getClaim(s.uuid);
        assert.ok(held !== undefined && held.leaseUntil > Date.now() + 20_000, 'the dead owner still holds a long lease');
        const restarted = await run(s, { tag: 'k2', leaseMs: 60_000 }).done;
        assert.equal(restarted.code, 0, explain(restarted));
        // The atom in flight at the kill ran again (at-least-once); the finished one did not.
        assert.deepEqual(s.lines(), ['k1 a', 'k1 b', 'k2 b', 'k2 c']);
        assert.equal((await s.backend.getFlowDetail(s.uuid, { lazy: true })).state, 'SUCCESS');
        assert.equal(await s.backend.getClaim(s.uuid), undefined);
      } finally {
        await s.backend.close();
      }
    });

    test('an owner recorded on another host is not taken over while its lease runs, though its pid is gone here', async () => {
      const s = await setup();
      try {
        const killed = await run(s, { tag: 'h1', host: 'another-host.example', killAt: 'b', leaseMs: 60_000 }).done;
        assert.equal(killed.signal, 'SIGKILL', explain(killed));
        const held = (await s.backend.getClaim(s.uuid))!;
        assert.equal(held.host, 'another-host.example');
        const refused = await run(s, { tag: 'h2' }).done;
        assert.equal(refused.code, 3, explain(refused));
        assert.equal(refused.outcome.owner, held.owner);
        assert.equal(refused.outcome.leaseUntil, held.leaseUntil);
        assert.deepEqual(s.lines(), ['h1 a', 'h1 b']);
      } finally {
        await s.backend.close();
      }
    });

    test('an owner recorded on another host is taken over once its lease has run out', async () => {
      const s = await setup();
      try {
        const killed = await run(s, { tag: 'h1', host: 'another-host.example', killAt: 'b', leaseMs: 1_000 }).done;
        assert.equal(killed.signal, 'SIGKILL', explain(killed));
        const held = (await s.backend.getClaim(s.uuid))!;
        assert.equal(held.host, 'another-host.example');
        await until(() => Date.now() > held.leaseUntil + 50, 'the lease to run out', 10_000);
        const resumed = await run(s, { tag: 'h3' }).done;
        assert.equal(resumed.code, 0, explain(resumed));
        assert.deepEqual(s.lines(), ['h1 a', 'h1 b', 'h3 b', 'h3 c']);
        assert.equal(await s.backend.getClaim(s.uuid), undefined);
      } finally {
        await s.backend.close();
      }
    });

    test('a stale owner (SIGSTOP past its lease) is refused after SIGCONT: ClaimLost, the rows stay the new owner’s', async () => {
      const s = await setup();
      try {
        const resumeB = path.join(s.dir, 'resume-b');
        const stale = run(s, { tag: 's1', leaseMs: 1_000, hold: { atom: 'b', file: resumeB } });
        await until(() => s.lines().includes('s1 b'), 's1 inside b');
        process.kill(stale.pid, 'SIGSTOP');
        let stopped = true;
        try {
          const held = (await s.backend.getClaim(s.uuid))!;
          assert.equal(held.pid, stale.pid);
          await until(async () => ((await s.backend.getClaim(s.uuid))?.leaseUntil ?? 0) < Date.now(), "s1's lease to run out", 15_000);
          const taker = await run(s, { tag: 's2', leaseMs: 1_000 }).done;
          assert.equal(taker.code, 0, explain(taker));
          const rows = await s.backend.getFlowDetail(s.uuid);
          assert.equal(rows.state, 'SUCCESS');
          fs.writeFileSync(resumeB, '');
          process.kill(stale.pid, 'SIGCONT');
          stopped = false;
          const lost = await stale.done;
          assert.equal(lost.code, 4, explain(lost));
          assert.equal(lost.outcome.outcome, 'ClaimLost');
          assert.deepEqual(await s.backend.getFlowDetail(s.uuid), rows);
          assert.deepEqual(s.lines(), ['s1 a', 's1 b', 's2 b', 's2 c']);
        } finally {
          if (stopped) {
            process.kill(stale.pid, 'SIGKILL');
            process.kill(stale.pid, 'SIGCONT');
          }
        }
      } finally {
        await s.backend.close();
      }
    });
  });
}
