/** `atom.invoke()`: an atom's execute or revert called directly, arguments mapped and checked as in a run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AtomTimeout, Failure, InvariantViolation, MissingDependencies, Task, Times, task, type AtomContext, type RevertContext } from '../../index.js';

class Greet extends Task<{ who: string; greeting?: string }, string> {
  static override requires = ['who'];
  static override optional = ['greeting'];
  execute({ who, greeting }: { who: string; greeting?: string }, ctx: AtomContext): string {
    ctx.progress(2);
    return `${greeting ?? 'hello'} ${who} (from ${ctx.name})`;
  }
  override revert({ who }: { who: string }, ctx: RevertContext<string>): unknown {
    return { undo: who, had: ctx.result, failures: Object.keys(ctx.flowFailures) };
  }
}

test('invoke runs execute with the arguments mapped as in a run (rebind, optional, inject)', async () => {
  assert.equal(await new Greet({ name: 'g' }).invoke({ who: 'Ada' }), 'hello Ada (from g)');
  assert.equal(await new Greet({ name: 'g', rebind: { who: 'person' } }).invoke({ person: 'Bob', greeting: 'hi' }), 'hi Bob (from g)');
  assert.equal(await new Greet({ name: 'g', inject: { who: 'Cy' } }).invoke(), 'hello Cy (from g)');
  const progress: number[] = [];
  await new Greet({ name: 'g' }).invoke({ who: 'Ada' }, { onProgress: (p) => progress.push(p) });
  assert.deepEqual(progress, [1], 'clamped as in a run');
  assert.equal(await task({ name: 'sync', requires: ['a', 'b'], execute: ({ a, b }) => a + b }).invoke({ a: 1, b: 2, extra: 3 }), 3);
});

test('invoke with { revert: true, result } runs revert', async () => {
  const failure = Failure.from(new Error('x'));
  const got = await new Greet({ name: 'g' }).invoke({ who: 'Ada' }, { revert: true, result: 'hello Ada', flowFailures: { other: failure } });
  assert.deepEqual(got, { undo: 'Ada', had: 'hello Ada', failures: ['other'] });
});

test('missing required values are refused as in a run, naming them', async () => {
  await assert.rejects(
    new Greet({ name: 'g' }).invoke({ greeting: 'hi' }),
    (err: unknown) => err instanceof MissingDependencies && JSON.stringify(err.missing) === JSON.stringify({ g: ['who'] }) && /invoke\(\) of task 'g'/.test(err.message),
  );
  await assert.rejects(new Greet({ name: 'g', rebind: { who: 'person' } }).invoke({ who: 'Ada' }), (err: unknown) => err instanceof MissingDependencies && err.missing['g']![0] === 'person');
});

test('bad input is refused: values not an object, unknown options', async () => {
  await assert.rejects(new Greet().invoke([] as never), InvariantViolation);
  await assert.rejects(new Greet().invoke({ who: 'a' }, { reverse: true } as never), /unknown invoke\(\) option 'reverse'/);
  await assert.rejects(new Greet().invoke({ who: 'a' }, { timeoutMs: -1 }), InvariantViolation);
});

test("invoke applies the atom's timeout: the signal aborts and it fails with AtomTimeout", async () => {
  let signal: AbortSignal | undefined;
  const slow = task({
    name: 'slow',
    timeoutMs: 20,
    execute: (_args, ctx) => {
      signal = ctx.signal;
      return new Promise(() => {});
    },
  });
  await assert.rejects(slow.invoke(), (err: unknown) => err instanceof AtomTimeout && err.atom === 'slow' && err.timeoutMs === 20);
  assert.equal(signal?.aborted, true);
  const controller = new AbortController();
  const pending = task({ name: 'abortable', execute: (_a, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) }).invoke(
    {},
    { signal: controller.signal },
  );
  controller.abort(new Error('stop'));
  await assert.rejects(pending, /stop/);
});

test('a retry controller can be invoked too (with an empty history)', async () => {
  const r = new Times({ name: 'r', attempts: 2, provides: 'n' });
  assert.equal(await r.invoke(), 1, 'the first attempt');
});
