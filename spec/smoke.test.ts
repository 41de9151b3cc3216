import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinearFlow, UnorderedFlow, task, load, run } from '../index.js';

test('smoke: linear flow runs and reverts', async () => {
  const log: string[] = [];
  const mk = (name: string, fail = false) =>
    task({
      name,
      provides: name,
      execute: () => {
        log.push(`x:${name}`);
        if (fail) throw new Error(`boom-${name}`);
        return name.toUpperCase();
      },
      revert: () => void log.push(`r:${name}`),
    });
  const f = new LinearFlow('f').add(mk('a'), new UnorderedFlow('u').add(mk('b'), mk('c')), mk('d'));
  const res = await run(f);
  assert.deepEqual(res, { a: 'A', b: 'B', c: 'C', d: 'D' });
  log.length = 0;
  const g = new LinearFlow('g').add(mk('a'), mk('b'), mk('c', true), mk('d'));
  const e = load(g);
  const events: string[] = [];
  e.on('atom', (ev) => events.push(`${ev.name} ${ev.state}`));
  await assert.rejects(e.run(), /boom-c/);
  assert.deepEqual(log, ['x:a', 'x:b', 'x:c', 'r:c', 'r:b', 'r:a']);
  assert.equal(e.storage.getFlowState(), 'REVERTED');
  console.log(events.join(', '));
});
