/** `atomflow demo` and `atomflow resume`, run as a user would, checked against the SQLite store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SqliteBackend } from '../../persistence/sqlite.js';
import type { AtomDetail, FlowDetail } from '../../persistence/models.js';
import { CLI, cli, splitCommand, tempDir } from './helpers.js';

async function storedFlows(db: string): Promise<FlowDetail[]> {
  const backend = new SqliteBackend(db);
  try {
    return (await backend.getLogBooks({ lazy: false })).flatMap((b) => [...b.flowDetails]);
  } finally {
    await backend.close();
  }
}

function atoms(fd: FlowDetail): Record<string, AtomDetail> {
  return Object.fromEntries(fd.atomDetails.map((d) => [d.name, d]));
}

/** The index of the first live (plain mode) line `+0.123s  <symbol> <name>  <STATE>` in the output, or -1. */
function lineOf(out: string, name: string, state: string): number {
  return out.split('\n').findIndex((l) => new RegExp(`^\\+\\d+\\.\\d{3}s\\s+\\S ${name}\\s+${state}(\\s|$)`).test(l));
}

for (const engine of ['serial', 'parallel'] as const) {
  test(`demo books the trip on the ${engine} engine: exit 0, summary, a SUCCESS flow in the store`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = cli(['demo', '--engine', engine, '--pace', '0.2'], { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`book-trip: SUCCESS in \\d+(ms|\\.\\d+s) \\(${engine} engine\\)`));
      assert.match(r.stdout, /retrying in \d+ms \(attempt 2\)/, 'the flaky gateway is retried');
      assert.match(r.stdout, /itinerary\s+Ada Lovelace to Lisbon: FL-\d+, HT-\d+, CR-\d+; paid €885/);
      assert.match(r.stdout, /inspect it: .* inspect \.\/atomflow-demo\.db --flow[ =]\S+/);
      const flows = await storedFlows(join(dir, 'atomflow-demo.db'));
      assert.equal(flows.length, 1);
      const fd = flows[0]!;
      assert.equal(fd.state, 'SUCCESS');
      assert.match(r.stdout, new RegExp(`flow ${fd.uuid}`));
      const a = atoms(fd);
      for (const name of ['flight', 'hotel', 'car', 'payment_retry', 'charge', 'confirm']) assert.equal(a[name]?.state, 'SUCCESS', name);
      assert.equal((a['payment_retry']!.results as unknown[]).length, 2, 'two attempts of the payment');
      assert.equal((a['charge']!.results as { amount: number }).amount, 885);
      assert.deepEqual((fd.meta['demo'] as Record<string, unknown>)['engine'], engine);
    } finally {
      cleanup();
    }
  });

  test(`demo --fail-at car (${engine}): exit 1, the rollback shown most recent first, REVERTED in the store`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = cli(['demo', '--fail-at', 'car', '--engine', engine, '--db', 'trip.db', '--pace', '0.2'], { cwd: dir });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /car\s+FAILURE\s+ServiceUnavailable: no cars left at the airport desk/);
      const carReverted = lineOf(r.stdout, 'car', 'REVERTED');
      const hotelReverted = lineOf(r.stdout, 'hotel', 'REVERTED');
      const flightReverted = lineOf(r.stdout, 'flight', 'REVERTED');
      assert.ok(carReverted > 0 && hotelReverted > carReverted && flightReverted > carReverted, r.stdout);
      assert.ok(lineOf(r.stdout, 'car', 'FAILURE') < carReverted);
      assert.match(r.stdout, /book-trip: REVERTED/);
      assert.match(r.stdout, /'car' failed: ServiceUnavailable: no cars left/);
      assert.match(r.stdout, /rolled back, most recent first: car → (hotel → flight|flight → hotel)/);
      assert.equal(lineOf(r.stdout, 'charge', 'RUNNING'), -1, 'nothing after car ran');
      const [fd] = await storedFlows(join(dir, 'trip.db'));
      assert.equal(fd!.state, 'REVERTED');
      const a = atoms(fd!);
      for (const name of ['flight', 'hotel', 'car']) assert.equal(a[name]!.state, 'REVERTED', name);
      for (const name of ['payment_retry', 'charge', 'confirm']) assert.equal(a[name]!.state, 'PENDING', name);
      const flight = a['flight']!;
      assert.deepEqual(flight.revertResults, { cancelled: (flight.results as { reservation: string }).reservation });
      assert.equal(a['car']!.failure?.exceptionType, 'ServiceUnavailable');
    } finally {
      cleanup();
    }
  });
}

test('demo --fail-at charge: three attempts, then the whole trip is undone (refund is not needed, reservations are cancelled)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = cli(['demo', '--fail-at', 'charge', '--pace', '0.2'], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /'charge' failed on attempt 3 .*giving up: reverting everything/);
    assert.match(r.stdout, /rolled back, most recent first: charge → car → hotel → flight/);
    const [fd] = await storedFlows(join(dir, 'atomflow-demo.db'));
    assert.equal(atoms(fd!)['car']!.state, 'REVERTED');
  } finally {
    cleanup();
  }
});

test('demo --fail-at confirm: the charge is refunded', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = cli(['demo', '--fail-at', 'confirm', '--pace', '0.2'], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    const [fd] = await storedFlows(join(dir, 'atomflow-demo.db'));
    const charge = atoms(fd!)['charge']!;
    assert.equal(charge.state, 'REVERTED');
    assert.deepEqual(charge.revertResults, { refunded: (charge.results as { transaction: string }).transaction, amount: 885 });
    assert.ok(lineOf(r.stdout, 'charge', 'REVERTED') < lineOf(r.stdout, 'car', 'REVERTED'));
  } finally {
    cleanup();
  }
});

