/** PrintingListener and LoggingListener: TaskFlow's transition lines, on both engines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import createDebug from 'debug';
import { format } from 'node:util';
import { LinearFlow, Times, load, task, type Engine } from '../../index.js';
import { LoggingListener, PrintingListener } from '../../engines/listeners/index.js';
import { engineKinds } from '../support/index.js';

/** lf('pf'){prog (returns 'p'), bad (fails with 'fail-bad')}, the example of TASKFLOW-SEMANTICS §6.4. */
function pf(): LinearFlow {
  return new LinearFlow('pf').add(
    task({ name: 'prog', provides: 'p', execute: () => 'p' }),
    task({
      name: 'bad',
      execute: () => {
        throw new Error('fail-bad');
      },
    }),
  );
}

/** A debug record without its date prefix. */
function strip(record: string): string {
  return record.slice(record.indexOf('atomflow:listener'));
}

function sink(): { lines: string[]; write: (s: string) => boolean } {
  const lines: string[] = [];
  return { lines, write: (s: string) => (lines.push(...s.replace(/\n$/, '').split('\n')), true) };
}

/** Replaces the engine's uuids by <UUID>, after checking they are the stored ones. */
function anonymise(engine: Engine, lines: string[]): string[] {
  const fd = engine.flowDetail;
  const ids = new Map<string, string>([[fd.uuid, 'flow'], ...fd.atomDetails.map((d) => [d.uuid, d.name] as [string, string])]);
  return lines.map((l) =>
    l.replace(/ '([^']+)' \(([^)]+)\)/, (_m, name: string, uuid: string) => {
      assert.ok(ids.get(uuid) === name || (ids.get(uuid) === 'flow' && name === fd.name), `uuid of '${name}' is the stored one`);
      return ` '${name}' (<UUID>)`;
    }),
  );
}

for (const kind of engineKinds) {
  test(`PrintingListener writes TaskFlow's lines for a failing linear flow (${kind})`, async () => {
    const engine = load(pf(), { engine: kind });
    const out = sink();
    const listener = new PrintingListener(engine, { stream: out, stacks: false }).start();
    await assert.rejects(engine.run(), /fail-bad/);
    listener.stop();
    const P = kind === 'parallel' ? '<ParallelEngine>' : '<SerialEngine>';
    assert.deepEqual(anonymise(engine, out.lines), [
      `${P} has moved flow 'pf' (<UUID>) into state 'RUNNING' from state 'PENDING'`,
      `${P} has moved task 'prog' (<UUID>) into state 'RUNNING' from state 'PENDING'`,
      `${P} has moved task 'prog' (<UUID>) into state 'SUCCESS' from state 'RUNNING' with result 'p' (failure=false)`,
      `${P} has moved task 'bad' (<UUID>) into state 'RUNNING' from state 'PENDING'`,
      `${P} has moved task 'bad' (<UUID>) into state 'FAILURE' from state 'RUNNING' with result 'Failure: Error: fail-bad' (failure=true)`,
      `${P} has moved task 'bad' (<UUID>) into state 'REVERTING' from state 'FAILURE'`,
      `${P} has moved task 'bad' (<UUID>) into state 'REVERTED' from state 'REVERTING' with result 'undefined' (failure=false)`,
      `${P} has moved task 'prog' (<UUID>) into state 'REVERTING' from state 'SUCCESS'`,
      `${P} has moved task 'prog' (<UUID>) into state 'REVERTED' from state 'REVERTING' with result 'undefined' (failure=false)`,
      `${P} has moved flow 'pf' (<UUID>) into state 'REVERTED' from state 'RUNNING'`,
    ]);
  });
}

