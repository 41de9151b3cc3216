/** CapturingListener, TimingListener and the listener base: registration, stop, and listeners that throw. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Failure, InvariantViolation, LinearFlow, Times, UnorderedFlow, load, task, type AtomEvent, type EngineEvents, type FlowEvent } from '../../index.js';
import { Emitter } from '../../lib/events.js';
import { CapturingListener, EngineListener, TimingListener, type CapturedEvent } from '../../engines/listeners/index.js';
import { engineKinds } from '../support/index.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** lf('f'){a returns 5 (progress 0.5 on the way), b fails}. */
function failing(): LinearFlow {
  return new LinearFlow('f').add(
    task({
      name: 'a',
      provides: 'x',
      execute: (_args, ctx) => {
        ctx.progress(0.5, { step: 'half' });
        return 5;
      },
    }),
    task({
      name: 'b',
      requires: ['x'],
      execute: () => {
        throw new Error('Woot!');
      },
    }),
  );
}

/** A stand-in engine: events are emitted by the test, so timing is exact. */
function fakeEngine(): { engine: { on: Emitter<EngineEvents>['on']; kind: string }; emit: Emitter<EngineEvents>['emit'] } {
  const events = new Emitter<EngineEvents>();
  return { engine: { on: (e, l) => events.on(e, l), kind: 'serial' }, emit: (e, p) => events.emit(e, p) };
}

const atom = (name: string, state: AtomEvent['state'], previousState: AtomEvent['previousState'], kind: AtomEvent['kind'] = 'task'): AtomEvent => ({
  name,
  kind,
  state,
  previousState,
  atomUuid: `${name}-uuid`,
  flowUuid: 'f-uuid',
});
const flowEvent = (state: FlowEvent['state'], previousState: FlowEvent['previousState']): FlowEvent => ({ name: 'f', state, previousState, flowUuid: 'f-uuid' });

for (const kind of engineKinds) {
  test(`CapturingListener records the run in order; transcript() in TaskFlow's words (${kind})`, async () => {
    const engine = load(failing(), { engine: kind });
    const capture = new CapturingListener(engine, { progress: true }).start();
    await assert.rejects(engine.run(), /Woot!/);
    // Progress 0 when an execute or revert starts and 1 when it ends, as TaskFlow (§5.2).
    assert.deepEqual(capture.transcript(), [
      'f.f RUNNING',
      'a.t RUNNING',
      'a.p 0',
      'a.p 0.5',
      'a.t SUCCESS(5)',
      'a.p 1',
      'b.t RUNNING',
      'b.p 0',
      'b.t FAILURE(Failure: Error: Woot!)',
      'b.t REVERTING',
      'b.p 0',
      'b.t REVERTED(None)',
      'b.p 1',
      'a.t REVERTING',
      'a.p 0',
      'a.t REVERTED(None)',
      'a.p 1',
      'f.f REVERTED',
    ]);
    const progress = capture.values.find((v): v is Extract<CapturedEvent, { kind: 'progress' }> => v.kind === 'progress' && v.progress === 0.5)!;
    assert.deepEqual(progress.details, { step: 'half' });
    const failure = capture.failures()['b'];
    assert.ok(failure instanceof Failure);
    assert.equal(failure.message, 'Woot!');
    const first = capture.values[1]!;
    assert.equal(first.kind, 'task');
    assert.equal((first as { atomUuid: string }).atomUuid, engine.flowDetail.atomDetails.find((d) => d.name === 'a')!.uuid);
  });
}