test('demo --crash-at car dies by SIGKILL; the printed resume command finishes it without re-running what was done', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const crashed = cli(['demo', '--crash-at', 'car', '--pace', '0.2'], { cwd: dir });
    assert.equal(crashed.signal, 'SIGKILL');
    assert.equal(crashed.status, null);
    assert.match(crashed.stdout, /simulating a crash inside 'car'/);
    const db = join(dir, 'atomflow-demo.db');
    const [before] = await storedFlows(db);
    assert.equal(before!.state, 'RUNNING');
    const b = atoms(before!);
    assert.equal(b['flight']!.state, 'SUCCESS');
    assert.equal(b['hotel']!.state, 'SUCCESS');
    assert.equal(b['car']!.state, 'RUNNING');
    assert.equal(b['flight']!.meta.execution?.execute?.pid, crashed.pid);

    const line = crashed.stdout.split('\n').find((l) => / resume \S+ \S+ --module /.test(l));
    assert.ok(line, 'the resume command is printed before the crash');
    const args = splitCommand(line);
    const resumeArgs = args.slice(args.indexOf('resume'));
    assert.equal(resumeArgs[1], './atomflow-demo.db');
    assert.ok(resumeArgs.includes(before!.uuid));
    if (before!.uuid.startsWith('-')) assert.equal(resumeArgs.at(-2), '--', 'a uuid with a leading dash goes after --');
    assert.ok(resumeArgs.includes('--module') && resumeArgs.includes('buildTripFlow'));

    const resumed = cli([...resumeArgs, '--plain'], { cwd: dir });
    assert.equal(resumed.status, 0, resumed.stderr + resumed.stdout);
    assert.match(resumed.stdout, /'car' was running when the run stopped: it runs again/);
    assert.match(resumed.stdout, /book-trip: SUCCESS/);
    assert.match(resumed.stdout, /flight .*\(ran in an earlier process\)/);
    for (const name of ['flight', 'hotel']) {
      assert.equal(lineOf(resumed.stdout, name, 'RUNNING'), -1, `${name} did not run again`);
      assert.equal(lineOf(resumed.stdout, name, 'SUCCESS'), -1, `${name} did not run again`);
    }
    assert.ok(lineOf(resumed.stdout, 'car', 'SUCCESS') > 0);

    const [after] = await storedFlows(db);
    assert.equal(after!.uuid, before!.uuid);
    assert.equal(after!.state, 'SUCCESS');
    const a = atoms(after!);
    for (const name of ['flight', 'hotel']) {
      assert.deepEqual(a[name]!.results, b[name]!.results, `${name}: same reservation`);
      assert.equal(a[name]!.meta.execution?.execute?.pid, crashed.pid, `${name} ran only in the crashed process`);
      assert.equal(a[name]!.meta.execution?.execute?.submittedAt, b[name]!.meta.execution?.execute?.submittedAt);
    }
    assert.equal(a['car']!.meta.execution?.execute?.pid, resumed.pid, 'car ran again in the resuming process');
    assert.match(a['confirm']!.results as string, new RegExp((b['flight']!.results as { reservation: string }).reservation));

    const again = cli(resumeArgs, { cwd: dir });
    assert.equal(again.status, 0);
    assert.match(again.stdout, /already finished: SUCCESS; nothing to resume/);
  } finally {
    cleanup();
  }
});

test('resume without --module uses the module recorded with the run (parallel engine, crash in charge)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const crashed = cli(['demo', '--crash-at', 'charge', '--engine', 'parallel', '--db', 'x.db', '--pace', '0.2'], { cwd: dir });
    assert.equal(crashed.signal, 'SIGKILL');
    const [before] = await storedFlows(join(dir, 'x.db'));
    const resumed = cli(['resume', 'x.db', '--engine', 'parallel', '--', before!.uuid], { cwd: dir });
    assert.equal(resumed.status, 0, resumed.stderr);
    for (const name of ['flight', 'hotel', 'car']) assert.equal(lineOf(resumed.stdout, name, 'RUNNING'), -1, name);
    const [after] = await storedFlows(join(dir, 'x.db'));
    assert.equal(after!.state, 'SUCCESS');
    assert.equal(atoms(after!)['car']!.meta.execution?.execute?.pid, crashed.pid);
  } finally {
    cleanup();
  }
});

test('Ctrl-C suspends the run (in-flight atoms finish, exit 3); the printed resume command finishes it', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
    delete env['DEBUG'];
    const child = spawn(process.execPath, [CLI, 'demo', '--pace', '3'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (/▶ car\s+RUNNING/.test(stdout) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(code, 3, stdout);
    assert.match(stdout, /Ctrl-C: suspending/);
    assert.ok(lineOf(stdout, 'car', 'SUCCESS') > 0, 'the in-flight atom finished');
    assert.equal(lineOf(stdout, 'charge', 'RUNNING'), -1, 'nothing new started');
    assert.match(stdout, /book-trip: SUSPENDED/);
    const [fd] = await storedFlows(join(dir, 'atomflow-demo.db'));
    assert.equal(fd!.state, 'SUSPENDED');
    const line = stdout.split('\n').find((l) => l.includes('resume it:'))!;
    const args = splitCommand(line.slice(line.indexOf('resume it:') + 'resume it:'.length));
    const resumed = cli(args.slice(args.indexOf('resume')), { cwd: dir });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(lineOf(resumed.stdout, 'car', 'RUNNING'), -1);
    assert.ok(lineOf(resumed.stdout, 'confirm', 'SUCCESS') > 0);
    const [after] = await storedFlows(join(dir, 'atomflow-demo.db'));
    assert.equal(after!.state, 'SUCCESS');
  } finally {
    cleanup();
  }
});
