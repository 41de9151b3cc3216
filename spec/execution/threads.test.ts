/**
 * `executor: 'threads'`: importable atoms run in worker threads with the same results, events and
 * persistence as in process; CPU-bound atoms run beside each other; atoms that are not importable
 * are refused at load; timeouts stop a thread that ignores its signal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AtomNotImportable,
  AtomTimeout,
  InvariantViolation,
  LinearFlow,
  Task,
  UnorderedFlow,
  load,
  task,
  type Engine,
  type FlowItem,
  type LoadOptions,
} from '../../index.js';
import { Crunch, Plain, Rendezvous, addOne, failOnThread, hang, spinUntil } from '../support/thread-atoms.js';

const THREADS: LoadOptions = { engine: 'parallel', executor: 'threads', maxWorkers: 2 };

/** The atom events of a run, as `name STATE` lines per atom (their order across atoms may differ). */
async function transcript(flow: FlowItem, options: LoadOptions): Promise<{ engine: Engine; lines: Record<string, string[]>; error: unknown }> {
  const e = load(flow, options);
  const lines: Record<string, string[]> = {};
  e.on('atom', (ev) => (lines[ev.name] ??= []).push(`${ev.state}${ev.result !== undefined ? ` ${JSON.stringify(ev.result)}` : ''}`));
  const error = await e.run().then(() => undefined, (err: unknown) => err);
  return { engine: e, lines, error };
}

