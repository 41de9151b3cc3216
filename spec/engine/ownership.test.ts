/**
 * Run ownership in one process: the claim around run(), FlowClaimed for a second engine, fenced
 * commits (ClaimLost, nothing written, no revert), a renewal refused mid-atom, conductor claims,
 * option checks. The kill/SIGSTOP tests with real processes are in spec/persistence/ownership-processes.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ClaimLost,
  FlowClaimed,
  InvariantViolation,
  LinearFlow,
  MemoryBackend,
  SqliteBackend,
  load as loadEngine,
  task,
  type Backend,
  type FlowChange,
} from '../../index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

const backends: Array<[string, () => Backend]> = [
  ['memory', () => new MemoryBackend()],
  ['sqlite', () => new SqliteBackend(path.join(dir, `own-${++files}.db`))],
];

/** A promise and its resolver (an atom waits on it). */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** a → b → c; `b` waits for `hold` (when given) and every atom records its execute/revert in `log`. */
function flow(log: string[], hold?: Promise<void>, entered?: () => void) {
  const step = (name: string, wait?: Promise<void>) =>
    task({
      name,
      provides: name,
      execute: async () => {
        log.push(`execute:${name}`);
        entered?.();
        if (wait) await wait;
        return name;
      },
      revert: () => {
        log.push(`revert:${name}`);
      },
    });
  return new LinearFlow('owned').add(step('a'), step('b', hold), step('c'));
}

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const [kind, make] of backends) for (const engine of ['serial', 'parallel'] as const) {
  const load = (f: Parameters<typeof loadEngine>[0], o: Parameters<typeof loadEngine>[1] = {}) => loadEngine(f, { engine, ...o });
  describe(`run ownership (${kind}, ${engine})`, () => {
    test('the claim is held while the run goes on, every commit carries its token, and it is released at the end', async () => {
      const fences: Array<number | undefined> = [];
      const backend = make();
      const sync = backend.commitSync!.bind(backend);
      backend.commitSync = (uuid: string, change: FlowChange) => {
        fences.push(change.fence);
        sync(uuid, change);
      };
      const g = gate();
      let inB = false;
      const e = load(flow([], g.promise, () => (inB = true)), { backend, owner: 'api-1', leaseMs: 60_000 });
      const running = e.run();
      await until(() => inB, 'atom b');
      const held = await backend.getClaim(e.flowDetail.uuid);
      assert.equal(held?.owner, 'api-1');
      assert.equal(held?.pid, process.pid);
      assert.equal(held?.host, os.hostname());
      g.open();
      await running;
      assert.equal(await backend.getClaim(e.flowDetail.uuid), undefined);
      assert.ok(fences.length > 3);
      assert.ok(fences.every((f) => f === held?.token), `fences ${fences.join(',')}`);
      await backend.close();
    });

    test('a second engine on the same flow detail gets FlowClaimed before any of its atoms runs', async () => {
      const backend = make();
      const log1: string[] = [];
      const log2: string[] = [];
      const g = gate();
      const first = load(flow(log1, g.promise), { backend, owner: 'one' });
      const running = first.run();
      await until(() => log1.includes('execute:b'), 'atom b');
      const second = load(flow(log2), { backend, flowDetail: first.flowDetail.uuid, owner: 'two' });
      const err = await second.run().then(() => undefined, (x: unknown) => x);
      assert.ok(err instanceof FlowClaimed, String(err));
      assert.equal(err.owner, 'one');
      assert.equal(err.flowUuid, first.flowDetail.uuid);
      assert.ok(err.leaseUntil.getTime() > Date.now());
      assert.deepEqual(log2, []);
      g.open();
      await running;
      assert.deepEqual(log1, ['execute:a', 'execute:b', 'execute:c']);
      // Once released, the second engine may run it: it reloads and finds nothing to do.
      await second.run();
      assert.deepEqual(log2, []);
      assert.equal((await backend.getFlowDetail(first.flowDetail.uuid, { lazy: true })).state, 'SUCCESS');
      await backend.close();
    });

    test('the claim is released after REVERTED, FAILURE (bad arguments), SUSPENDED and a FlowClaimed-free rerun', async () => {
      const backend = make();
      const boom = task({ name: 'boom', execute: () => { throw new Error('boom'); } });
      const reverted = load(new LinearFlow('r').add(task({ name: 'x', execute: () => 1 }), boom), { backend });
      await assert.rejects(reverted.run(), /boom/);
      assert.equal(await backend.getClaim(reverted.flowDetail.uuid), undefined);

      const missing = load(new LinearFlow('m').add(task({ name: 'needs', requires: ['nothing'], execute: () => 1 })), { backend });
      await assert.rejects(missing.run(), /nothing/);
      assert.equal(await backend.getClaim(missing.flowDetail.uuid), undefined);

      const log: string[] = [];
      const suspended = load(flow(log), { backend });
      suspended.on('atom', (ev) => {
        if (ev.name === 'a' && ev.state === 'SUCCESS') suspended.suspend();
      });
      await suspended.run();
      assert.equal((await backend.getFlowDetail(suspended.flowDetail.uuid, { lazy: true })).state, 'SUSPENDED');
      assert.equal(await backend.getClaim(suspended.flowDetail.uuid), undefined);
      // Run again: claimed again (a higher token), finished, released.
      await suspended.run();
      assert.deepEqual(log, ['execute:a', 'execute:b', 'execute:c']);
      assert.equal(await backend.getClaim(suspended.flowDetail.uuid), undefined);
      await backend.close();
    });

    test('a commit refused for a stale token: ClaimLost, nothing written, no further atom, no revert, the in-flight result never applied', async () => {
      const backend = make();
      const log: string[] = [];
      const g = gate();
      const e = load(flow(log, g.promise), { backend, owner: 'old', leaseMs: 60_000 });
      const running = e.run();
      await until(() => log.includes('execute:b'), 'atom b');
      const uuid = e.flowDetail.uuid;
      const held = (await backend.getClaim(uuid))!;
      // Another owner takes over (as after the lease ran out): the token rises.
      await backend.release(uuid, held.token);
      const taker = await backend.claim(uuid, { owner: 'new', host: 'elsewhere.example', pid: 1, leaseMs: 60_000 });
      const before = await backend.getFlowDetail(uuid);
      g.open();
      const err = await running.then(() => undefined, (x: unknown) => x);
      assert.ok(err instanceof ClaimLost, String(err));
      assert.equal(err.code, 'CLAIM_LOST');
      assert.equal(err.flowUuid, uuid);
      assert.equal(err.owner, 'old');
      assert.deepEqual(log, ['execute:a', 'execute:b']);
      assert.deepEqual(await backend.getFlowDetail(uuid), before);
      assert.equal(before.atomDetails.find((d) => d.name === 'b')?.state, 'RUNNING');
      // The new owner's claim is untouched.
      assert.deepEqual(await backend.getClaim(uuid), taker);
      await backend.close();
    });

    test('a renewal refused while an atom runs stops the run at once with ClaimLost; its result is never stored', async () => {
      const backend = make();
      const log: string[] = [];
      const g = gate();
      const e = load(flow(log, g.promise), { backend, owner: 'old', leaseMs: 30 });
      const running = e.run();
      await until(() => log.includes('execute:b'), 'atom b');
      const uuid = e.flowDetail.uuid;
      const held = (await backend.getClaim(uuid))!;
      await backend.release(uuid, held.token);
      await backend.claim(uuid, { owner: 'new', host: 'elsewhere.example', pid: 1, leaseMs: 60_000 });
      const before = await backend.getFlowDetail(uuid);
      // b is still blocked: the run ends anyway (the renewal timer is unref'd: keep the process up).
      const keepAlive = setInterval(() => {}, 1_000);
      const err = await running.then(() => undefined, (x: unknown) => x);
      clearInterval(keepAlive);
      assert.ok(err instanceof ClaimLost, String(err));
      assert.equal(err.owner, 'old');
      g.open();
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(log, ['execute:a', 'execute:b']);
      assert.deepEqual(await backend.getFlowDetail(uuid), before);
      // The engine reloads from the store next time (the new owner still holds it).
      await assert.rejects(e.run(), FlowClaimed);
      await backend.close();
    });

    test("a conductor's claim: not claimed again, fenced with its token, released at the end", async () => {
      const backend = make();
      const log: string[] = [];
      const prepared = load(flow(log), { backend });
      await prepared.prepare();
      const uuid = prepared.flowDetail.uuid;
      const claim = await backend.claim(uuid, { owner: 'conductor-1', host: os.hostname(), pid: process.pid, leaseMs: 60_000 });
      const e = load(flow(log), { backend, flowDetail: uuid, claim });
      await e.run();
      assert.deepEqual(log, ['execute:a', 'execute:b', 'execute:c']);
      assert.equal(await backend.getClaim(uuid), undefined);

      // A conductor claim that was taken over meanwhile: the first commit is refused.
      const other = load(flow([]), { backend });
      await other.prepare();
      const stale = await backend.claim(other.flowDetail.uuid, { owner: 'c1', host: 'h1', pid: 1, leaseMs: 60_000 });
      await backend.release(other.flowDetail.uuid, stale.token);
      await backend.claim(other.flowDetail.uuid, { owner: 'c2', host: 'h2', pid: 1, leaseMs: 60_000 });
      await assert.rejects(load(flow([]), { backend, flowDetail: other.flowDetail.uuid, claim: stale }).run(), ClaimLost);
      await backend.close();
    });
  });
}

