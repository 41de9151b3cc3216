/**
 * Retry controllers, run on every engine kind: a port of TaskFlow's tests/unit/test_retries.py
 * (exact notification transcripts, as its CaptureListener records them) plus the retry facts of
 * TASKFLOW-SEMANTICS.md §4 and atomflow's own additions (retry events, backoff on an injected clock).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlwaysRevert,
  AlwaysRevertAll,
  Decision,
  Failure,
  ForEach,
  GraphFlow,
  History,
  InvariantViolation,
  LinearFlow,
  ManualClock,
  MissingDependencies,
  NotFound,
  ParameterizedForEach,
  Retry,
  Task,
  Times,
  UnorderedFlow,
  load,
  task,
  type AtomContext,
  type AtomDetail,
  type BackoffOptions,
  type Engine,
  type EngineKind,
  type FlowItem,
  type LoadOptions,
  type RetryEvent,
  type TimesOptions,
} from '../../index.js';
import { Capture, Conditional, Failing, FailingWithArg, Nasty, Progressing, RuntimeError, T, engineKinds, forEngine, raised, sleep, withEngine, type Journal } from '../support/index.js';

// ---- fixtures ---------------------------------------------------------------------------------

/** Named like Python's ValueError, so transcripts read as TaskFlow's do. */
class ValueError extends Error {}


/** TaskFlow's OneReturnRetry: provides 1; always REVERT. Records the history lengths execute saw. */
class OneReturnRetry extends Retry {
  readonly executeSaw: number[] = [];
  execute(history: History): number {
    this.executeSaw.push(history.length);
    return 1;
  }
  onFailure(): Decision {
    return Decision.REVERT;
  }
}

/** TaskFlow's FailingRetry: execute throws; revert keeps the history it was given. */
class FailingRetry extends Retry {
  history: History | undefined;
  thrown: unknown[] = [];
  execute(): never {
    const e = new ValueError('OMG I FAILED');
    this.thrown.push(e);
    throw e;
  }
  override revert(history: History): void {
    this.history = history;
  }
  onFailure(): Decision {
    return Decision.REVERT;
  }
}

/** TaskFlow's NastyFailingRetry: its revert throws too. */
class NastyFailingRetry extends FailingRetry {
  override revert(): never {
    const e = new ValueError('WOOT!');
    this.thrown.push(e);
    throw e;
  }
}

interface Seen {
  readonly call: 'execute' | 'onFailure' | 'revert';
  readonly values: unknown[];
  /** Each attempt's failures as `{ atom: message }`. */
  readonly failures: Array<Record<string, string>>;
  readonly result?: unknown;
  readonly flowFailures?: Record<string, string>;
  readonly at?: number;
}

function snap(h: History): { values: unknown[]; failures: Array<Record<string, string>> } {
  return {
    values: h.values(),
    failures: [...h].map((a) => Object.fromEntries(Object.entries(a.failures).map(([k, f]) => [k, f.message]))),
  };
}

/** A Times that records what every call saw (and, with a clock, when execute ran). */
class RecordingTimes extends Times {
  readonly seen: Seen[] = [];
  clock: ManualClock | undefined;
  constructor(options: TimesOptions & { clock?: ManualClock } = {}) {
    const { clock, ...rest } = options;
    super(rest);
    this.clock = clock;
  }
  override execute(history: History<number>): number {
    const v = super.execute(history);
    this.seen.push({ call: 'execute', ...snap(history), result: v, ...(this.clock ? { at: this.clock.now() } : {}) });
    return v;
  }
  override onFailure(history: History<number>): Decision {
    const d = super.onFailure(history);
    this.seen.push({ call: 'onFailure', ...snap(history), result: d });
    return d;
  }
  override revert(history: History<number>, _args: Record<string, unknown>, ctx: AtomContext): void {
    const ff = (ctx as AtomContext & { flowFailures?: Record<string, Failure> }).flowFailures ?? {};
    this.seen.push({
      call: 'revert',
      ...snap(history),
      flowFailures: Object.fromEntries(Object.entries(ff).map(([k, f]) => [k, f.message])),
    });
  }
}

// ---- helpers ----------------------------------------------------------------------------------

function mk(flow: FlowItem, kind: EngineKind, options: Omit<LoadOptions, 'engine'> = {}): Engine {
  if (kind === 'worker') return load(flow, withEngine('worker', options));
  return load(flow, { engine: kind, ...(kind === 'parallel' ? { maxWorkers: 2 } : {}), ...options });
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return assert.fail('expected the run to reject');
}

function retryEvents(engine: Engine): RetryEvent[] {
  const out: RetryEvent[] = [];
  engine.on('retry', (e) => out.push(e));
  return out;
}

function brief(events: readonly RetryEvent[]): Array<{ name: string; decision: string; attempt: number; failedAtom: string }> {
  return events.map((e) => ({ name: e.name, decision: e.decision, attempt: e.attempt, failedAtom: e.failedAtom }));
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
async function settle(n = 30): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}
async function until(cond: () => boolean, what: string, n = 2000): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (cond()) return;
    await tick();
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** One attempt of `r` (providing `rv`) whose task `t` fails with `msg` and is reverted. */
function failedAttempt(r: string, rv: unknown, t: string, msg: string): string[] {
  return [
    `${r}.r RUNNING`,
    `${r}.r SUCCESS(${String(rv)})`,
    `${t}.t RUNNING`,
    `${t}.t FAILURE(Failure: RuntimeError: ${msg})`,
    `${t}.t REVERTING`,
    `${t}.t REVERTED(None)`,
  ];
}

function state(engine: Engine, name: string): string {
  return `${engine.storage.getAtomState(name)}/${engine.storage.getAtomIntention(name)}`;
}

// ---- the suite --------------------------------------------------------------------------------

