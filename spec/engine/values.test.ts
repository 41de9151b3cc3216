/**
 * Issue #11 item 7: values JSON cannot hold faithfully are refused with an UnstorableValue naming
 * the atom and the path (a result fails its atom, which is reverted like any failure; progress
 * details make `progress()` throw inside the atom and the run goes on; a store value is refused by
 * `load()`), on every engine and backend; what is handed on is a frozen copy of what was stored, so
 * mutating it cannot make the live run differ from the stored one.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinearFlow, MemoryBackend, SqliteBackend, UnstorableValue, load, task, type Backend, type EngineKind } from '../../index.js';
import { storable } from '../../persistence/codec.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-values-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;

class Point {
  constructor(readonly x: number) {}
}
const cyclic: Record<string, unknown> = { a: 1 };
cyclic['me'] = cyclic;

/** [label, a value, the path expected in the error]. */
const refused: Array<[string, unknown, string]> = [
  ['a Map', { items: [0, 1, { when: new Map([[1, 2]]) }] }, 'result.items[2].when'],
  ['a Set', new Set([1]), 'result'],
  ['a Date', { items: [1, 2, { when: new Date(0) }] }, 'result.items[2].when'],
  ['NaN', { n: Number.NaN }, 'result.n'],
  ['Infinity', [Number.POSITIVE_INFINITY], 'result[0]'],
  ['-Infinity', { deep: { x: Number.NEGATIVE_INFINITY } }, 'result.deep.x'],
  ['-0', { z: -0 }, 'result.z'],
  ['a BigInt', { 'a b': 10n }, 'result["a b"]'],
  ['a typed array', { buf: new Uint8Array(2) }, 'result.buf'],
  ['a Buffer', Buffer.from('x'), 'result'],
  ['a class instance', { p: new Point(1) }, 'result.p'],
  ['a function', { f: () => 1 }, 'result.f'],
  ['a symbol', { s: Symbol('s') }, 'result.s'],
  ['undefined inside an array', [1, undefined], 'result[1]'],
  ['a hole in an array', [1, , 3], 'result[1]'], // eslint-disable-line no-sparse-arrays
  ['a cycle', cyclic, 'result.me'],
  ['a getter that throws', { get bad() { throw new Error('no'); } }, 'result.bad'],
  ['a Promise (a forgotten await)', { p: Promise.resolve(1) }, 'result.p'],
  ['an Error', { e: new Error('x') }, 'result.e'],
];

describe('storable(): the shared check (persistence/codec.ts)', () => {
  for (const [label, value, where] of refused) {
    test(`refuses ${label} at ${where}`, () => {
      assert.throws(() => storable(value, 'result', { atom: 'a' }), (err: unknown) => {
        assert.ok(err instanceof UnstorableValue, String(err));
        assert.equal(err.code, 'INVARIANT_VIOLATION');
        assert.equal(err.atom, 'a');
        assert.equal(err.path, where);
        assert.ok(err.message.startsWith(`atom 'a': ${where} cannot be stored as JSON: `), err.message);
        return true;
      });
    });
  }

  test('keeps plain data as an equal frozen copy; drops undefined-valued keys as JSON does', () => {
    const v = { a: [1, 'two', { three: true, n: null }], u: undefined, ['__proto__']: { x: 1 } };
    const c = storable(v, 'result') as Record<string, unknown>;
    assert.notEqual(c, v);
    assert.deepEqual(c, JSON.parse(JSON.stringify(v)));
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c['a']) && Object.isFrozen((c['a'] as unknown[])[2]));
    assert.equal(Object.hasOwn(c, 'u'), false);
    assert.equal(Object.getPrototypeOf(c), Object.prototype);
    for (const p of ['s', 0, 1.5, true, null, undefined]) assert.equal(storable(p, 'result'), p);
    const shared = { k: 1 };
    assert.deepEqual(storable({ a: shared, b: shared }, 'result'), { a: { k: 1 }, b: { k: 1 } }); // a DAG is fine
    assert.deepEqual(storable(Object.assign(Object.create(null) as object, { a: 1 }), 'result'), { a: 1 });
  });

  test('deep nesting is refused with a path, not a stack overflow', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    assert.throws(() => storable(deep, 'result'), UnstorableValue);
  });
});

const configs: Array<[string, EngineKind, () => Backend]> = [
  ['serial, memory', 'serial', () => new MemoryBackend()],
  ['parallel, memory', 'parallel', () => new MemoryBackend()],
  ['serial, sqlite', 'serial', () => new SqliteBackend(path.join(dir, `v-${++files}.db`))],
  ['parallel, sqlite', 'parallel', () => new SqliteBackend(path.join(dir, `v-${++files}.db`))],
];