test('CapturingListener options: skip names and states, leave out flows, capture decisions, share a list; stop() stops it', async () => {
  const values: CapturedEvent[] = [];
  let calls = 0;
  const flow = new LinearFlow('rf', { retry: new Times({ attempts: 2, name: 'r' }) }).add(
    task({ name: 'quiet', execute: () => 1 }),
    task({
      name: 'flaky',
      execute: () => {
        if (++calls === 1) throw new Error('once');
        return calls;
      },
    }),
  );
  const engine = load(flow);
  const capture = new CapturingListener(engine, { values, flows: false, skipTasks: ['quiet'], skipStates: ['PENDING'], decisions: true }).start();
  assert.equal(capture.values, values);
  await engine.run();
  assert.deepEqual(capture.transcript(), [
    'r.r RUNNING',
    'r.r SUCCESS(1)',
    'flaky.t RUNNING',
    'flaky.t FAILURE(Failure: Error: once)',
    'r.d RETRY(flaky)',
    'flaky.t REVERTING',
    'flaky.t REVERTED(None)',
    'r.r RETRYING',
    'r.r RUNNING',
    'r.r SUCCESS(2)',
    'flaky.t RUNNING',
    'flaky.t SUCCESS(2)',
  ]);
  const noRetries = new CapturingListener(load(failing()), { retries: false, tasks: false });
  assert.equal(noRetries.values.length, 0);

  capture.stop();
  capture.stop();
  capture.clear();
  await engine.reset();
  calls = 1;
  await engine.run();
  assert.deepEqual(values, [], 'nothing is captured after stop()');
});

test('TimingListener: execute and revert durations per atom, the flow duration, summary and printer lines (exact clock)', () => {
  const { engine, emit } = fakeEngine();
  let now = 0;
  const printed: string[] = [];
  const timing = new TimingListener(engine, { now: () => now, printer: (l) => printed.push(l) }).start();
  emit('flow', flowEvent('RUNNING', 'PENDING'));
  emit('atom', atom('a', 'RUNNING', 'PENDING'));
  now = 25;
  emit('atom', atom('a', 'SUCCESS', 'RUNNING'));
  emit('atom', atom('b', 'RUNNING', 'PENDING'));
  now = 40;
  emit('atom', atom('b', 'FAILURE', 'RUNNING'));
  emit('atom', atom('b', 'REVERTING', 'FAILURE'));
  now = 45;
  emit('atom', atom('b', 'REVERTED', 'REVERTING'));
  emit('atom', atom('a', 'REVERTING', 'SUCCESS'));
  now = 60;
  emit('atom', atom('a', 'REVERTED', 'REVERTING'));
  emit('flow', flowEvent('REVERTED', 'RUNNING'));
  assert.equal(timing.duration('a'), 25);
  assert.equal(timing.duration('b'), 15);
  assert.deepEqual(timing.atoms(), [
    { name: 'a', kind: 'task', executeMs: 25, revertMs: 15, executions: 1, totalMs: 40 },
    { name: 'b', kind: 'task', executeMs: 15, revertMs: 5, executions: 1, totalMs: 20 },
  ]);
  assert.equal(timing.flowMs, 60);
  assert.deepEqual(printed, [
    "'f' flow started.",
    "'a' task started.",
    "It took task 'a' 0.03 seconds to finish.",
    "'b' task started.",
    "It took task 'b' 0.01 seconds to finish.",
    "'b' task started reverting.",
    "It took task 'b' 0.01 seconds to revert.",
    "'a' task started reverting.",
    "It took task 'a' 0.01 seconds to revert.",
    "It took flow 'f' 0.06 seconds to finish.",
  ]);
  const summary = timing.summary().split('\n');
  assert.match(summary[0]!, /^a\s+task\s+execute\s+25\.0ms\s+revert\s+15\.0ms$/);
  assert.match(summary[1]!, /^b\s+task\s+execute\s+15\.0ms\s+revert\s+5\.0ms$/);
  assert.equal(summary[2], "flow 'f' took 60.0ms");

  // A run that goes back to PENDING drops the running timer; a second execute counts.
  emit('atom', atom('a', 'RUNNING', 'PENDING'));
  emit('atom', atom('a', 'PENDING', 'RUNNING'));
  now = 100;
  emit('atom', atom('a', 'SUCCESS', 'RUNNING'));
  assert.equal(timing.atoms()[0]!.executions, 1, 'SUCCESS without a running timer is not timed');
  emit('atom', atom('a', 'RUNNING', 'PENDING'));
  now = 130;
  emit('atom', atom('a', 'SUCCESS', 'RUNNING'));
  assert.deepEqual({ ...timing.atoms()[0]! }, { name: 'a', kind: 'task', executeMs: 30, revertMs: 15, executions: 2, totalMs: 70 });
  timing.stop();
  emit('atom', atom('c', 'RUNNING', 'PENDING'));
  assert.equal(timing.atoms().length, 2, 'stopped');
});

