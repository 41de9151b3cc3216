/** `atomflow inspect`, `graph`, `run` and `--help`, run as a user would. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cli, DEMO_MODULE, FIXTURES, tempDir } from './helpers.js';

interface InspectDoc {
  store: string;
  logbooks: Array<{
    uuid: string;
    name: string;
    flows: Array<{
      uuid: string;
      name: string;
      state: string | null;
      durationMs: number | null;
      meta: Record<string, unknown>;
      atoms: Array<{
        name: string;
        kind: string;
        state: string;
        intention: string;
        results: unknown;
        failure: { type: string; types: string[]; message: string; stack: string } | null;
        revertResults: unknown;
        durationMs: number | null;
        revertDurationMs: number | null;
        pid: number | null;
      }>;
    }>;
  }>;
}

test('inspect --json: logbooks, flows and atoms with states, intentions, results, failures and durations; --state and --atom-state filter', () => {
  const { dir, cleanup } = tempDir();
  try {
    const ok = cli(['demo', '--db', 's.db', '--pace', '0.2'], { cwd: dir });
    assert.equal(ok.status, 0, ok.stderr);
    const failed = cli(['demo', '--db', 's.db', '--fail-at', 'car', '--pace', '0.2'], { cwd: dir });
    assert.equal(failed.status, 1);

    const r = cli(['inspect', 's.db', '--json'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as InspectDoc;
    assert.equal(doc.logbooks.length, 2);
    const flows = doc.logbooks.flatMap((b) => b.flows);
    assert.deepEqual(flows.map((f) => f.state).sort(), ['REVERTED', 'SUCCESS']);
    const reverted = flows.find((f) => f.state === 'REVERTED')!;
    assert.equal(reverted.name, 'book-trip');
    assert.ok(typeof reverted.durationMs === 'number' && reverted.durationMs > 0);
    assert.deepEqual((reverted.meta['demo'] as Record<string, unknown>)['failAt'], 'car');
    const byName = Object.fromEntries(reverted.atoms.map((a) => [a.name, a]));
    assert.deepEqual(Object.keys(byName), ['flight', 'hotel', 'car', 'payment_retry', 'charge', 'confirm']);
    const car = byName['car']!;
    assert.equal(car.state, 'REVERTED');
    assert.equal(car.intention, 'REVERT');
    assert.equal(car.failure?.type, 'ServiceUnavailable');
    assert.deepEqual(car.failure?.types.slice(0, 2), ['ServiceUnavailable', 'Error']);
    assert.match(car.failure!.message, /no cars left at the airport desk/);
    assert.ok(car.durationMs !== null && car.durationMs >= 10, 'execute took the simulated work time');
    const flight = byName['flight']!;
    assert.equal(flight.kind, 'task');
    assert.match((flight.results as { reservation: string }).reservation, /^FL-\d+$/);
    assert.deepEqual(flight.revertResults, { cancelled: (flight.results as { reservation: string }).reservation });
    assert.ok(flight.revertDurationMs !== null && flight.revertDurationMs >= 0);
    assert.equal(byName['payment_retry']!.kind, 'retry');
    assert.equal(byName['charge']!.state, 'PENDING');
    assert.equal(byName['charge']!.durationMs, null);
    const success = flows.find((f) => f.state === 'SUCCESS')!;
    const retry = success.atoms.find((a) => a.name === 'payment_retry')!;
    assert.equal((retry.results as Array<{ value: number; failures: Record<string, { exceptionType: string }> }>).length, 2);
    assert.equal((retry.results as Array<{ failures: Record<string, { exceptionType: string }> }>)[0]!.failures['charge']!.exceptionType, 'GatewayTimeout');

    const onlyReverted = JSON.parse(cli(['inspect', 's.db', '--json', '--state', 'reverted'], { cwd: dir }).stdout) as InspectDoc;
    assert.deepEqual(onlyReverted.logbooks.flatMap((b) => b.flows.map((f) => f.uuid)), [reverted.uuid]);
    const revertedAtoms = JSON.parse(cli(['inspect', 's.db', '--json', `--flow=${reverted.uuid}`, '--atom-state', 'REVERTED'], { cwd: dir }).stdout) as InspectDoc;
    assert.deepEqual(revertedAtoms.logbooks.flatMap((b) => b.flows.flatMap((f) => f.atoms.map((a) => a.name))).sort(), ['car', 'flight', 'hotel']);
    const none = JSON.parse(cli(['inspect', 's.db', '--json', '--state', 'SUSPENDED'], { cwd: dir }).stdout) as InspectDoc;
    assert.deepEqual(none.logbooks, []);

    const human = cli(['inspect', 's.db', `--flow=${reverted.uuid}`], { cwd: dir });
    assert.equal(human.status, 0);
    assert.match(human.stdout, /store \.\/s\.db: 1 logbook, 1 flow/);
    assert.match(human.stdout, new RegExp(`flow 'book-trip' ${reverted.uuid}  REVERTED`));
    assert.match(human.stdout, /ATOM\s+KIND\s+STATE\s+INTENTION\s+EXECUTE\s+REVERT/);
    assert.match(human.stdout, /car\s+task\s+REVERTED\s+REVERT\s+\d+ms\s+\d+ms\s+failed: ServiceUnavailable: no cars left/);
    assert.match(human.stdout, /flight\s+task\s+REVERTED .*undone: \{"cancelled":"FL-\d+"\}/);
  } finally {
    cleanup();
  }
});

test('graph --format mermaid: flows as subgraphs, the retry as a hexagon, edges in flow order', () => {
  const r = cli(['graph', '--module', DEMO_MODULE, '--export', 'buildTripFlow'], { cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.equal(out.split('\n')[0], 'flowchart TD');
  assert.match(out, /subgraph f\d+\["book-trip \(linear\)"\]/);
  assert.match(out, /subgraph f\d+\["reserve \(unordered\)"\]/);
  assert.match(out, /subgraph f\d+\["payment \(linear, retry payment_retry\)"\]/);
  const id = (label: string): string => {
    const m = new RegExp(`(a\\d+)(\\[|\\{\\{)"${label}"`).exec(out);
    assert.ok(m, `node ${label}`);
    return m[1]!;
  };
  assert.match(out, new RegExp(`${id('payment_retry')}\\{\\{"payment_retry"\\}\\}`));
  for (const [u, v] of [
    ['flight', 'car'],
    ['hotel', 'car'],
    ['car', 'payment_retry'],
    ['payment_retry', 'charge'],
    ['charge', 'confirm'],
  ] as const) {
    assert.match(out, new RegExp(`^  ${id(u)} --> ${id(v)}$`, 'm'), `${u} --> ${v}`);
  }
  assert.doesNotMatch(out, new RegExp(`${id('flight')} --> ${id('hotel')}`), 'the unordered pair is not ordered');
  assert.equal((out.match(/-->/g) ?? []).length, 5);
});

test('graph: a wide join is drawn through a small barrier point, a decider link dashed; dot format too', () => {
  const mermaid = cli(['graph', '--module', FIXTURES, '--export', 'graphy'], { cwd: process.cwd() });
  assert.equal(mermaid.status, 0, mermaid.stderr);
  assert.match(mermaid.stdout, /b0\(\(" "\)\):::barrier/);
  assert.equal((mermaid.stdout.match(/ --> b0$/gm) ?? []).length, 4, 'four sources into the join');
  assert.equal((mermaid.stdout.match(/^  b0 --> /gm) ?? []).length, 4, 'four targets out of it');
  assert.match(mermaid.stdout, /a\d+ -\. decider \.-> a\d+/);

  const dot = cli(['graph', '--module', FIXTURES, '--export', 'graphy', '--format', 'dot'], { cwd: process.cwd() });
  assert.equal(dot.status, 0, dot.stderr);
  assert.match(dot.stdout, /^digraph "graphy" \{/);
  assert.match(dot.stdout, /b0 \[shape=point, width=0\.08, label=""\];/);
  assert.match(dot.stdout, /subgraph "cluster_f\d+" \{\n\s+label="left \(unordered\)"/);
  assert.match(dot.stdout, /a\d+ -> a\d+ \[style=dashed, label="decider"\];/);
  assert.match(dot.stdout, /\}\n$/);
});

test('graph --db --flow colours the atoms by the stored states', () => {
  const { dir, cleanup } = tempDir();
  try {
    const failed = cli(['demo', '--db', 'g.db', '--fail-at', 'car', '--pace', '0.2'], { cwd: dir });
    const uuid = /flow: (\S+)/.exec(failed.stdout)![1]!;
    const r = cli(['graph', '--module', DEMO_MODULE, '--export', 'buildTripFlow', '--db', 'g.db', `--flow=${uuid}`], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\["car · REVERTED"\]/);
    assert.match(r.stdout, /\["confirm · PENDING"\]/);
    assert.match(r.stdout, /classDef REVERTED fill:#[0-9a-f]{6}/);
    assert.match(r.stdout, /^  class (a\d+,){2}a\d+ REVERTED$/m);
    const dot = cli(['graph', '--module', DEMO_MODULE, '--export', 'buildTripFlow', '--db', 'g.db', `--flow=${uuid}`, '--format', 'dot'], { cwd: dir });
    assert.match(dot.stdout, /label="car\\nREVERTED", fillcolor="#fff3cd"/);
  } finally {
    cleanup();
  }
});

test("run --module: the default export 'flow', --store values parsed as JSON, results printed", () => {
  const r = cli(['run', '--module', FIXTURES, '--store', 'a=2', '--store', 'b=40'], { cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /arith: SUCCESS/);
  assert.match(r.stdout, /^\+\d+\.\d{3}s\s+✔ add\s+SUCCESS\s+42\s+\[1\/2\]$/m);
  assert.match(r.stdout, /^\s+doubled\s+84$/m);
});

test('run --backend persists the run (resumable, inspectable); a failing flow exits 1 and shows its rollback; --print uses PrintingListener', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = cli(['run', '--module', FIXTURES, '--export', 'failing', '--backend', 'r.db', '--engine', 'parallel'], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /pay\s+FAILURE\s+RangeError: insufficient funds/);
    assert.match(r.stdout, /reserve\s+REVERTED\s+\{"released":"seat-1"\}/);
    assert.match(r.stdout, /failing: REVERTED .*\(parallel engine\)/);
    const doc = JSON.parse(cli(['inspect', 'r.db', '--json'], { cwd: dir }).stdout) as InspectDoc;
    const fd = doc.logbooks[0]!.flows[0]!;
    assert.equal(fd.state, 'REVERTED');
    assert.deepEqual(fd.meta['factory'], { module: FIXTURES, export: 'failing' });

    const printed = cli(['run', '--module', FIXTURES, '--store', 'a=1', '--store', 'b=1', '--print'], { cwd: dir });
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /^<SerialEngine> has moved flow 'arith' \(\S+\) into state 'RUNNING' from state 'PENDING'$/m);
    assert.match(printed.stdout, /^<SerialEngine> has moved task 'double' \(\S+\) into state 'SUCCESS' from state 'RUNNING' with result '4' \(failure=false\)$/m);
  } finally {
    cleanup();
  }
});

test('--help lists the commands; <command> --help describes it; --version', () => {
  const top = cli(['--help'], { cwd: process.cwd() });
  assert.equal(top.status, 0);
  for (const c of ['demo', 'run', 'resume', 'inspect', 'graph']) assert.match(top.stdout, new RegExp(`^  ${c}\\s+\\S`, 'm'));
  for (const c of ['demo', 'run', 'resume', 'inspect', 'graph']) {
    const h = cli([c, '--help'], { cwd: process.cwd() });
    assert.equal(h.status, 0);
    assert.match(h.stdout, new RegExp(`^Usage: atomflow ${c}`));
  }
  assert.match(cli(['inspect', '-h'], { cwd: process.cwd() }).stdout, /--atom-state <STATE>/);
  assert.match(cli(['--version'], { cwd: process.cwd() }).stdout, /^\d+\.\d+\.\d+\n$/);
  void join;
});