describe('threads executor', () => {
  test('same results, events and stored records as in process', async () => {
    const flow = () => new LinearFlow('same').add(addOne, new Crunch({ name: 'crunch', provides: 'z', rebind: { n: 'y' }, inject: { ms: 1 } }));
    const here = await transcript(flow(), { engine: 'parallel', store: { x: 1 } });
    const there = await transcript(flow(), { ...THREADS, store: { x: 1 } });
    assert.equal(there.error, undefined);
    assert.deepEqual(there.lines, here.lines);
    assert.deepEqual(there.engine.storage.fetchAll(), here.engine.storage.fetchAll());
    assert.equal(there.engine.storage.fetch('z'), 4);
    const strip = (e: Engine) => e.flowDetail.atomDetails.map((d) => [d.name, d.state, d.intention, d.results, d.failure, d.meta.progress]);
    assert.deepEqual(strip(there.engine), strip(here.engine));
  });

  test('progress crosses back from the thread', async () => {
    const e = load(new Crunch({ name: 'p', inject: { n: 1, ms: 1 } }), THREADS);
    const seen: Array<[number, unknown]> = [];
    e.on('progress', (p) => seen.push([p.progress, p.details]));
    await e.run();
    assert.deepEqual(seen, [
      [0, undefined],
      [0.5, { half: true }],
      [1, undefined],
    ]);
  });

  test('a failure on a thread reverts as in process; its types survive the crossing', async () => {
    const { engine, error } = await transcript(new LinearFlow('fails').add(addOne, failOnThread), { ...THREADS, store: { x: 1 } });
    assert.equal(engine.storage.getFlowState(), 'REVERTED');
    assert.ok(error);
    const f = engine.storage.getExecuteFailures()['failOnThread']!;
    assert.equal(f.exceptionType, 'RangeError');
    assert.match(f.message, /too big: 2/);
    assert.deepEqual(engine.storage.getRevertResult('failOnThread'), { sawFailure: 'RangeError' });
    const info = engine.storage.getExecutionInfo('failOnThread');
    assert.equal(info.execute?.success, false);
    assert.notEqual(info.revert?.threadId, 0, 'the revert ran on a thread too');
  });

  test('two atoms on 2 threads run beside each other (each waits, busy, for the other; their task phases overlap)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-'));
    try {
      const flow = new UnorderedFlow('meet').add(
        new Rendezvous({ name: 'left', provides: 'l', inject: { dir, me: 'left', other: 'right' } }),
        new Rendezvous({ name: 'right', provides: 'r', inject: { dir, me: 'right', other: 'left' } }),
      );
      const e = load(flow, THREADS);
      await e.run();
      assert.deepEqual([e.storage.fetch('l'), e.storage.fetch('r')], [true, true], 'each saw the other running');
      const l = e.storage.getExecutionInfo('left').execute!;
      const r = e.storage.getExecutionInfo('right').execute!;
      assert.notEqual(l.threadId, r.threadId);
      assert.ok(l.taskStartedAt! < r.taskEndedAt! && r.taskStartedAt! < l.taskEndedAt!, 'the two tasks overlap in time');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an atom that is not importable is refused at load, by name', () => {
    assert.throws(
      () => load(new LinearFlow('bad').add(addOne, new Plain({ name: 'plain' })), THREADS),
      (err: unknown) => err instanceof AtomNotImportable && err.atom === 'plain' && /static module = import\.meta\.url/.test(err.message),
    );
    assert.throws(
      () => load(task({ name: 'inline', execute: () => 1 }), THREADS),
      (err: unknown) => err instanceof AtomNotImportable && err.atom === 'inline',
    );
  });

  test('a declared module that does not export the atom is refused before anything runs', async () => {
    class Elsewhere extends Task {
      static override module = import.meta.url;
      execute(): number {
        return 1;
      }
    }
    const renamed = task({ name: 'renamed', module: import.meta.url, execute: () => 1 });
    for (const atom of [new Elsewhere(), renamed]) {
      const e = load(atom, THREADS);
      await assert.rejects(e.run(), (err: unknown) => err instanceof AtomNotImportable && err.atom === atom.name);
      assert.equal(e.storage.getAtomState(atom.name), 'PENDING');
    }
  });

  test("'threads' needs the parallel engine", () => {
    assert.throws(() => load(addOne, { engine: 'serial', executor: 'threads' }), InvariantViolation);
    assert.throws(() => load(addOne, { engine: 'parallel', executor: 'fork' as never }), InvariantViolation);
  });

  test('a timeout stops a thread that ignores its signal; retries and the rest of the run go on', async () => {
    const e = load(new UnorderedFlow('to').add(hang, new Crunch({ name: 'fine', provides: 'f', inject: { n: 3, ms: 1 } })), { ...THREADS, timeoutMs: 300 });
    const error = await e.run().then(() => undefined, (err: unknown) => err);
    assert.ok(error instanceof AtomTimeout, String(error));
    assert.equal(error.atom, 'hang');
    assert.equal(e.storage.getFlowState(), 'REVERTED');
    assert.equal(e.storage.getAtomState('fine'), 'REVERTED');
  });

  test('suspend() while a thread ignores its signal: SUSPENDED at the timeout, the atom left RUNNING', async () => {
    const e = load(new LinearFlow('s').add(hang, addOne), { ...THREADS, timeoutMs: 300, store: { x: 0 } });
    e.on('atom', (ev) => {
      if (ev.name === 'hang' && ev.state === 'RUNNING') e.suspend();
    });
    await e.run();
    assert.equal(e.storage.getFlowState(), 'SUSPENDED');
    assert.equal(e.storage.getAtomState('hang'), 'RUNNING');
    assert.equal(e.storage.getAtomState('addOne'), 'PENDING');
  });

  test('retry controllers run in the engine thread beside threaded tasks', async () => {
    const { Times } = await import('../../index.js');
    const e = load(new LinearFlow('rt', { retry: new Times({ attempts: 2 }) }).add(spinUntil), { ...THREADS, store: { ms: 1 } });
    await e.run();
    assert.equal(e.storage.getFlowState(), 'SUCCESS');
    assert.equal(e.storage.getExecutionInfo('rt_retry').execute?.threadId, 0);
    assert.notEqual(e.storage.getExecutionInfo('spinUntil').execute?.threadId, 0);
  });
});
