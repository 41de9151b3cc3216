/**
 * Conformance cases for run ownership (claim, renew, release, getClaim, fenced commits), run on
 * every backend through `backendConformance`. Leases expire in real time here (a few ms), since a
 * backend may use its own clock (PostgreSQL's `now()`).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ClaimLost, FlowClaimed, InvariantViolation, NotFound } from '../../lib/errors.js';
import type { Backend, Claim, ClaimRequest } from '../../persistence/backend.js';
import { updateAtom, updateFlow } from '../../persistence/models.js';
import { defaultHost } from '../../persistence/ownership.js';
import { seeded, task, type Use } from './fixtures.js';

const HOST = defaultHost();
const LONG = 60_000;

function req(owner: string, fields: Partial<ClaimRequest> = {}): ClaimRequest {
  return { owner, host: HOST, pid: process.pid, leaseMs: LONG, ...fields };
}

/** The pid of a process that has ended (so `process.kill(pid, 0)` fails with ESRCH). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.ok(typeof r.pid === 'number' && r.pid > 0);
  return r.pid;
}

/** Waits until a lease is over (by this process's clock, plus a margin for a server's own). */
async function outlive(claim: Claim): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, claim.leaseUntil - Date.now()) + 30));
}

export function ownershipTests(use: Use): void {
  describe('ownership', () => {
    test('claim of a free flow detail: owner, host, pid, lease and a raised token; getClaim reads it back', use(async (b) => {
      const { flow } = await seeded(b, [task('a')]);
      assert.equal(await b.getClaim(flow.uuid), undefined);
      const before = Date.now();
      const c = await b.claim(flow.uuid, req('api-1'));
      assert.equal(c.flowUuid, flow.uuid);
      assert.equal(c.owner, 'api-1');
      assert.equal(c.host, HOST);
      assert.equal(c.pid, process.pid);
      assert.ok(c.token >= 1);
      assert.ok(c.leaseUntil >= before + LONG - 5_000 && c.leaseUntil <= Date.now() + LONG + 5_000, `leaseUntil ${c.leaseUntil}`);
      assert.deepEqual(await b.getClaim(flow.uuid), c);
      assert.ok(Object.isFrozen(c));
    }));

    test('a held claim is FlowClaimed for anyone (this process too), and the holder stays', use(async (b) => {
      const { flow } = await seeded(b);
      const c = await b.claim(flow.uuid, req('api-1'));
      for (const other of [req('api-2'), req('api-1'), req('api-3', { host: 'elsewhere.example', pid: deadPid() })]) {
        const e = await b.claim(flow.uuid, other).then(() => undefined, (err: unknown) => err);
        assert.ok(e instanceof FlowClaimed, String(e));
        assert.equal(e.code, 'FLOW_CLAIMED');
        assert.equal(e.flowUuid, flow.uuid);
        assert.equal(e.owner, 'api-1');
        assert.ok(e.leaseUntil instanceof Date);
        assert.ok(Math.abs(e.leaseUntil.getTime() - c.leaseUntil) < 1_000);
      }
      assert.deepEqual(await b.getClaim(flow.uuid), c);
    }));

    test('a holder on another host is taken over only once its lease ran out; the token rises', use(async (b) => {
      const { flow } = await seeded(b);
      const first = await b.claim(flow.uuid, req('far-away', { host: 'elsewhere.example', pid: deadPid(), leaseMs: 1_000 }));
      await assert.rejects(b.claim(flow.uuid, req('here')), FlowClaimed);
      await outlive(first);
      const expired = await b.getClaim(flow.uuid);
      assert.equal(expired?.owner, 'far-away');
      assert.ok(expired.leaseUntil <= Date.now());
      const second = await b.claim(flow.uuid, req('here'));
      assert.equal(second.owner, 'here');
      assert.ok(second.token > first.token);
    }));

    test('a holder on this host whose pid is gone is taken over at once (whatever its owner id)', use(async (b) => {
      const { flow } = await seeded(b);
      const first = await b.claim(flow.uuid, req('crashed', { pid: deadPid() }));
      const second = await b.claim(flow.uuid, req('restarted'));
      assert.equal(second.owner, 'restarted');
      assert.ok(second.token > first.token);
      assert.deepEqual(await b.getClaim(flow.uuid), second);
    }));

    test('renew extends the lease; a stale token or a released claim is ClaimLost', use(async (b) => {
      const { flow } = await seeded(b);
      const c = await b.claim(flow.uuid, req('api-1', { leaseMs: 1_000 }));
      const renewed = await b.renew(flow.uuid, c.token, LONG);
      assert.equal(renewed.token, c.token);
      assert.equal(renewed.owner, 'api-1');
      assert.equal(renewed.pid, process.pid);
      assert.ok(renewed.leaseUntil > c.leaseUntil);
      assert.deepEqual(await b.getClaim(flow.uuid), renewed);
      const e = await b.renew(flow.uuid, c.token + 1, LONG).then(() => undefined, (err: unknown) => err);
      assert.ok(e instanceof ClaimLost, String(e));
      assert.equal(e.code, 'CLAIM_LOST');
      assert.equal(e.flowUuid, flow.uuid);
      await b.release(flow.uuid, c.token);
      await assert.rejects(b.renew(flow.uuid, c.token, LONG), ClaimLost);
      assert.equal(await b.getClaim(flow.uuid), undefined);
    }));

    test('an expired lease nobody took over can still be renewed; one taken over cannot', use(async (b) => {
      const { flow } = await seeded(b);
      const c = await b.claim(flow.uuid, req('slow', { host: 'elsewhere.example', leaseMs: 100 }));
      await outlive(c);
      const renewed = await b.renew(flow.uuid, c.token, 100);
      assert.equal(renewed.token, c.token);
      await outlive(renewed);
      const taker = await b.claim(flow.uuid, req('taker'));
      await assert.rejects(b.renew(flow.uuid, c.token, LONG), ClaimLost);
      assert.equal((await b.getClaim(flow.uuid))?.token, taker.token);
    }));

    test('release clears the owner when the token matches, is a no-op otherwise; tokens never go back', use(async (b) => {
      const { flow } = await seeded(b);
      const c = await b.claim(flow.uuid, req('api-1'));
      await b.release(flow.uuid, c.token + 7);
      assert.deepEqual(await b.getClaim(flow.uuid), c);
      await b.release(flow.uuid, c.token);
      assert.equal(await b.getClaim(flow.uuid), undefined);
      await b.release(flow.uuid, c.token); // again: nothing to do
      const again = await b.claim(flow.uuid, req('api-2'));
      assert.ok(again.token > c.token);
    }));

    test('unknown flow uuids are NotFound; malformed requests are InvariantViolation', use(async (b) => {
      await assert.rejects(b.claim('no-such-flow', req('x')), NotFound);
      await assert.rejects(b.renew('no-such-flow', 1, LONG), NotFound);
      await assert.rejects(b.release('no-such-flow', 1), NotFound);
      await assert.rejects(b.getClaim('no-such-flow'), NotFound);
      const { flow } = await seeded(b);
      for (const bad of [req('x', { leaseMs: 0 }), req('x', { leaseMs: 1.5 }), req(''), req('x', { pid: -1 }), req('x', { host: '' })]) {
        await assert.rejects(b.claim(flow.uuid, bad), InvariantViolation);
      }
      const c = await b.claim(flow.uuid, req('x'));
      await assert.rejects(b.renew(flow.uuid, c.token, -5), InvariantViolation);
      assert.deepEqual(await b.getClaim(flow.uuid), c);
    }));

    test('a fenced commit with the current token writes; with a stale one it is ClaimLost and writes nothing', use(async (b) => {
      const a = task('a');
      const { flow } = await seeded(b, [a]);
      const old = await b.claim(flow.uuid, req('old', { pid: deadPid() }));
      await b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'RUNNING' }), atoms: [updateAtom(a, { state: 'RUNNING' })], fence: old.token });
      const current = await b.claim(flow.uuid, req('new'));
      await b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'SUCCESS' }), atoms: [updateAtom(a, { state: 'SUCCESS', results: 'new' })], fence: current.token });
      const late = task('late');
      for (const change of [
        { flow: updateFlow(flow, { state: 'FAILURE' }), atoms: [updateAtom(a, { state: 'FAILURE' }), late], fence: old.token },
        { atoms: [updateAtom(a, { results: 'old' }), late], fence: old.token },
        { flow: updateFlow(flow, { state: 'REVERTED' }), fence: old.token },
      ]) {
        const e = await b.commit(flow.uuid, change).then(() => undefined, (err: unknown) => err);
        assert.ok(e instanceof ClaimLost, String(e));
        assert.equal(e.flowUuid, flow.uuid);
      }
      const stored = await b.getFlowDetail(flow.uuid);
      assert.equal(stored.state, 'SUCCESS');
      assert.deepEqual(stored.atomDetails.map((d) => [d.name, d.state, d.results]), [['a', 'SUCCESS', 'new']]);
      assert.deepEqual(await b.getClaim(flow.uuid), current);
    }));

    test('a fenced commit of a flow nobody claimed since is written after release too; unknown flows are NotFound', use(async (b) => {
      const a = task('a');
      const { flow } = await seeded(b, [a]);
      const c = await b.claim(flow.uuid, req('api-1'));
      await b.release(flow.uuid, c.token);
      await b.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'SUCCESS', results: 1 })], fence: c.token });
      assert.equal((await b.getAtomDetails(flow.uuid))[0]?.results, 1);
      await assert.rejects(b.commit('no-such-flow', { atoms: [task('x')], fence: c.token }), NotFound);
    }));

    test('commits without a fence (prepare(), tools) still write while someone holds the flow', use(async (b) => {
      const a = task('a');
      const { book, flow } = await seeded(b, [a]);
      const c = await b.claim(flow.uuid, req('api-1'));
      await b.commit(flow.uuid, { flow: updateFlow(flow, { state: 'RUNNING' }), atoms: [updateAtom(a, { state: 'RUNNING' })] });
      await b.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'SUCCESS' })] });
      assert.equal((await b.getFlowDetail(flow.uuid)).state, 'RUNNING');
      assert.equal((await b.getAtomDetails(flow.uuid))[0]?.state, 'SUCCESS');
      // Saving the book or the flow detail again keeps the claim and its token.
      await b.saveLogBook(book);
      await b.saveFlowDetail(book.uuid, updateFlow(flow, { state: 'SUSPENDED' }));
      assert.deepEqual(await b.getClaim(flow.uuid), c);
      await b.commit(flow.uuid, { atoms: [updateAtom(a, { state: 'REVERTED' })], fence: c.token });
    }));
  });
}