for (const kind of [...engineKinds, 'worker'] as const) {
  const test = forEngine(kind);
  describe(`retries (${kind} engine)`, () => {
    describe('empty flows with a retry', () => {
      for (const [pattern, make] of [
        ['linear', (r: Retry) => new LinearFlow('flow-1', { retry: r })],
        ['unordered', (r: Retry) => new UnorderedFlow('flow-1', { retry: r })],
        ['graph', (r: Retry) => new GraphFlow('flow-1', { retry: r })],
      ] as const) {
        test(`the retry of an empty ${pattern} flow still runs (test_run_empty_${pattern}_flow)`, async () => {
          const r = new OneReturnRetry({ provides: 'x' });
          const engine = mk(make(r), kind);
          const cap = new Capture(engine);
          await engine.run();
          assert.deepEqual(engine.storage.fetchAll(), { x: 1 });
          assert.deepEqual(cap.values, ['flow-1.f RUNNING', 'flow-1_retry.r RUNNING', 'flow-1_retry.r SUCCESS(1)', 'flow-1.f SUCCESS']);
        });
      }
    });

    describe('Times', () => {
      test('a task failing once is retried (test_states_retry_success_linear_flow)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 4, name: 'r1', provides: 'x' }) }).add(
          new Progressing('task1'),
          new Conditional({ name: 'task2' }),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(engine.storage.fetchAll(), { y: 2, x: 2 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r1.r RETRYING',
          'task1.t PENDING',
          'task2.t PENDING',
          'r1.r RUNNING',
          'r1.r SUCCESS(2)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'flow-1.f SUCCESS',
        ]);
        assert.equal(engine.storage.getFlowState(), 'SUCCESS');
      });

      test('execute and onFailure see the history, the current failure included (§4.1)', async () => {
        const r = new RecordingTimes({ attempts: 5, name: 'r', provides: 'attempt' });
        const ft = task({
          name: 'ft',
          requires: ['attempt'],
          execute: ({ attempt }: { attempt: number }) => {
            if (attempt < 3) throw new RuntimeError(`attempt ${attempt} failed`);
            return `ok@${attempt}`;
          },
        });
        const engine = mk(new LinearFlow('f', { retry: r }).add(ft), kind);
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(r.seen, [
          { call: 'execute', values: [], failures: [], result: 1 },
          { call: 'onFailure', values: [1], failures: [{ ft: 'attempt 1 failed' }], result: 'RETRY' },
          { call: 'execute', values: [1], failures: [{ ft: 'attempt 1 failed' }], result: 2 },
          { call: 'onFailure', values: [1, 2], failures: [{ ft: 'attempt 1 failed' }, { ft: 'attempt 2 failed' }], result: 'RETRY' },
          { call: 'execute', values: [1, 2], failures: [{ ft: 'attempt 1 failed' }, { ft: 'attempt 2 failed' }], result: 3 },
        ]);
        const h = engine.storage.getRetryHistory('r');
        assert.ok(h instanceof History);
        assert.equal(h.length, 3);
        assert.deepEqual(snap(h), { values: [1, 2, 3], failures: [{ ft: 'attempt 1 failed' }, { ft: 'attempt 2 failed' }, {}] });
        assert.equal(h.failure, undefined);
        assert.ok(h.at(0)?.failures.ft instanceof Failure);
        assert.ok(h.causedBy(RuntimeError));
        assert.ok(h.causedBy(RuntimeError, { index: 1 }));
        assert.ok(!h.causedBy(RuntimeError, { index: 2 }));
        assert.deepEqual(engine.storage.fetchAll(), { attempt: 3 });
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          ...failedAttempt('r', 1, 'ft', 'attempt 1 failed'),
          'r.r RETRYING',
          'ft.t PENDING',
          ...failedAttempt('r', 2, 'ft', 'attempt 2 failed'),
          'r.r RETRYING',
          'ft.t PENDING',
          'r.r RUNNING',
          'r.r SUCCESS(3)',
          'ft.t RUNNING',
          'ft.t SUCCESS(ok@3)',
          'f.f SUCCESS',
        ]);
      });

      test('exhausted Times reverts (test_states_retry_reverted_linear_flow)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 2, name: 'r1', provides: 'x' }) }).add(
          new Progressing('task1'),
          new Conditional({ name: 'task2' }),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 4 });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.match(raised(kind, err).message, /^Woot/);
        assert.deepEqual(engine.storage.fetchAll(), { y: 4 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r1.r RETRYING',
          'task1.t PENDING',
          'task2.t PENDING',
          'r1.r RUNNING',
          'r1.r SUCCESS(2)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test('exhausted Times: revert sees the whole history, the run rejects with the LAST failure object, the history is cleared (§4.1)', async () => {
        const r = new RecordingTimes({ attempts: 2, name: 'r' });
        const thrown: Error[] = [];
        const ft = task({
          name: 'ft',
          execute: () => {
            const e = new RuntimeError(`nope ${thrown.length + 1}`);
            thrown.push(e);
            throw e;
          },
        });
        const engine = mk(new LinearFlow('f', { retry: r }).add(ft), kind);
        const err = await rejection(engine.run());
        assert.equal(thrown.length, 2);
        assert.equal(err, thrown[1], 'the run rejects with the very error object of the last attempt');
        assert.deepEqual(r.seen, [
          { call: 'execute', values: [], failures: [], result: 1 },
          { call: 'onFailure', values: [1], failures: [{ ft: 'nope 1' }], result: 'RETRY' },
          { call: 'execute', values: [1], failures: [{ ft: 'nope 1' }], result: 2 },
          { call: 'onFailure', values: [1, 2], failures: [{ ft: 'nope 1' }, { ft: 'nope 2' }], result: 'REVERT' },
          { call: 'revert', values: [1, 2], failures: [{ ft: 'nope 1' }, { ft: 'nope 2' }], flowFailures: { ft: 'nope 2' } },
        ]);
        assert.equal(engine.storage.getRetryHistory('r').length, 0);
        assert.equal(engine.storage.getAtomState('r'), 'REVERTED');
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test('a failing revert inside a retried flow ends FAILURE (test_states_retry_failure_linear_flow)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 2, name: 'r1', provides: 'x' }) }).add(
          new Nasty({ name: 'task1' }),
          new Conditional({ name: 'task2' }),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 4 });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.match(raised(kind, err).message, /^Gotcha/);
        assert.deepEqual(engine.storage.fetchAll(), { y: 4, x: 1 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task1.t RUNNING',
          'task1.t SUCCESS(None)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERT_FAILURE(Failure: RuntimeError: Gotcha!)',
          'flow-1.f FAILURE',
        ]);
        assert.equal(engine.storage.getFlowState(), 'FAILURE');
      });

      test('Times(3) runs the subflow three times in all (test_default_times_retry)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r1' }) }).add(
          new Progressing('t1'),
          new Failing('t2'),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.match(raised(kind, err).message, /^Woot/);
        const attempt = (n: number): string[] => [
          'r1.r RUNNING',
          `r1.r SUCCESS(${n})`,
          't1.t RUNNING',
          't1.t SUCCESS(5)',
          't2.t RUNNING',
          't2.t FAILURE(Failure: RuntimeError: Woot!)',
          't2.t REVERTING',
          't2.t REVERTED(None)',
          't1.t REVERTING',
          't1.t REVERTED(None)',
        ];
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          ...attempt(1),
          'r1.r RETRYING',
          't1.t PENDING',
          't2.t PENDING',
          ...attempt(2),
          'r1.r RETRYING',
          't1.t PENDING',
          't2.t PENDING',
          ...attempt(3),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
        // The retry events: one per decision, with the 1-based number of the attempt that failed.
        assert.deepEqual(brief(events), [
          { name: 'r1', decision: 'RETRY', attempt: 1, failedAtom: 't2' },
          { name: 'r1', decision: 'RETRY', attempt: 2, failedAtom: 't2' },
          { name: 'r1', decision: 'REVERT', attempt: 3, failedAtom: 't2' },
        ]);
        for (const e of events) {
          assert.ok(e.failure instanceof Failure);
          assert.equal(e.failure.toString(), 'Failure: RuntimeError: Woot!');
        }
      });

      for (const attempts of [0, 1]) {
        test(`Times(${attempts}) runs the subflow exactly once`, async () => {
          const journal: Journal = [];
          const r = new Times({ attempts, name: 'r' });
          assert.equal(r.attempts, attempts);
          const engine = mk(new LinearFlow('f', { retry: r }).add(new Failing('t', { journal })), kind);
          const cap = new Capture(engine);
          const events = retryEvents(engine);
          const err = await rejection(engine.run());
          assert.equal(raised(kind, err).type, 'RuntimeError');
          assert.deepEqual(journal, ['t execute', 't revert']);
          assert.deepEqual(cap.values, [
            'f.f RUNNING',
            ...failedAttempt('r', 1, 't', 'Woot!'),
            'r.r REVERTING',
            'r.r REVERTED(None)',
            'f.f REVERTED',
          ]);
          assert.deepEqual(brief(events), [{ name: 'r', decision: 'REVERT', attempt: 1, failedAtom: 't' }]);
        });
      }

      test('Times defaults to one attempt', () => {
        assert.equal(new Times().attempts, 1);
        assert.equal(new Times().revertAll, false);
      });

      test('tasks that never ran are not reverted, only reset (test_retry_tasks_that_has_not_been_reverted)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r1', provides: 'x' }) }).add(
          new Conditional({ name: 'c' }),
          new Progressing('t1'),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'c.t RUNNING',
          'c.t FAILURE(Failure: RuntimeError: Woot!)',
          'c.t REVERTING',
          'c.t REVERTED(None)',
          'r1.r RETRYING',
          'c.t PENDING',
          'r1.r RUNNING',
          'r1.r SUCCESS(2)',
          'c.t RUNNING',
          'c.t SUCCESS(None)',
          't1.t RUNNING',
          't1.t SUCCESS(5)',
          'flow-1.f SUCCESS',
        ]);
      });
    });

    describe('nested retries', () => {
      test('the inner retry retries its own subflow (test_states_retry_failure_nested_flow_fails)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new AlwaysRevert({ name: 'r1' }) }).add(
          new T('task1'),
          new LinearFlow('flow-2', { retry: new Times({ attempts: 3, name: 'r2', provides: 'x' }) }).add(
            new T('task2'),
            new Conditional({ name: 'task3' }),
          ),
          new T('task4'),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(engine.storage.fetchAll(), { y: 2, x: 2 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(None)',
          'task1.t RUNNING',
          'task1.t SUCCESS(None)',
          'r2.r RUNNING',
          'r2.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'task3.t RUNNING',
          'task3.t FAILURE(Failure: RuntimeError: Woot!)',
          'task3.t REVERTING',
          'task3.t REVERTED(None)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r2.r RETRYING',
          'task2.t PENDING',
          'task3.t PENDING',
          'r2.r RUNNING',
          'r2.r SUCCESS(2)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'task3.t RUNNING',
          'task3.t SUCCESS(None)',
          'task4.t RUNNING',
          'task4.t SUCCESS(None)',
          'flow-1.f SUCCESS',
        ]);
      });

      test('the parent retry retries everything, the nested retry too (test_states_retry_failure_parent_flow_fails)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r1', provides: 'x1' }) }).add(
          new T('task1'),
          new LinearFlow('flow-2', { retry: new Times({ attempts: 3, name: 'r2', provides: 'x2' }) }).add(new T('task2'), new T('task3')),
          new Conditional({ name: 'task4', rebind: { x: 'x1' } }),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(engine.storage.fetchAll(), { y: 2, x1: 2, x2: 1 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task1.t RUNNING',
          'task1.t SUCCESS(None)',
          'r2.r RUNNING',
          'r2.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'task3.t RUNNING',
          'task3.t SUCCESS(None)',
          'task4.t RUNNING',
          'task4.t FAILURE(Failure: RuntimeError: Woot!)',
          'task4.t REVERTING',
          'task4.t REVERTED(None)',
          'task3.t REVERTING',
          'task3.t REVERTED(None)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r2.r REVERTING',
          'r2.r REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r1.r RETRYING',
          'task1.t PENDING',
          'r2.r PENDING',
          'task2.t PENDING',
          'task3.t PENDING',
          'task4.t PENDING',
          'r1.r RUNNING',
          'r1.r SUCCESS(2)',
          'task1.t RUNNING',
          'task1.t SUCCESS(None)',
          'r2.r RUNNING',
          'r2.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'task3.t RUNNING',
          'task3.t SUCCESS(None)',
          'task4.t RUNNING',
          'task4.t SUCCESS(None)',
          'flow-1.f SUCCESS',
        ]);
      });

      test('an inner REVERT lets the parent retry (test_nested_flow_reverts_parent_retries)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r1', provides: 'x' }) }).add(
          new Progressing('task1'),
          new LinearFlow('flow-2', { retry: new Times({ attempts: 0, name: 'r2', provides: 'x2' }) }).add(new Conditional({ name: 'task2' })),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        await engine.run();
        assert.deepEqual(engine.storage.fetchAll(), { y: 2, x: 2, x2: 1 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'r2.r RUNNING',
          'r2.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r2.r REVERTING',
          'r2.r REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r1.r RETRYING',
          'task1.t PENDING',
          'r2.r PENDING',
          'task2.t PENDING',
          'r1.r RUNNING',
          'r1.r SUCCESS(2)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'r2.r RUNNING',
          'r2.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'flow-1.f SUCCESS',
        ]);
        // The inner retry is asked first; its REVERT is then put to the parent, for which the
        // failed atom is the inner retry (as the parent's history keys it, §4.2).
        assert.deepEqual(brief(events), [
          { name: 'r2', decision: 'REVERT', attempt: 1, failedAtom: 'task2' },
          { name: 'r1', decision: 'RETRY', attempt: 1, failedAtom: 'r2' },
        ]);
        assert.ok(events.every((e) => e.failure.message === 'Woot!'));
      });

      test("with revertScope 'subflow', an inner REVERT without a parent retry reverts only the inner subflow (test_nested_flow_with_retry_revert)", async () => {
        const flow = new LinearFlow('flow-1').add(
          new Progressing('task1'),
          new LinearFlow('flow-2', { retry: new Times({ attempts: 0, name: 'r1', provides: 'x2' }) }).add(
            new Conditional({ name: 'task2', inject: { x: 1 } }),
          ),
        );
        const engine = mk(flow, kind, { revertScope: 'subflow' });
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(engine.storage.fetchAll(), { y: 2 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
        assert.equal(state(engine, 'task1'), 'SUCCESS/EXECUTE');
      });

      test('an exhausted inner Times with revertAll reverts everything (test_nested_flow_with_retry_revert_all)', async () => {
        const flow = new LinearFlow('flow-1').add(
          new Progressing('task1'),
          new LinearFlow('flow-2', { retry: new Times({ attempts: 0, name: 'r1', provides: 'x2', revertAll: true }) }).add(
            new Conditional({ name: 'task2', inject: { x: 1 } }),
          ),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(engine.storage.fetchAll(), { y: 2 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
        assert.deepEqual(brief(events), [{ name: 'r1', decision: 'REVERT_ALL', attempt: 1, failedAtom: 'task2' }]);
      });

      test('REVERT_ALL inside wins over the parent Times (test_revert_all_retry)', async () => {
        const flow = new LinearFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r1', provides: 'x' }) }).add(
          new Progressing('task1'),
          new LinearFlow('flow-2', { retry: new AlwaysRevertAll({ name: 'r2' }) }).add(new Conditional({ name: 'task2' })),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.match(raised(kind, err).message, /^Woot/);
        assert.deepEqual(engine.storage.fetchAll(), { y: 2 });
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          'r2.r RUNNING',
          'r2.r SUCCESS(None)',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r2.r REVERTING',
          'r2.r REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
      });

      test('outer[Times(3) rt]{a, inner[AlwaysRevertAll ara]{c fails}}: everything reverted, outer never retried (§4.2)', async () => {
        const flow = new LinearFlow('outer', { retry: new Times({ attempts: 3, name: 'rt' }) }).add(
          new T('a'),
          new LinearFlow('inner', { retry: new AlwaysRevertAll({ name: 'ara' }) }).add(new T('c', { fail: true })),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'fail-c');
        assert.ok(!cap.values.includes('rt.r RETRYING'));
        for (const n of ['c', 'ara', 'a', 'rt']) assert.equal(state(engine, n), 'REVERTED/REVERT', n);
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test('outer[Times(3) rt]{a, inner[Times(1, revertAll) ri]{c fails}}: the exhausted inner retry reverts all (§4.2)', async () => {
        const flow = new LinearFlow('outer', { retry: new Times({ attempts: 3, name: 'rt' }) }).add(
          new T('a'),
          new LinearFlow('inner', { retry: new Times({ attempts: 1, name: 'ri', revertAll: true }) }).add(new T('c', { fail: true })),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(
          cap.values.filter((v) => v.includes('.r ')),
          ['rt.r RUNNING', 'rt.r SUCCESS(1)', 'ri.r RUNNING', 'ri.r SUCCESS(1)', 'ri.r REVERTING', 'ri.r REVERTED(None)', 'rt.r REVERTING', 'rt.r REVERTED(None)'],
        );
        assert.equal(state(engine, 'a'), 'REVERTED/REVERT');
      });

      test("outer(no retry){a, inner[AlwaysRevert]{b, c fails}, d} with revertScope 'subflow': only the inner subflow is reverted (§4.2)", async () => {
        const flow = new LinearFlow('outer').add(
          new T('a'),
          new LinearFlow('inner', { retry: new AlwaysRevert({ name: 'ar' }) }).add(new T('b'), new T('c', { fail: true })),
          new T('d'),
        );
        const engine = mk(flow, kind, { revertScope: 'subflow' });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'fail-c');
        assert.deepEqual(cap.values, [
          'outer.f RUNNING',
          'a.t RUNNING',
          'a.t SUCCESS(None)',
          'ar.r RUNNING',
          'ar.r SUCCESS(None)',
          'b.t RUNNING',
          'b.t SUCCESS(None)',
          'c.t RUNNING',
          'c.t FAILURE(Failure: RuntimeError: fail-c)',
          'c.t REVERTING',
          'c.t REVERTED(None)',
          'b.t REVERTING',
          'b.t REVERTED(None)',
          'ar.r REVERTING',
          'ar.r REVERTED(None)',
          'outer.f REVERTED',
        ]);
        assert.equal(state(engine, 'a'), 'SUCCESS/EXECUTE');
        assert.equal(engine.storage.getAtomState('d'), 'PENDING');
        for (const n of ['c', 'b', 'ar']) assert.equal(engine.storage.getAtomState(n), 'REVERTED', n);
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test("the same with the default revertScope ('defer-to-parent') reverts a too (§4.2)", async () => {
        const flow = new LinearFlow('outer').add(
          new T('a'),
          new LinearFlow('inner', { retry: new AlwaysRevert({ name: 'ar' }) }).add(new T('b'), new T('c', { fail: true })),
          new T('d'),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(cap.values.slice(-5), ['ar.r REVERTING', 'ar.r REVERTED(None)', 'a.t REVERTING', 'a.t REVERTED(None)', 'outer.f REVERTED']);
        assert.equal(state(engine, 'a'), 'REVERTED/REVERT');
        assert.equal(engine.storage.getAtomState('d'), 'PENDING');
      });

      test('test_new_revert_vs_old: task1 is reverted only with defer-to-parent (the default)', async () => {
        const flow = new LinearFlow('flow-1').add(
          new T('task1'),
          new LinearFlow('flow-2', { retry: new Times({ attempts: 1, name: 'r1', provides: 'x' }) }).add(
            new T('task2'),
            new Conditional({ name: 'task3' }),
          ),
          new T('task4'),
        );
        const common = [
          'flow-1.f RUNNING',
          'task1.t RUNNING',
          'task1.t SUCCESS(None)',
          'r1.r RUNNING',
          'r1.r SUCCESS(1)',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'task3.t RUNNING',
          'task3.t FAILURE(Failure: RuntimeError: Woot!)',
          'task3.t REVERTING',
          'task3.t REVERTED(None)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
        ];
        const e1 = mk(flow, kind, { revertScope: 'subflow' });
        e1.storage.inject({ y: 2 });
        const c1 = new Capture(e1);
        await rejection(e1.run());
        assert.deepEqual(c1.values, [...common, 'flow-1.f REVERTED']);

        const e2 = mk(flow, kind);
        e2.storage.inject({ y: 2 });
        const c2 = new Capture(e2);
        await rejection(e2.run());
        assert.deepEqual(c2.values, [...common, 'task1.t REVERTING', 'task1.t REVERTED(None)', 'flow-1.f REVERTED']);
      });

      test("outer[Times(2) rt]{a, inner[AlwaysRevert ar]{c fails}} with revertScope 'subflow': inner REVERT, outer RETRY, then outer REVERT reverts only inner (§4.2)", async () => {
        const rt = new RecordingTimes({ attempts: 2, name: 'rt' });
        const flow = new LinearFlow('outer', { retry: rt }).add(
          new T('a'),
          new LinearFlow('inner', { retry: new AlwaysRevert({ name: 'ar' }) }).add(new T('c', { fail: true })),
        );
        const engine = mk(flow, kind, { revertScope: 'subflow' });
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'fail-c');
        const attempt = (n: number): string[] => [
          'rt.r RUNNING',
          `rt.r SUCCESS(${n})`,
          'a.t RUNNING',
          'a.t SUCCESS(None)',
          'ar.r RUNNING',
          'ar.r SUCCESS(None)',
          'c.t RUNNING',
          'c.t FAILURE(Failure: RuntimeError: fail-c)',
          'c.t REVERTING',
          'c.t REVERTED(None)',
          'ar.r REVERTING',
          'ar.r REVERTED(None)',
        ];
        assert.deepEqual(cap.values, [
          'outer.f RUNNING',
          ...attempt(1),
          'a.t REVERTING',
          'a.t REVERTED(None)',
          'rt.r RETRYING',
          'a.t PENDING',
          'ar.r PENDING',
          'c.t PENDING',
          ...attempt(2),
          'outer.f REVERTED',
        ]);
        // The parent's history records the child's REVERT under the child retry's name.
        assert.deepEqual(
          rt.seen.filter((s) => s.call === 'onFailure'),
          [
            { call: 'onFailure', values: [1], failures: [{ ar: 'fail-c' }], result: 'RETRY' },
            { call: 'onFailure', values: [1, 2], failures: [{ ar: 'fail-c' }, { ar: 'fail-c' }], result: 'REVERT' },
          ],
        );
        // For the parent, the failed atom is the child retry whose REVERT it decides on.
        assert.deepEqual(brief(events), [
          { name: 'ar', decision: 'REVERT', attempt: 1, failedAtom: 'c' },
          { name: 'rt', decision: 'RETRY', attempt: 1, failedAtom: 'ar' },
          { name: 'ar', decision: 'REVERT', attempt: 1, failedAtom: 'c' },
          { name: 'rt', decision: 'REVERT', attempt: 2, failedAtom: 'ar' },
        ]);
        assert.equal(state(engine, 'rt'), 'SUCCESS/EXECUTE');
        assert.equal(state(engine, 'a'), 'SUCCESS/EXECUTE');
        assert.equal(engine.storage.getAtomState('ar'), 'REVERTED');
        assert.equal(engine.storage.getAtomState('c'), 'REVERTED');
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test("the same with revertScope 'defer-to-parent': the second failure reverts everything (§4.2)", async () => {
        const flow = new LinearFlow('outer', { retry: new Times({ attempts: 2, name: 'rt' }) }).add(
          new T('a'),
          new LinearFlow('inner', { retry: new AlwaysRevert({ name: 'ar' }) }).add(new T('c', { fail: true })),
        );
        const engine = mk(flow, kind, { revertScope: 'defer-to-parent' });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(cap.values.filter((v) => v === 'rt.r RETRYING').length, 1);
        assert.deepEqual(cap.values.slice(-5), ['a.t REVERTING', 'a.t REVERTED(None)', 'rt.r REVERTING', 'rt.r REVERTED(None)', 'outer.f REVERTED']);
        for (const n of ['rt', 'a', 'ar', 'c']) assert.equal(engine.storage.getAtomState(n), 'REVERTED', n);
      });
    });

    describe('ForEach and ParameterizedForEach', () => {
      test('ForEach([3, 2, 3, 5]) tries each value in order, duplicates too (test_for_each_with_list)', async () => {
        const r = new ForEach({ values: [3, 2, 3, 5], name: 'r1', provides: 'x' });
        const engine = mk(new LinearFlow('flow-1', { retry: r }).add(new FailingWithArg({ name: 't1' })), kind);
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'Woot with 5');
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          ...failedAttempt('r1', 3, 't1', 'Woot with 3'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 2, 't1', 'Woot with 2'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 3, 't1', 'Woot with 3'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 5, 't1', 'Woot with 5'),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
        assert.deepEqual(
          events.map((e) => `${e.decision}@${e.attempt}`),
          ['RETRY@1', 'RETRY@2', 'RETRY@3', 'REVERT@4'],
        );
        assert.equal(engine.storage.getRetryHistory('r1').length, 0);
      });

      test('ForEach over a Set (test_for_each_with_set)', async () => {
        const r = new ForEach({ values: new Set([3, 2, 5]), name: 'r1', provides: 'x' });
        const engine = mk(new LinearFlow('flow-1', { retry: r }).add(new FailingWithArg({ name: 't1' })), kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.match(raised(kind, err).message, /^Woot/);
        const expected = [
          'flow-1.f RUNNING',
          ...failedAttempt('r1', 2, 't1', 'Woot with 2'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 3, 't1', 'Woot with 3'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 5, 't1', 'Woot with 5'),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ];
        assert.deepEqual(sorted(cap.values), sorted(expected));
      });

      test("with revertScope 'subflow', a nested ForEach reverts only its subflow (test_nested_for_each_revert)", async () => {
        const flow = new LinearFlow('flow-1').add(
          new Progressing('task1'),
          new LinearFlow('flow-2', { retry: new ForEach({ values: [3, 2, 3, 5], name: 'r1', provides: 'x' }) }).add(
            new FailingWithArg({ name: 'task2' }),
          ),
        );
        const engine = mk(flow, kind, { revertScope: 'subflow' });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'Woot with 5');
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          ...failedAttempt('r1', 3, 'task2', 'Woot with 3'),
          'r1.r RETRYING',
          'task2.t PENDING',
          ...failedAttempt('r1', 2, 'task2', 'Woot with 2'),
          'r1.r RETRYING',
          'task2.t PENDING',
          ...failedAttempt('r1', 3, 'task2', 'Woot with 3'),
          'r1.r RETRYING',
          'task2.t PENDING',
          ...failedAttempt('r1', 5, 'task2', 'Woot with 5'),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
        assert.equal(state(engine, 'task1'), 'SUCCESS/EXECUTE');
      });

      test('a nested ForEach with revertAll reverts everything (test_nested_for_each_revert_all)', async () => {
        const flow = new LinearFlow('flow-1').add(
          new Progressing('task1'),
          new LinearFlow('flow-2', { retry: new ForEach({ values: [3, 2, 3, 5], name: 'r1', provides: 'x', revertAll: true }) }).add(
            new FailingWithArg({ name: 'task2' }),
          ),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'Woot with 5');
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'task1.t RUNNING',
          'task1.t SUCCESS(5)',
          ...failedAttempt('r1', 3, 'task2', 'Woot with 3'),
          'r1.r RETRYING',
          'task2.t PENDING',
          ...failedAttempt('r1', 2, 'task2', 'Woot with 2'),
          'r1.r RETRYING',
          'task2.t PENDING',
          ...failedAttempt('r1', 3, 'task2', 'Woot with 3'),
          'r1.r RETRYING',
          'task2.t PENDING',
          ...failedAttempt('r1', 5, 'task2', 'Woot with 5'),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
      });

      test('an empty ForEach fails with NotFound (test_for_each_empty_collection)', async () => {
        const r = new ForEach({ values: [], name: 'r1', provides: 'x' });
        const engine = mk(new LinearFlow('flow-1', { retry: r }).add(new Conditional({ name: 't1' })), kind);
        engine.storage.inject({ y: 1 });
        const err = await rejection(engine.run());
        assert.ok(err instanceof NotFound, String(err));
        assert.match((err as Error).message, /no elements left/i);
        assert.equal(engine.storage.getAtomState('t1'), 'PENDING');
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test('ParameterizedForEach takes its values from the `values` requirement (test_parameterized_for_each_with_list)', async () => {
        const r = new ParameterizedForEach({ name: 'r1', provides: 'x' });
        const engine = mk(new LinearFlow('flow-1', { retry: r }).add(new FailingWithArg({ name: 't1' })), kind);
        engine.storage.inject({ values: [3, 2, 5], y: 1 });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.equal(raised(kind, err).message, 'Woot with 5');
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          ...failedAttempt('r1', 3, 't1', 'Woot with 3'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 2, 't1', 'Woot with 2'),
          'r1.r RETRYING',
          't1.t PENDING',
          ...failedAttempt('r1', 5, 't1', 'Woot with 5'),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
      });

      test('a nested ParameterizedForEach with revertAll (test_nested_parameterized_for_each_revert_all)', async () => {
        const flow = new LinearFlow('flow-1').add(
          new Progressing('task-1'),
          new LinearFlow('flow-2', { retry: new ParameterizedForEach({ name: 'r1', provides: 'x', revertAll: true }) }).add(
            new FailingWithArg({ name: 'task-2' }),
          ),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ values: [3, 2, 5], y: 1 });
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(cap.values, [
          'flow-1.f RUNNING',
          'task-1.t RUNNING',
          'task-1.t SUCCESS(5)',
          ...failedAttempt('r1', 3, 'task-2', 'Woot with 3'),
          'r1.r RETRYING',
          'task-2.t PENDING',
          ...failedAttempt('r1', 2, 'task-2', 'Woot with 2'),
          'r1.r RETRYING',
          'task-2.t PENDING',
          ...failedAttempt('r1', 5, 'task-2', 'Woot with 5'),
          'r1.r REVERTING',
          'r1.r REVERTED(None)',
          'task-1.t REVERTING',
          'task-1.t REVERTED(None)',
          'flow-1.f REVERTED',
        ]);
      });

      test('an empty ParameterizedForEach fails with NotFound (test_parameterized_for_each_empty_collection)', async () => {
        const r = new ParameterizedForEach({ name: 'r1', provides: 'x' });
        const engine = mk(new LinearFlow('flow-1', { retry: r }).add(new Conditional({ name: 't1' })), kind);
        engine.storage.inject({ values: [], y: 1 });
        const err = await rejection(engine.run());
        assert.ok(err instanceof NotFound, String(err));
        assert.match((err as Error).message, /no elements left/i);
      });

      test('ParameterizedForEach with rebind: the retry_flow example (phone_directory)', async () => {
        const lines: string[] = [];
        class CallJim extends Task<{ jim_number: number }> {
          static override requires = ['jim_number'];
          execute({ jim_number }: { jim_number: number }): void {
            lines.push(`Calling jim ${jim_number}.`);
            if (jim_number !== 555) throw new Error('Wrong number!');
            lines.push('Hello Jim!');
          }
          override revert(): void {
            lines.push('Wrong number, apologizing.');
          }
        }
        const flow = new LinearFlow('retrying-linear', {
          retry: new ParameterizedForEach({ rebind: ['phone_directory'], provides: 'jim_number' }),
        }).add(new CallJim());
        assert.deepEqual(flow.requires, ['phone_directory']);
        const engine = mk(flow, kind, { store: { phone_directory: [333, 444, 555, 666] } });
        const cap = new Capture(engine, { flows: false });
        await engine.run();
        assert.deepEqual(lines, [
          'Calling jim 333.',
          'Wrong number, apologizing.',
          'Calling jim 444.',
          'Wrong number, apologizing.',
          'Calling jim 555.',
          'Hello Jim!',
        ]);
        assert.deepEqual(engine.storage.fetchAll(), { phone_directory: [333, 444, 555, 666], jim_number: 555 });
        assert.deepEqual(engine.storage.getRetryHistory('retrying-linear_retry').values(), [333, 444, 555]);
        assert.deepEqual(
          cap.values.filter((v) => v.includes('.r ')),
          [
            'retrying-linear_retry.r RUNNING',
            'retrying-linear_retry.r SUCCESS(333)',
            'retrying-linear_retry.r RETRYING',
            'retrying-linear_retry.r RUNNING',
            'retrying-linear_retry.r SUCCESS(444)',
            'retrying-linear_retry.r RETRYING',
            'retrying-linear_retry.r RUNNING',
            'retrying-linear_retry.r SUCCESS(555)',
          ],
        );
      });

      test('a missing ParameterizedForEach requirement is refused before anything runs', async () => {
        const journal: Journal = [];
        const flow = new LinearFlow('retrying-linear', {
          retry: new ParameterizedForEach({ rebind: ['phone_directory'], provides: 'jim_number' }),
        }).add(new T('call', { requires: ['jim_number'], journal }));
        const engine = mk(flow, kind);
        const err = await rejection(engine.run());
        assert.ok(err instanceof MissingDependencies, String(err));
        assert.deepEqual(err.missing, { 'retrying-linear_retry': ['phone_directory'] });
        assert.deepEqual(journal, []);
      });
    });

    describe('AlwaysRevert and AlwaysRevertAll', () => {
      test('AlwaysRevert reverts its subflow at the first failure', async () => {
        const journal: Journal = [];
        const flow = new LinearFlow('f', { retry: new AlwaysRevert({ name: 'r' }) }).add(new Failing('t', { journal }));
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          'r.r RUNNING',
          'r.r SUCCESS(None)',
          't.t RUNNING',
          't.t FAILURE(Failure: RuntimeError: Woot!)',
          't.t REVERTING',
          't.t REVERTED(None)',
          'r.r REVERTING',
          'r.r REVERTED(None)',
          'f.f REVERTED',
        ]);
        assert.deepEqual(journal, ['t execute', 't revert']);
        assert.deepEqual(brief(events), [{ name: 'r', decision: 'REVERT', attempt: 1, failedAtom: 't' }]);
      });

      test('AlwaysRevertAll reverts the whole run, atoms before its flow included', async () => {
        const flow = new LinearFlow('f').add(
          new T('a'),
          new LinearFlow('sub', { retry: new AlwaysRevertAll({ name: 'r' }) }).add(new T('b', { fail: true })),
          new T('c'),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          'a.t RUNNING',
          'a.t SUCCESS(None)',
          'r.r RUNNING',
          'r.r SUCCESS(None)',
          'b.t RUNNING',
          'b.t FAILURE(Failure: RuntimeError: fail-b)',
          'b.t REVERTING',
          'b.t REVERTED(None)',
          'r.r REVERTING',
          'r.r REVERTED(None)',
          'a.t REVERTING',
          'a.t REVERTED(None)',
          'f.f REVERTED',
        ]);
        assert.deepEqual(brief(events), [{ name: 'r', decision: 'REVERT_ALL', attempt: 1, failedAtom: 'b' }]);
        assert.equal(state(engine, 'c'), 'PENDING/REVERT');
      });
    });

    describe('retry execute and revert failures', () => {
      test('a retry whose execute throws: reverted, tasks never run (test_retry_fails, §4.4)', async () => {
        const r = new FailingRetry({ name: 'br' });
        const journal: Journal = [];
        const engine = mk(new LinearFlow('f', { retry: r }).add(new T('t1', { journal }), new T('t2', { journal })), kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'ValueError');
        assert.equal(err, r.thrown[0]);
        assert.match(raised(kind, err).message, /^OMG/);
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          'br.r RUNNING',
          'br.r FAILURE(Failure: ValueError: OMG I FAILED)',
          'br.r REVERTING',
          'br.r REVERTED(None)',
          'f.f REVERTED',
        ]);
        assert.deepEqual(journal, []);
        assert.equal(engine.storage.getAtomState('t1'), 'PENDING');
        assert.equal(engine.storage.getAtomState('t2'), 'PENDING');
        const h = r.history;
        assert.ok(h instanceof History, 'revert was called with the history');
        assert.equal(h.length, 0);
        assert.deepEqual(h.outcomes(), []);
        assert.ok(h.failure instanceof Failure);
        assert.equal(h.failure.message, 'OMG I FAILED');
        assert.ok(h.causedBy(ValueError, { includeRetry: true }));
        assert.ok(!h.causedBy(ValueError));
      });

      test('a retry whose revert throws: the run rejects with that error, flow FAILURE (test_retry_revert_fails)', async () => {
        const r = new NastyFailingRetry({ name: 'br' });
        const engine = mk(new LinearFlow('f', { retry: r }), kind);
        const cap = new Capture(engine);
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'ValueError');
        assert.match(raised(kind, err).message, /^WOOT/);
        assert.equal(err, r.thrown[1]);
        assert.equal(engine.storage.getFlowState(), 'FAILURE');
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          'br.r RUNNING',
          'br.r FAILURE(Failure: ValueError: OMG I FAILED)',
          'br.r REVERTING',
          'br.r REVERT_FAILURE(Failure: ValueError: WOOT!)',
          'f.f FAILURE',
        ]);
      });
    });

    describe('retries in unordered and graph flows', () => {
      test('unordered flow: both tasks reverted, then retried (test_unordered_flow_task_fails_parallel_tasks_should_be_reverted)', async () => {
        const flow = new UnorderedFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r', provides: 'x' }) }).add(
          new Progressing('task1'),
          new Conditional({ name: 'task2' }),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(engine.storage.fetchAll(), { y: 2, x: 2 });
        const expected = [
          'flow-1.f RUNNING',
          'r.r RUNNING',
          'r.r SUCCESS(1)',
          'task1.t RUNNING',
          'task2.t RUNNING',
          'task1.t SUCCESS(5)',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task1.t REVERTING',
          'task2.t REVERTED(None)',
          'task1.t REVERTED(None)',
          'r.r RETRYING',
          'task1.t PENDING',
          'task2.t PENDING',
          'r.r RUNNING',
          'r.r SUCCESS(2)',
          'task1.t RUNNING',
          'task2.t RUNNING',
          'task1.t SUCCESS(5)',
          'task2.t SUCCESS(None)',
          'flow-1.f SUCCESS',
        ];
        assert.deepEqual(sorted(cap.values), sorted(expected));
        // Whatever the interleaving: the retry waits for both reverts, and runs before its tasks.
        const at = (s: string, from = 0): number => cap.values.indexOf(s, from);
        const retrying = at('r.r RETRYING');
        assert.ok(at('task1.t REVERTED(None)') < retrying && at('task2.t REVERTED(None)') < retrying);
        assert.ok(at('r.r SUCCESS(2)') < at('task1.t RUNNING', retrying) && at('r.r SUCCESS(2)') < at('task2.t RUNNING', retrying));
      });

      test('a sibling still running when the other fails finishes, is reverted, then both retry (test_when_subflow_fails_revert_running_tasks)', async () => {
        let calls = 0;
        const task1 = task({
          name: 'task1',
          execute: async () => {
            if (calls++ === 0) await sleep(50);
            return 5;
          },
        });
        const flow = new UnorderedFlow('flow-1', { retry: new Times({ attempts: 3, name: 'r', provides: 'x' }) }).add(
          task1,
          new Conditional({ name: 'task2' }),
        );
        const engine = mk(flow, kind);
        engine.storage.inject({ y: 2 });
        const cap = new Capture(engine, { flows: false });
        await engine.run();
        assert.deepEqual(engine.storage.fetchAll(), { y: 2, x: 2 });
        const expected = [
          'r.r RUNNING',
          'r.r SUCCESS(1)',
          'task1.t RUNNING',
          'task2.t RUNNING',
          'task2.t FAILURE(Failure: RuntimeError: Woot!)',
          'task2.t REVERTING',
          'task2.t REVERTED(None)',
          'task1.t SUCCESS(5)',
          'task1.t REVERTING',
          'task1.t REVERTED(None)',
          'r.r RETRYING',
          'task1.t PENDING',
          'task2.t PENDING',
          'r.r RUNNING',
          'r.r SUCCESS(2)',
          'task1.t RUNNING',
          'task2.t RUNNING',
          'task2.t SUCCESS(None)',
          'task1.t SUCCESS(5)',
        ];
        assert.deepEqual(sorted(cap.values), sorted(expected));
        if (kind === 'parallel') {
          // The failed sibling is reverted while the slow one is still running.
          assert.ok(cap.values.indexOf('task2.t REVERTED(None)') < cap.values.indexOf('task1.t SUCCESS(5)'), cap.values.join('\n'));
        }
      });

      test('graph flow: a consumer of the retried subflow runs after it succeeds', async () => {
        let cCalls = 0;
        const flow = new GraphFlow('test').add(
          new Progressing('a', { requires: ['x'] }),
          new LinearFlow('test2', { retry: new Times({ attempts: 2 }) }).add(
            new Progressing('b', { provides: 'x' }),
            task({
              name: 'c',
              execute: () => {
                if (cCalls++ === 0) throw new RuntimeError('Woot!');
              },
            }),
          ),
        );
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(cap.values, [
          'test.f RUNNING',
          'test2_retry.r RUNNING',
          'test2_retry.r SUCCESS(1)',
          'b.t RUNNING',
          'b.t SUCCESS(5)',
          'c.t RUNNING',
          'c.t FAILURE(Failure: RuntimeError: Woot!)',
          'c.t REVERTING',
          'c.t REVERTED(None)',
          'b.t REVERTING',
          'b.t REVERTED(None)',
          'test2_retry.r RETRYING',
          'b.t PENDING',
          'c.t PENDING',
          'test2_retry.r RUNNING',
          'test2_retry.r SUCCESS(2)',
          'b.t RUNNING',
          'b.t SUCCESS(5)',
          'c.t RUNNING',
          'c.t SUCCESS(None)',
          'a.t RUNNING',
          'a.t SUCCESS(5)',
          'test.f SUCCESS',
        ]);
      });

      /**
       * TaskFlow's test_nested_provides_graph_* tests pretend (storage.save) that `a`, a consumer of
       * the subflow's output `x`, already ran; here the same state is written to the backend and a
       * second engine continues the stored run.
       */
      async function pretend(flow: FlowItem, saved: Record<string, Partial<AtomDetail>>): Promise<Engine> {
        const first = mk(flow, kind);
        await first.prepare();
        const fd = first.flowDetail;
        const atoms = fd.atomDetails
          .filter((d) => Object.hasOwn(saved, d.name))
          .map((d) => Object.freeze({ ...d, ...saved[d.name], updatedAt: Date.now() }) as AtomDetail);
        assert.equal(atoms.length, Object.keys(saved).length);
        await first.backend.commit(fd.uuid, { atoms });
        return mk(flow, kind, { backend: first.backend, flowDetail: fd.uuid });
      }

      test('graph flow: a consumer of the subflow output that already ran is reverted too (test_nested_provides_graph_reverts_correctly)', async () => {
        const flow = new GraphFlow('test').add(
          new Progressing('a', { requires: ['x'] }),
          new LinearFlow('test2', { retry: new Times({ attempts: 2 }) }).add(new Progressing('b', { provides: 'x' }), new Failing('c')),
        );
        const engine = await pretend(flow, {
          test2_retry: { state: 'SUCCESS', results: Object.freeze([Object.freeze({ value: 1, failures: Object.freeze({}) })]) },
          b: { state: 'SUCCESS', results: 11 },
          a: { state: 'SUCCESS', results: 10 },
        });
        const cap = new Capture(engine, { flows: false });
        const err = await rejection(engine.run());
        assert.equal(raised(kind, err).type, 'RuntimeError');
        assert.match(raised(kind, err).message, /^Woot/);
        assert.deepEqual(
          sorted(cap.values.slice(0, 8)),
          sorted([
            'c.t RUNNING',
            'c.t FAILURE(Failure: RuntimeError: Woot!)',
            'a.t REVERTING',
            'c.t REVERTING',
            'a.t REVERTED(None)',
            'c.t REVERTED(None)',
            'b.t REVERTING',
            'b.t REVERTED(None)',
          ]),
        );
        const rest = cap.values.slice(8);
        // 'b' runs again, 'c' fails again, 'b' is reverted again (in that order); 'a' cannot run before 'c'.
        const order = ['b.t RUNNING', 'c.t FAILURE(Failure: RuntimeError: Woot!)', 'b.t REVERTED(None)'].map((s) => rest.indexOf(s));
        assert.ok(order.every((i) => i >= 0) && order[0]! < order[1]! && order[1]! < order[2]!, rest.join('\n'));
        assert.ok(!rest.includes('a.t RUNNING'));
        assert.equal(engine.storage.getFlowState(), 'REVERTED');
      });

      test('graph flow: a consumer of the subflow output that already ran is reverted and re-run when the subflow is retried', async () => {
        let cCalls = 0;
        const flow = new GraphFlow('test').add(
          new Progressing('a', { requires: ['x'] }),
          new LinearFlow('test2', { retry: new Times({ attempts: 2 }) }).add(
            new Progressing('b', { provides: 'x' }),
            task({
              name: 'c',
              execute: () => {
                if (cCalls++ === 0) throw new RuntimeError('Woot!');
                return 5;
              },
            }),
          ),
        );
        const engine = await pretend(flow, {
          test2_retry: { state: 'SUCCESS', results: Object.freeze([Object.freeze({ value: 1, failures: Object.freeze({}) })]) },
          b: { state: 'SUCCESS', results: 11 },
          a: { state: 'SUCCESS', results: 10 },
        });
        const cap = new Capture(engine, { flows: false });
        await engine.run();
        assert.deepEqual(
          sorted(cap.values.slice(0, 8)),
          sorted([
            'c.t RUNNING',
            'c.t FAILURE(Failure: RuntimeError: Woot!)',
            'a.t REVERTING',
            'c.t REVERTING',
            'a.t REVERTED(None)',
            'c.t REVERTED(None)',
            'b.t REVERTING',
            'b.t REVERTED(None)',
          ]),
        );
        assert.equal(cap.values[8], 'test2_retry.r RETRYING');
        assert.deepEqual(sorted(cap.values.slice(9, 12)), ['a.t PENDING', 'b.t PENDING', 'c.t PENDING']);
        assert.deepEqual(cap.values.slice(12), [
          'test2_retry.r RUNNING',
          'test2_retry.r SUCCESS(2)',
          'b.t RUNNING',
          'b.t SUCCESS(5)',
          'c.t RUNNING',
          'c.t SUCCESS(5)',
          'a.t RUNNING',
          'a.t SUCCESS(5)',
        ]);
        assert.equal(engine.storage.getFlowState(), 'SUCCESS');
        assert.deepEqual(engine.storage.fetchAll(), { x: 5 });
      });
    });

    describe('running again, scoping, naming', () => {
      test('re-running a REVERTED flow with a retry starts fresh (test_restart_reverted_flow_with_retry)', async () => {
        const r = new OneReturnRetry({ provides: 'x' });
        const flow = new LinearFlow('test', { retry: r }).add(new Failing('fail'));
        const engine = mk(flow, kind);
        const cap = new Capture(engine, { skipStates: ['PENDING'] });
        const e1 = await rejection(engine.run());
        assert.equal(raised(kind, e1).type, 'RuntimeError');
        assert.match(raised(kind, e1).message, /^Woot/);
        const first = [...cap.values];
        cap.clear();
        const e2 = await rejection(engine.run());
        assert.equal(raised(kind, e2).type, 'RuntimeError');
        assert.match(raised(kind, e2).message, /^Woot/);
        assert.deepEqual(cap.values, first);
        assert.deepEqual(r.executeSaw, [0, 0]);
        assert.equal(engine.storage.getRetryHistory('test_retry').length, 0);
      });

      test("a retry's provides are visible to its subflow and after it; flow.requires does not list them", async () => {
        const journal: Journal = [];
        const sub = new LinearFlow('sub', { retry: new Times({ attempts: 2, name: 'r', provides: 'x' }) }).add(
          new T('t1', { requires: ['x'], journal }),
        );
        const flow = new LinearFlow('f').add(sub, new T('t2', { requires: ['x'], journal }));
        assert.deepEqual(sub.provides, ['x']);
        assert.deepEqual(sub.requires, []);
        assert.deepEqual(flow.requires, []);
        const engine = mk(flow, kind);
        await engine.run();
        assert.deepEqual(journal, ['t1 execute {"x":1}', 't2 execute {"x":1}']);
        assert.deepEqual(engine.storage.fetchAll(), { x: 1 });
        assert.equal(engine.storage.fetch('x'), 1);
      });

      test("a retry's requires count in flow.requires", () => {
        const lf = new LinearFlow('l', { retry: new ParameterizedForEach({ rebind: ['phone_directory'], provides: 'n' }) }).add(
          new T('call', { requires: ['n', 'extra'] }),
        );
        assert.deepEqual(sorted(lf.requires), ['extra', 'phone_directory']);
        const gf = new GraphFlow('g', { retry: new Times({ requires: ['budget'] }) });
        assert.deepEqual(gf.requires, ['budget']);
        const uf = new UnorderedFlow('u', { retry: new ForEach({ values: [1], requires: ['q'], provides: 'v' }) }).add(new T('t', { requires: ['v'] }));
        assert.deepEqual(uf.requires, ['q']);
      });

      test('a retry is named `<flow>_retry` unless named', async () => {
        const unnamed = new Times({ attempts: 2, provides: 'x' });
        assert.equal(unnamed.hasName, false);
        const flow = new LinearFlow('flow-1', { retry: unnamed }).add(new T('t'));
        assert.equal(unnamed.name, 'flow-1_retry');
        assert.equal(flow.retry, unnamed);
        const named = new Times({ name: 'mine' });
        new LinearFlow('flow-2', { retry: named });
        assert.equal(named.name, 'mine');
        const engine = mk(flow, kind);
        const cap = new Capture(engine);
        await engine.run();
        assert.deepEqual(cap.values, ['flow-1.f RUNNING', 'flow-1_retry.r RUNNING', 'flow-1_retry.r SUCCESS(1)', 't.t RUNNING', 't.t SUCCESS(None)', 'flow-1.f SUCCESS']);
        assert.equal(engine.storage.getAtomState('flow-1_retry'), 'SUCCESS');
        assert.deepEqual(engine.storage.getRetryHistory('flow-1_retry').values(), [1]);
      });

      test('the history a retry gets is immutable', async () => {
        let got: History | undefined;
        class Peek extends Retry {
          execute(history: History): number {
            got = history;
            return history.length + 1;
          }
          onFailure(): Decision {
            return Decision.REVERT;
          }
        }
        const engine = mk(new LinearFlow('f', { retry: new Peek({ name: 'p' }) }).add(new T('t')), kind);
        await engine.run();
        assert.ok(got instanceof History);
        assert.ok(Object.isFrozen(got));
        assert.throws(() => {
          (got as unknown as { failure: unknown }).failure = 1;
        }, TypeError);
      });
    });

    describe('backoff', () => {
      test('fixed backoff: the retry does not run again until the clock has moved by the delay', async () => {
        const clock = new ManualClock();
        const r = new RecordingTimes({ attempts: 3, name: 'r', provides: 'n', backoff: { kind: 'fixed', delayMs: 1000 }, clock });
        const t = task({
          name: 't',
          requires: ['n'],
          execute: ({ n }: { n: number }) => {
            if (n === 1) throw new RuntimeError('first fails');
            return `ok@${n}`;
          },
        });
        const engine = mk(new LinearFlow('f', { retry: r }).add(t), kind, { clock });
        const cap = new Capture(engine);
        const events = retryEvents(engine);
        const running = engine.run();
        let settled = false;
        running.then(
          () => (settled = true),
          () => (settled = true),
        );
        await until(() => cap.values.includes('t.t PENDING'), 'the retry decision');
        await settle();
        assert.equal(settled, false);
        assert.deepEqual(cap.values, ['f.f RUNNING', ...failedAttempt('r', 1, 't', 'first fails'), 'r.r RETRYING', 't.t PENDING']);
        assert.equal(clock.pending, 1, 'one timer armed for the backoff');
        assert.deepEqual(brief(events), [{ name: 'r', decision: 'RETRY', attempt: 1, failedAtom: 't' }]);
        assert.equal(events[0]!.delayMs, 1000);
        clock.advance(999);
        await settle();
        assert.equal(settled, false);
        assert.ok(!cap.values.includes('r.r SUCCESS(2)'), 'not re-run before the delay is over');
        clock.advance(1);
        await running;
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          ...failedAttempt('r', 1, 't', 'first fails'),
          'r.r RETRYING',
          't.t PENDING',
          'r.r RUNNING',
          'r.r SUCCESS(2)',
          't.t RUNNING',
          't.t SUCCESS(ok@2)',
          'f.f SUCCESS',
        ]);
        assert.deepEqual(
          r.seen.filter((s) => s.call === 'execute').map((s) => s.at),
          [0, 1000],
        );
        assert.equal(engine.storage.getFlowState(), 'SUCCESS');
      });

      test('exponential backoff grows and is capped by maxDelayMs', async () => {
        const clock = new ManualClock();
        const r = new RecordingTimes({ attempts: 4, name: 'r', backoff: { kind: 'exponential', delayMs: 100, maxDelayMs: 250 }, clock });
        const engine = mk(new LinearFlow('f', { retry: r }).add(new Failing('t')), kind, { clock });
        const events = retryEvents(engine);
        const running = engine.run();
        let outcome: unknown;
        let settled = false;
        running.then(
          () => (settled = true),
          (e: unknown) => {
            outcome = e;
            settled = true;
          },
        );
        for (let i = 0; i < 10_000 && !settled; i++) {
          await tick();
          if (clock.pending > 0) clock.advance(10);
        }
        assert.ok(settled, 'the run finished');
        assert.equal(raised(kind, outcome).type, 'RuntimeError');
        assert.deepEqual(brief(events).map((e) => `${e.decision}@${e.attempt}`), ['RETRY@1', 'RETRY@2', 'RETRY@3', 'REVERT@4']);
        assert.deepEqual(
          events.filter((e) => e.decision === 'RETRY').map((e) => e.delayMs),
          [100, 200, 250],
        );
        assert.equal(events[3]!.delayMs, undefined);
        assert.deepEqual(
          r.seen.filter((s) => s.call === 'execute').map((s) => s.at),
          [0, 100, 300, 550],
        );
      });

      test('delayBefore computes fixed, exponential, capped and jittered delays', () => {
        const fixed = new Times({ attempts: 3, backoff: { kind: 'fixed', delayMs: 1000 } });
        assert.deepEqual([1, 2, 3, 4].map((n) => fixed.delayBefore(n, () => 0)), [1000, 1000, 1000, 1000]);
        const exp = new Times({ attempts: 9, backoff: { kind: 'exponential', delayMs: 100, maxDelayMs: 250 } });
        assert.deepEqual([1, 2, 3, 4, 5].map((n) => exp.delayBefore(n, () => 0)), [100, 200, 250, 250, 250]);
        const uncapped = new Times({ backoff: { kind: 'exponential', delayMs: 10 } });
        assert.deepEqual([1, 2, 3, 4, 5].map((n) => uncapped.delayBefore(n, () => 0)), [10, 20, 40, 80, 160]);
        const jittered = new Times({ backoff: { kind: 'fixed', delayMs: 1000, jitter: 0.5 } });
        assert.equal(jittered.delayBefore(1, () => 0), 1000);
        assert.equal(jittered.delayBefore(1, () => 1), 500);
        const d = jittered.delayBefore(1, Math.random);
        assert.ok(d >= 500 && d <= 1000, String(d));
        assert.equal(new Times().delayBefore(3), 0);
        assert.equal(new ForEach({ values: [1], backoff: { kind: 'fixed', delayMs: 5 } }).delayBefore(1), 5);
        assert.equal(new ParameterizedForEach({ backoff: { kind: 'exponential', delayMs: 5 } }).delayBefore(2, () => 0), 10);
      });

      test('bad backoff options throw InvariantViolation at construction', () => {
        const bad: unknown[] = [
          null,
          'fast',
          1000,
          { kind: 'linear', delayMs: 1 },
          { delayMs: 1 },
          { kind: 'fixed' },
          { kind: 'fixed', delayMs: -1 },
          { kind: 'fixed', delayMs: Number.NaN },
          { kind: 'fixed', delayMs: Number.POSITIVE_INFINITY },
          { kind: 'fixed', delayMs: '10' },
          { kind: 'exponential', delayMs: 100, maxDelayMs: 50 },
          { kind: 'exponential', delayMs: 100, maxDelayMs: -1 },
          { kind: 'fixed', delayMs: 1, jitter: 1.5 },
          { kind: 'fixed', delayMs: 1, jitter: -0.1 },
          { kind: 'fixed', delayMs: 1, extra: true },
        ];
        for (const backoff of bad) {
          const b = backoff as BackoffOptions;
          assert.throws(() => new Times({ attempts: 2, backoff: b }), InvariantViolation, JSON.stringify(backoff));
          assert.throws(() => new ForEach({ values: [1], backoff: b }), InvariantViolation, JSON.stringify(backoff));
          assert.throws(() => new ParameterizedForEach({ backoff: b }), InvariantViolation, JSON.stringify(backoff));
        }
      });

      test('suspend() during a backoff wait ends the run SUSPENDED; a second run() waits out the rest of the delay', async () => {
        const clock = new ManualClock();
        const r = new RecordingTimes({ attempts: 3, name: 'r', provides: 'n', backoff: { kind: 'fixed', delayMs: 1000 }, clock });
        const t = task({
          name: 't',
          requires: ['n'],
          execute: ({ n }: { n: number }) => {
            if (n === 1) throw new RuntimeError('first fails');
          },
        });
        const engine = mk(new LinearFlow('f', { retry: r }).add(t), kind, { clock });
        const cap = new Capture(engine);
        const first = engine.run();
        let firstDone = false;
        first.then(
          () => (firstDone = true),
          () => (firstDone = true),
        );
        await until(() => cap.values.includes('t.t PENDING'), 'the retry decision');
        clock.advance(400);
        await settle();
        assert.equal(firstDone, false);
        engine.suspend();
        await first;
        assert.equal(engine.storage.getFlowState(), 'SUSPENDED');
        assert.deepEqual(cap.values, [
          'f.f RUNNING',
          ...failedAttempt('r', 1, 't', 'first fails'),
          'r.r RETRYING',
          't.t PENDING',
          'f.f SUSPENDING',
          'f.f SUSPENDED',
        ]);
        assert.equal(engine.storage.getAtomState('r'), 'RETRYING');
        cap.clear();

        const second = engine.run();
        let secondDone = false;
        second.then(
          () => (secondDone = true),
          () => (secondDone = true),
        );
        await settle();
        assert.equal(secondDone, false);
        assert.ok(!cap.values.includes('r.r RUNNING'), 'the retry waits for the rest of its delay');
        clock.advance(599);
        await settle();
        assert.equal(secondDone, false);
        assert.ok(!cap.values.includes('r.r RUNNING'), 'still 1 ms to go');
        clock.advance(1);
        await second;
        assert.deepEqual(cap.values, ['f.f RUNNING', 'r.r RUNNING', 'r.r SUCCESS(2)', 't.t RUNNING', 't.t SUCCESS(None)', 'f.f SUCCESS']);
        assert.deepEqual(
          r.seen.filter((s) => s.call === 'execute').map((s) => s.at),
          [0, 1000],
        );
      });
    });
  });
}