test('PrintingListener prints the stack under a failure by default, takes a prefix, and prints retries only when asked', async () => {
  const out = sink();
  let calls = 0;
  const flow = new LinearFlow('rf', { retry: new Times({ attempts: 2, name: 'r' }) }).add(
    task({
      name: 'flaky',
      execute: () => {
        calls++;
        if (calls === 1) throw new TypeError('first time');
        return calls;
      },
    }),
  );
  const engine = load(flow);
  new PrintingListener(engine, { stream: out, prefix: 'E', retries: true }).start();
  await engine.run();
  const failure = out.lines.findIndex((l) => l.includes("'flaky'") && l.includes("into state 'FAILURE'"));
  assert.ok(failure > 0);
  assert.match(out.lines[failure]!, /with result 'Failure: TypeError: first time' \(failure=true\)$/);
  assert.match(out.lines[failure + 1]!, /^ {4}TypeError: first time$/);
  assert.match(out.lines[failure + 2]!, /^ {4}\s*at /);
  assert.ok(out.lines.some((l) => /^E has moved retry 'r' \(\S+\) into state 'RETRYING' from state 'SUCCESS'$/.test(l)));
  assert.ok(out.lines.every((l) => l.startsWith('E ') || l.startsWith('    ')));

  const quiet = sink();
  calls = 0;
  const again = load(new LinearFlow('rf', { retry: new Times({ attempts: 2, name: 'r' }) }).add(task({ name: 'flaky', execute: () => ++calls })));
  new PrintingListener(again, { stream: quiet }).start();
  await again.run();
  assert.ok(quiet.lines.length > 0);
  assert.ok(!quiet.lines.some((l) => l.includes("retry 'r'")), 'retries are not printed by default (as TaskFlow)');
});

test('LoggingListener sends the same messages through debug (atomflow:listener), failures to atomflow:listener:failure', async () => {
  const saved = { log: createDebug.log, enabled: createDebug.disable() };
  const records: string[] = [];
  const opts = (createDebug as unknown as { inspectOpts: Record<string, unknown> }).inspectOpts;
  const savedColors = opts['colors'];
  opts['colors'] = false;
  createDebug.log = (...args: unknown[]) => void records.push(format(...(args as [string, ...unknown[]])));
  try {
    createDebug.enable('atomflow:listener*');
    const engine = load(pf());
    const listener = new LoggingListener(engine).start();
    await assert.rejects(engine.run());
    listener.stop();
    const messages = records.map(strip);
    assert.equal(messages.filter((m) => m.includes(' has moved ')).length, 10);
    const failure = messages.find((m) => m.includes("into state 'FAILURE'"))!;
    assert.match(failure, /^atomflow:listener:failure <SerialEngine> has moved task 'bad' \(\S+\) into state 'FAILURE' from state 'RUNNING' with result 'Failure: Error: fail-bad' \(failure=true\)\n {4}Error: fail-bad/);
    assert.ok(messages.some((m) => /^atomflow:listener <SerialEngine> has moved task 'prog' \(\S+\) into state 'SUCCESS'/.test(m)));
    assert.ok(messages.some((m) => /^atomflow:listener:failure <SerialEngine> has moved flow 'pf' \(\S+\) into state 'REVERTED'/.test(m)));

    records.length = 0;
    createDebug.enable('atomflow:listener:failure');
    const second = load(pf());
    new LoggingListener(second).start();
    await assert.rejects(second.run());
    const onlyFailures = records.map(strip);
    assert.deepEqual(
      onlyFailures.map((m) => /into state '(\w+)'/.exec(m)?.[1]),
      ['FAILURE', 'REVERTED', 'REVERTED', 'REVERTED'],
      'failure-level states only: bad FAILURE, bad REVERTED, prog REVERTED, flow REVERTED',
    );

    records.length = 0;
    createDebug.disable();
    const third = load(pf());
    new LoggingListener(third).start();
    await assert.rejects(third.run());
    assert.deepEqual(records, [], 'nothing is logged while the namespace is off');
  } finally {
    createDebug.log = saved.log;
    if (savedColors === undefined) delete opts['colors'];
    else opts['colors'] = savedColors;
    if (saved.enabled) createDebug.enable(saved.enabled);
    else createDebug.disable();
  }
});

test('LoggingListener takes its own log function and namespace', async () => {
  const got: string[] = [];
  const engine = load(pf(), { engine: 'parallel' });
  const listener = new LoggingListener(engine, { log: (m) => void got.push(m), namespace: 'app:flows' });
  assert.equal(listener.namespace, 'app:flows');
  listener.start();
  await assert.rejects(engine.run());
  assert.equal(got.length, 10);
  assert.match(got[0]!, /^<ParallelEngine> has moved flow 'pf'/);
  assert.throws(() => new LoggingListener(engine, { level: 'debug' } as never), /LoggingListener: unknown option 'level'/);
});