for (const [config, engine, makeBackend] of configs) {
  describe(`unstorable values on ${config}`, () => {
    test('a result that JSON cannot hold fails its atom (UnstorableValue naming atom and path); the run reverts', async () => {
      const backend = makeBackend();
      try {
        const journal: string[] = [];
        const flow = new LinearFlow('f').add(
          task({ name: 'a', execute: () => 1, revert: () => void journal.push('revert a') }),
          task({ name: 'b', execute: () => ({ items: [1, 2, { when: new Date(0) }] }), revert: () => void journal.push('revert b') }),
          task({ name: 'c', execute: () => void journal.push('c ran') }),
        );
        const e = load(flow, { engine, backend });
        await assert.rejects(e.run(), (err: unknown) => err instanceof UnstorableValue && err.atom === 'b' && err.path === 'result.items[2].when');
        assert.equal(e.storage.getFlowState(), 'REVERTED');
        assert.equal(e.storage.getAtomState('b'), 'REVERTED');
        assert.deepEqual(journal, ['revert b', 'revert a']);
        const stored = await backend.getFlowDetail(e.flowDetail.uuid);
        assert.match(stored.atomDetails.find((d) => d.name === 'b')!.failure!.message, /result\.items\[2\]\.when cannot be stored as JSON: a Date/);
      } finally {
        await backend.close();
      }
    });

    test('progress details that JSON cannot hold make progress() throw inside the atom; the run goes on', async () => {
      const backend = makeBackend();
      try {
        const caught: unknown[] = [];
        const seen: unknown[] = [];
        const flow = new LinearFlow('f').add(
          task({
            name: 'p',
            execute: (_a, ctx) => {
              for (const details of [{ at: new Date(0) }, { n: 1n }, 'text' as never]) {
                try {
                  ctx.progress(0.5, details);
                } catch (err) {
                  caught.push(err);
                }
              }
              ctx.progress(0.7, { fine: [1, 2] });
              return 'ok';
            },
          }),
        );
        const e = load(flow, { engine, backend });
        e.on('progress', (ev) => void seen.push(ev.details));
        await e.run();
        assert.equal(e.storage.getFlowState(), 'SUCCESS');
        assert.equal(caught.length, 3);
        assert.ok(caught[0] instanceof UnstorableValue && caught[0].path === 'progress.details.at' && caught[0].atom === 'p');
        assert.ok(caught[1] instanceof UnstorableValue && caught[1].path === 'progress.details.n');
        assert.equal((caught[2] as { code?: string }).code, 'INVARIANT_VIOLATION');
        assert.ok(seen.some((d) => JSON.stringify(d) === '{"fine":[1,2]}'));
      } finally {
        await backend.close();
      }
    });

    test('a store value that JSON cannot hold is refused by load() (option and path named); inject() refuses it too', async () => {
      const backend = makeBackend();
      try {
        const flow = new LinearFlow('f').add(task({ name: 'a', requires: ['order'], execute: ({ order }) => order }));
        assert.throws(() => load(flow, { engine, backend, store: { order: { at: new Date(0) } } }), (err: unknown) => {
          return err instanceof UnstorableValue && err.option === 'store' && err.path === 'store.order.at';
        });
        const e = load(flow, { engine, backend, store: { order: { id: 1 } } });
        await e.prepare();
        assert.throws(() => e.storage.inject({ other: new Map() }), (err: unknown) => err instanceof UnstorableValue && err.path === 'store.other');
        assert.doesNotThrow(() => e.storage.inject({ live: new Map() }, { transient: true })); // transient values are never stored
        await e.run();
        assert.deepEqual(e.storage.get('a'), { id: 1 });
      } finally {
        await backend.close();
      }
    });

    test('mutating a result (by its atom later, a listener or a downstream atom) cannot make the live run differ from the store', async () => {
      const backend = makeBackend();
      try {
        const kept: Array<Record<string, unknown>> = [];
        const mutationErrors: unknown[] = [];
        const flow = new LinearFlow('f').add(
          task({ name: 'a', provides: 'data', execute: () => {
            const own = { list: [1, 2] };
            kept.push(own);
            return own;
          } }),
          task({ name: 'b', requires: ['data'], execute: ({ data }) => {
            try {
              (data as { list: number[] }).list.push(99);
            } catch (err) {
              mutationErrors.push(err);
            }
            return (data as { list: number[] }).list.length;
          } }),
        );
        const e = load(flow, { engine, backend });
        e.on('atom', (ev) => {
          if (ev.name === 'a' && ev.state === 'SUCCESS') {
            try {
              (ev.result as { list: number[] }).list.push(42);
            } catch (err) {
              mutationErrors.push(err);
            }
          }
        });
        await e.run();
        kept[0]!['list'] = 'changed by its atom afterwards';
        assert.equal(mutationErrors.length, 2);
        for (const err of mutationErrors) assert.ok(err instanceof TypeError); // frozen
        assert.deepEqual(e.storage.fetch('data'), { list: [1, 2] });
        assert.equal(e.storage.get('b'), 2);
        const stored = await backend.getFlowDetail(e.flowDetail.uuid);
        assert.deepEqual(stored.atomDetails.find((d) => d.name === 'a')!.results, { list: [1, 2] });
      } finally {
        await backend.close();
      }
    });
  });
}

describe('a reloaded run sees the values the live run saw (sqlite)', () => {
  test('results with undefined-valued keys, nested data: live, stored and reloaded agree', async () => {
    const file = path.join(dir, `v-${++files}.db`);
    const backend = new SqliteBackend(file);
    try {
      const flow = (): LinearFlow =>
        new LinearFlow('f').add(
          task({ name: 'a', provides: 'data', execute: () => ({ keep: [1, { deep: 'x' }], gone: undefined, n: null }) }),
          task({ name: 'b', requires: ['data'], execute: ({ data }) => Object.keys(data as object).join(',') }),
        );
      const live = load(flow(), { backend });
      await live.run();
      assert.equal(live.storage.get('b'), 'keep,n'); // the live run already saw what JSON keeps
      const reloaded = load(flow(), { backend, flowDetail: live.flowDetail.uuid });
      await reloaded.prepare();
      assert.deepEqual(reloaded.storage.get('a'), live.storage.get('a'));
      assert.deepEqual(reloaded.storage.fetchAll(), live.storage.fetchAll());
    } finally {
      await backend.close();
    }
  });
});