describe('run ownership with a chosen run id (flowUuid)', () => {
  test('two engines starting the same id at once: one runs it, the other gets FlowClaimed; then it answers the stored outcome', async () => {
    const backend = new MemoryBackend();
    const log1: string[] = [];
    const log2: string[] = [];
    const g = gate();
    const first = loadEngine(flow(log1, g.promise), { backend, flowUuid: 'order-7' });
    const running = first.run();
    await until(() => log1.includes('execute:b'), 'atom b');
    await assert.rejects(loadEngine(flow(log2), { backend, flowUuid: 'order-7' }).run(), FlowClaimed);
    g.open();
    await running;
    await loadEngine(flow(log2), { backend, flowUuid: 'order-7' }).run();
    assert.deepEqual(log1, ['execute:a', 'execute:b', 'execute:c']);
    assert.deepEqual(log2, []);
    assert.equal(await backend.getClaim('order-7'), undefined);
  });
});

describe('ownership options', () => {
  const load = loadEngine;
  test('owner, leaseMs, host and claim are checked (InvariantViolation naming the option)', async () => {
    const f = () => new LinearFlow('f').add(task({ name: 'a', execute: () => 1 }));
    const bad: Array<[string, Record<string, unknown>]> = [
      ['owner', { owner: '' }],
      ['owner', { owner: 7 }],
      ['leaseMs', { leaseMs: 0 }],
      ['leaseMs', { leaseMs: 2 }],
      ['leaseMs', { leaseMs: 1.5 }],
      ['leaseMs', { leaseMs: '30s' }],
      ['host', { host: '' }],
      ['claim', { claim: 'mine' }],
      ['claim', { claim: { flowUuid: 'x', owner: 'o', host: 'h', pid: 1, token: -1, leaseUntil: 0 } }],
      ['claim', { claim: { flowUuid: 'x', owner: 'o', host: 'h', pid: 1, token: 1, leaseUntil: 0 } }],
      ['claim', { claim: { flowUuid: 'x', owner: 'o', host: 'h', pid: 1, token: 1, leaseUntil: 0 }, flowDetail: 'y' }],
    ];
    for (const [option, opts] of bad) {
      assert.throws(() => load(f(), opts), (e: unknown) => e instanceof InvariantViolation && e.option === option, JSON.stringify(opts));
    }
    const ok = load(f(), { owner: 'api-1', leaseMs: 3, host: 'box' });
    assert.equal(ok.options.owner, 'api-1');
    assert.equal(ok.options.leaseMs, 3);
    assert.equal(ok.options.host, 'box');
    assert.equal(load(f()).options.owner, `${os.hostname()}:${process.pid}`);
    assert.equal(load(f()).options.leaseMs, 30_000);
  });
});
