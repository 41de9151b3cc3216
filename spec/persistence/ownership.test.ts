/** The claim verdict (pure), the pid check and the defaults. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { FREE, claimVerdict, defaultOwner, isPidAlive, type StoredHolder } from '../../persistence/ownership.js';

const NOW = 1_700_000_000_000;
const alive = () => true;
const dead = () => false;

function holder(fields: Partial<StoredHolder> = {}): StoredHolder {
  return { owner: 'api-1', host: 'h1', pid: 42, leaseUntil: NOW + 1_000, ...fields };
}

describe('claimVerdict', () => {
  test('nobody holds it: free (the liveness check is not asked)', () => {
    assert.equal(claimVerdict(FREE, { host: 'h1' }, NOW, () => assert.fail('asked')), 'free');
  });

  test('a live lease is held, on this host or another', () => {
    assert.equal(claimVerdict(holder(), { host: 'h1' }, NOW, alive), 'held');
    assert.equal(claimVerdict(holder(), { host: 'h2' }, NOW, alive), 'held');
    // Another host's pid means nothing here: held until the lease runs out.
    assert.equal(claimVerdict(holder(), { host: 'h2' }, NOW, dead), 'held');
  });

  test('a lease that ran out is expired (at its last millisecond too), whoever held it', () => {
    assert.equal(claimVerdict(holder({ leaseUntil: NOW }), { host: 'h2' }, NOW, alive), 'expired');
    assert.equal(claimVerdict(holder({ leaseUntil: NOW - 1 }), { host: 'h1' }, NOW, alive), 'expired');
    assert.equal(claimVerdict(holder({ leaseUntil: null }), { host: 'h1' }, NOW, alive), 'expired');
    assert.equal(claimVerdict(holder({ leaseUntil: NOW + 1 }), { host: 'h1' }, NOW, alive), 'held');
  });

  test("a same-host holder whose pid is gone is orphaned (the lease does not matter)", () => {
    const asked: number[] = [];
    const verdict = claimVerdict(holder({ leaseUntil: NOW + 60_000 }), { host: 'h1' }, NOW, (pid) => (asked.push(pid), false));
    assert.equal(verdict, 'orphaned');
    assert.deepEqual(asked, [42]);
  });

  test('a holder without host or pid is held until its lease runs out', () => {
    assert.equal(claimVerdict(holder({ host: null }), { host: 'h1' }, NOW, dead), 'held');
    assert.equal(claimVerdict(holder({ pid: null }), { host: 'h1' }, NOW, dead), 'held');
  });
});

describe('isPidAlive and defaults', () => {
  test('this process is alive; an ended child is not; nonsense pids are not', () => {
    assert.equal(isPidAlive(process.pid), true);
    const r = spawnSync(process.execPath, ['-e', '']);
    assert.equal(isPidAlive(r.pid!), false);
    for (const pid of [0, -1, 1.5, Number.NaN]) assert.equal(isPidAlive(pid), false);
  });

  test('pid 1 exists (EPERM or not, it counts as alive)', () => {
    assert.equal(isPidAlive(1), true);
  });

  test('defaultOwner is <hostname>:<pid>', () => {
    assert.equal(defaultOwner(), `${os.hostname()}:${process.pid}`);
  });
});