for (const kind of engineKinds) {
  test(`TimingListener on a real run (${kind}): durations follow the work, retries counted`, async () => {
    let calls = 0;
    const flow = new LinearFlow('timed').add(
      new UnorderedFlow('u').add(task({ name: 'slow', execute: () => sleep(40) }), task({ name: 'quick', execute: () => sleep(5) })),
      new LinearFlow('again', { retry: new Times({ attempts: 2, name: 'again_retry' }) }).add(
        task({
          name: 'twice',
          execute: async () => {
            await sleep(10);
            if (++calls === 1) throw new Error('first');
          },
        }),
      ),
    );
    const engine = load(flow, { engine: kind });
    const timing = new TimingListener(engine, { retries: false }).start();
    await engine.run();
    assert.ok(timing.duration('slow')! >= 35, `slow took ${timing.duration('slow')}`);
    assert.ok(timing.duration('quick')! >= 4);
    const twice = timing.atoms().find((a) => a.name === 'twice')!;
    assert.equal(twice.executions, 2);
    assert.ok(twice.totalMs >= 18);
    assert.ok(twice.revertMs !== undefined, 'the failed attempt was reverted before the retry');
    assert.ok(!timing.atoms().some((a) => a.name === 'again_retry'), 'retries left out when asked');
    assert.ok(timing.flowMs! >= timing.duration('slow')! + 10);
  });
}

class Exploding extends EngineListener {
  seen = 0;
  protected override onTask(): void {
    this.seen++;
    throw new Error('listener bug');
  }
  protected override onFlow(): void {
    throw new Error('listener bug in onFlow');
  }
}

for (const kind of engineKinds) {
  test(`a listener that throws never breaks the run (${kind})`, async () => {
    const flow = new LinearFlow('safe').add(
      task({ name: 'one', provides: 'x', execute: () => 1 }),
      task({ name: 'two', requires: ['x'], provides: 'y', execute: ({ x }: { x: number }) => x + 1 }),
    );
    const engine = load(flow, { engine: kind });
    const exploding = new Exploding(engine).start();
    engine.on('atom', () => {
      throw new TypeError('raw listener bug');
    });
    const capture = new CapturingListener(engine).start();
    await engine.run();
    assert.equal(engine.storage.getFlowState(), 'SUCCESS');
    assert.deepEqual(engine.storage.fetchAll(), { x: 1, y: 2 });
    assert.equal(exploding.seen, 4, 'it kept being called');
    assert.deepEqual(capture.transcript(), ['safe.f RUNNING', 'one.t RUNNING', 'one.t SUCCESS(1)', 'two.t RUNNING', 'two.t SUCCESS(2)', 'safe.f SUCCESS']);
  });
}

test('start() registers once and returns the listener; stop() is idempotent; bad engines and options are refused', async () => {
  const engine = load(failing());
  const capture = new CapturingListener(engine);
  assert.equal(capture.started, false);
  assert.equal(capture.start(), capture);
  assert.equal(capture.start(), capture);
  assert.equal(capture.started, true);
  await assert.rejects(engine.run());
  assert.equal(capture.values.filter((v) => v.kind === 'flow' && v.state === 'RUNNING').length, 1, 'registered once');
  capture.stop();
  capture.stop();
  assert.equal(capture.started, false);
  assert.throws(() => new CapturingListener({} as never), InvariantViolation);
  assert.throws(() => new CapturingListener(engine, { skip: [] } as never), /CapturingListener: unknown option 'skip'/);
  assert.throws(() => new TimingListener(engine, { clock: () => 0 } as never), /TimingListener: unknown option 'clock'/);
});