describe('retry options', () => {
  test('bad Times / ForEach / ParameterizedForEach options throw InvariantViolation', () => {
    assert.throws(() => new Times({ attempts: -1 }), InvariantViolation);
    assert.throws(() => new Times({ attempts: 1.5 }), InvariantViolation);
    assert.throws(() => new Times({ attempts: '3' as unknown as number }), InvariantViolation);
    assert.throws(() => new Times({ revertAll: 'yes' as unknown as boolean }), InvariantViolation);
    assert.throws(() => new Times({ attemps: 3 } as unknown as TimesOptions), InvariantViolation);
    assert.throws(() => new ForEach({} as unknown as { values: number[] }), InvariantViolation);
    assert.throws(() => new ForEach({ values: 5 as unknown as number[] }), InvariantViolation);
    assert.throws(() => new ForEach({ values: null as unknown as number[] }), InvariantViolation);
    assert.throws(() => new ForEach({ values: [1, 2], revertAll: 1 as unknown as boolean }), InvariantViolation);
    assert.throws(() => new ParameterizedForEach({ revertAll: 'no' as unknown as boolean }), InvariantViolation);
    assert.throws(() => new AlwaysRevert({ name: '' }), InvariantViolation);
  });

  test('good options are kept', () => {
    const t = new Times({ attempts: 3, revertAll: true, name: 'r', provides: 'attempt' });
    assert.equal(t.attempts, 3);
    assert.equal(t.revertAll, true);
    assert.equal(t.name, 'r');
    assert.deepEqual(t.provided, ['attempt']);
    assert.equal(t.kind, 'retry');
    const fe = new ForEach({ values: new Set(['a', 'b']), provides: 'host' });
    assert.deepEqual(fe.values, ['a', 'b']);
    assert.equal(fe.revertAll, false);
    assert.deepEqual(new ParameterizedForEach({ rebind: ['phone_directory'] }).requires, ['phone_directory']);
    assert.deepEqual(new ParameterizedForEach().requires, ['values']);
  });

  test('a retry cannot be added to a flow as a node', () => {
    assert.throws(() => new LinearFlow('test').add(new OneReturnRetry({ provides: 'x' }) as unknown as Task), InvariantViolation);
    assert.throws(() => new UnorderedFlow('test').add(new Times() as unknown as Task), InvariantViolation);
  });

  test('Decision has the three string values', () => {
    assert.deepEqual({ ...Decision }, { RETRY: 'RETRY', REVERT: 'REVERT', REVERT_ALL: 'REVERT_ALL' });
  });
});
