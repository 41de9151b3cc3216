/**
 * Retries report no progress events (TaskFlow sends progress for tasks only); tasks' progress
 * events stay as they are, around retries too. On every engine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { History, LinearFlow, Retry, Times, load, task, type AtomContext, type Decision } from '../../index.js';
import { engineConfigs, withEngine } from '../support/index.js';

/** A retry that reports progress itself (the reports must not become events). */
class ChattyRetry extends Retry {
  override execute(history: History, _args: Record<string, unknown>, ctx: AtomContext): number {
    ctx.progress(0.5, { retry: 'half' });
    return history.length + 1;
  }
  onFailure(history: History): Decision {
    return history.length < 2 ? 'RETRY' : 'REVERT';
  }
}

for (const engine of engineConfigs) {
  describe(`${engine} engine: progress of retries`, () => {
    test('a retry that runs, reverts and runs again reports no progress; its task reports each time', async () => {
      let calls = 0;
      const flaky = task({
        name: 'flaky',
        execute: () => {
          if (++calls === 1) throw new Error('first time');
          return calls;
        },
      });
      const e = load(new LinearFlow('f', { retry: new Times({ name: 'r', attempts: 3 }) }).add(flaky), withEngine(engine));
      const seen: string[] = [];
      e.on('progress', (ev) => seen.push(`${ev.name} ${ev.progress}`));
      await e.run();
      assert.equal(e.storage.getAtomState('r'), 'SUCCESS');
      // flaky: execute (fails: only its 0), revert (0, 1), execute again (0, 1).
      assert.deepEqual(seen, ['flaky 0', 'flaky 0', 'flaky 1', 'flaky 0', 'flaky 1']);
    });

    test("a retry's own ctx.progress() makes no event either", async () => {
      const e = load(new LinearFlow('f', { retry: new ChattyRetry({ name: 'r' }) }).add(task({ name: 't', execute: () => 1 })), withEngine(engine));
      const seen: string[] = [];
      e.on('progress', (ev) => seen.push(`${ev.name} ${ev.progress}`));
      await e.run();
      assert.deepEqual(seen, ['t 0', 't 1']);
    });
  });
}
