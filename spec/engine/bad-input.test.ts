/**
 * Issue #11 item 9: every public function refuses bad input with an AtomflowError naming the option
 * (never a raw TypeError/URIError from a message builder choking on a BigInt or a cycle), duplicate
 * names are refused at add() when the clash is visible there, backoffs never overflow setTimeout.
 * Ends with fast-check sweeps over the public constructors and options: only AtomflowErrors come out.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  AtomflowError,
  DuplicateNameError,
  ForEach,
  GraphFlow,
  InvariantViolation,
  LinearFlow,
  MemoryBackend,
  ParameterizedForEach,
  SqliteBackend,
  Times,
  UnorderedFlow,
  load,
  openBackend,
  systemClock,
  task,
  type Backend,
} from '../../index.js';
import { T } from '../support/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-badinput-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const circular: Record<string, unknown> = { a: 1 };
circular['self'] = circular;
const nasty: unknown[] = [10n, circular, Symbol('s'), Object.create(null), null, () => 1, [1n], { toString: null }];

/** Throws an AtomflowError (or returns / resolves normally). */
async function onlyAtomflowErrors(fn: () => unknown): Promise<void> {
  try {
    const r = fn();
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') await r;
  } catch (err) {
    if (!(err instanceof AtomflowError)) throw new Error(`not an AtomflowError: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
  }
}

describe('bad input to public functions: AtomflowErrors naming the option', () => {
  test('openBackend: malformed percent-encoding and NUL bytes', async () => {
    for (const uri of ['sqlite:///tmp/%ZZ.db', `sqlite://${dir}/x.db?durability=%ZZ`, `sqlite://${dir}/x.db?%E0%A4%A=1`, 'memory://?a=%', `sqlite://${dir}/x%00y.db`]) {
      await assert.rejects(openBackend(uri), (err: unknown) => err instanceof InvariantViolation && err.option !== undefined, uri);
    }
    for (const uri of nasty) await assert.rejects(openBackend(uri as string), (err: unknown) => err instanceof InvariantViolation && err.option === 'uri');
    for (const options of nasty) await onlyAtomflowErrors(() => openBackend('memory://', options as never));
  });

  test('retry constructors: null, non-object and BigInt/circular options', () => {
    for (const Ctor of [Times, ForEach, ParameterizedForEach] as Array<new (o?: unknown) => unknown>) {
      assert.throws(() => new Ctor(null), (err: unknown) => err instanceof InvariantViolation && err.option === 'options');
      assert.throws(() => new Ctor(5), InvariantViolation);
      for (const v of nasty) assert.throws(() => new Ctor({ attempts: v, values: v, backoff: v, name: v }), AtomflowError);
    }
  });

  test('engine.on(): a listener that is not a function, an unknown event', () => {
    const e = load(new LinearFlow('f').add(new T('a')));
    assert.throws(() => e.on('atom', 5 as never), (err: unknown) => err instanceof InvariantViolation && err.option === 'listener');
    for (const ev of nasty) assert.throws(() => e.on(ev as never, () => {}), (err: unknown) => err instanceof InvariantViolation && err.option === 'event');
  });

  for (const [label, make] of [
    ['MemoryBackend', async () => new MemoryBackend()],
    ['SqliteBackend', async () => new SqliteBackend(':memory:')],
  ] as Array<[string, () => Promise<Backend>]>) {
    test(`${label}: malformed records are refused with InvariantViolations`, async () => {
      const b = await make();
      try {
        await assert.rejects(b.saveLogBook({} as never), InvariantViolation);
        await assert.rejects(b.saveLogBook(null as never), InvariantViolation);
        await assert.rejects(b.saveLogBook({ uuid: 'b', name: 'n', meta: {}, createdAt: 1, flowDetails: [{}] } as never), InvariantViolation);
        await assert.rejects(b.saveFlowDetail('b', {} as never), InvariantViolation);
        await assert.rejects(b.saveAtomDetails('f', [{}] as never), InvariantViolation);
        await assert.rejects(b.saveAtomDetails('f', 5 as never), InvariantViolation);
        await assert.rejects(b.commit('f', null as never), InvariantViolation);
        await assert.rejects(b.commit('f', { atoms: [{ uuid: 'x', name: 'x', kind: 'task', state: 'NOPE', intention: 'EXECUTE', meta: {} }] } as never), InvariantViolation);
        for (const v of nasty) {
          await onlyAtomflowErrors(() => b.saveLogBook(v as never));
          await onlyAtomflowErrors(() => b.getLogBook(v as never));
          await onlyAtomflowErrors(() => b.getFlowDetail(v as never));
          await onlyAtomflowErrors(() => b.commit(v as never, v as never));
        }
      } finally {
        await b.close();
      }
    });
  }

  test('message builders survive BigInt and circular values', () => {
    for (const v of nasty.filter((x) => x !== null)) {
      assert.throws(() => task(v as never), AtomflowError);
      assert.throws(() => task({ name: v, execute: () => 1 } as never), AtomflowError);
      assert.throws(() => task({ name: 'a', execute: () => 1, provides: v } as never), AtomflowError);
      assert.throws(() => new LinearFlow(v as never), AtomflowError);
      assert.throws(() => load(new LinearFlow('f'), { engine: v } as never), AtomflowError);
      assert.throws(() => load(new LinearFlow('f'), { maxWorkers: v } as never), AtomflowError);
      assert.throws(() => new LinearFlow('f').add(v as never), AtomflowError);
    }
  });

  test('duplicate names are refused at add(), including one brought in by a subflow or a retry', () => {
    assert.throws(() => new LinearFlow('f').add(new T('a'), new T('a')), (err: unknown) => err instanceof DuplicateNameError && err.names.join() === 'a');
    const f = new LinearFlow('f').add(new T('a'), new T('b'));
    assert.throws(() => f.add(new UnorderedFlow('sub').add(new T('c'), new T('b'))), (err: unknown) => err instanceof DuplicateNameError && err.names.join() === 'b');
    assert.throws(() => f.add(new LinearFlow('r', { retry: new Times({ name: 'a' }) }).add(new T('x'))), (err: unknown) => err instanceof DuplicateNameError && err.names.join() === 'a');
    assert.throws(() => new GraphFlow('g').add(new T('x'), new LinearFlow('s').add(new T('x'))), DuplicateNameError);
    // A refused add changes nothing: the flow still runs.
    f.add(new T('c'));
    assert.equal(f.length, 3);
    // The same object added again is ignored, as before.
    const a = new T('z');
    assert.equal(new LinearFlow('h').add(a, a).add(a).length, 1);
  });

  test('backoff: delays beyond what setTimeout can wait are refused; computed ones are capped', () => {
    assert.throws(() => new Times({ attempts: 3, backoff: { kind: 'fixed', delayMs: 2 ** 31 } }), (err: unknown) => err instanceof InvariantViolation && err.option === 'backoff');
    assert.throws(() => new Times({ attempts: 3, backoff: { kind: 'fixed', delayMs: 1, maxDelayMs: 2 ** 40 } }), InvariantViolation);
    const r = new Times({ attempts: 3000, backoff: { kind: 'exponential', delayMs: 1000 } });
    assert.equal(r.delayBefore(2000), 2 ** 31 - 1);
  });

  test('the system clock waits longer than 2^31-1 ms without a TimeoutOverflowWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const cancel = systemClock.setTimer(2 ** 33, () => assert.fail('fired early'));
    const cancelInf = systemClock.setTimer(Number.POSITIVE_INFINITY, () => assert.fail('fired'));
    await new Promise((r) => setTimeout(r, 20));
    cancel();
    cancelInf();
    process.off('warning', onWarning);
    assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
  });
});

/** Any value, including the ones JSON and templates choke on. */
const anyValue = fc.oneof(
  fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true }),
  fc.constantFrom(...nasty),
  fc.func(fc.anything()),
);
const anyRecord = fc.dictionary(fc.constantFrom('name', 'provides', 'requires', 'rebind', 'inject', 'priority', 'version', 'attempts', 'values', 'backoff', 'revertAll', 'retry', 'execute', 'revert', 'optional', 'engine', 'store', 'backend', 'maxWorkers', 'onFailure', 'revertScope', 'book', 'flowDetail', 'meta', 'clock', 'random', 'ids', 'durability', 'busyTimeout', 'locking', 'x'), anyValue, { maxKeys: 4 });
const maybe = fc.oneof(anyValue, anyRecord);
const runs = { numRuns: Number(process.env.ATOMFLOW_FC_RUNS ?? 150) };

describe('fast-check sweeps: only AtomflowErrors come out of public constructors and options', () => {
  test('task() and Task options', async () => {
    await fc.assert(fc.asyncProperty(maybe, async (o) => onlyAtomflowErrors(() => task(o as never))), runs);
    await fc.assert(fc.asyncProperty(anyRecord, async (o) => onlyAtomflowErrors(() => task({ execute: () => 1, ...o } as never))), runs);
  });

  test('retry controllers', async () => {
    for (const Ctor of [Times, ForEach, ParameterizedForEach] as Array<new (o?: unknown) => unknown>) {
      await fc.assert(fc.asyncProperty(maybe, async (o) => onlyAtomflowErrors(() => new Ctor(o))), runs);
    }
  });

  test('flows: constructors, add(), link()', async () => {
    await fc.assert(
      fc.asyncProperty(anyValue, maybe, anyValue, async (name, options, item) => {
        await onlyAtomflowErrors(() => new LinearFlow(name as never, options as never));
        await onlyAtomflowErrors(() => new UnorderedFlow('u').add(item as never));
        await onlyAtomflowErrors(() => new GraphFlow('g').add(new T('a')).link('a', item as never, options as never));
      }),
      runs,
    );
  });

  test('load() options, storage.inject()', async () => {
    await fc.assert(
      fc.asyncProperty(maybe, maybe, async (options, values) => {
        await onlyAtomflowErrors(() => load(new LinearFlow('f').add(new T('a')), options as never));
        const e = load(new LinearFlow('f').add(new T('a')));
        await e.prepare();
        await onlyAtomflowErrors(() => e.storage.inject(values as never));
      }),
      runs,
    );
  });

  test('backends: openBackend, SqliteBackend options, memory backend calls', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyValue, fc.string(), fc.constantFrom('memory://', 'sqlite::memory:', 'sqlite://rel.db', 'sqlite:///%', 'postgres://x')), maybe, async (uri, options) => {
        await onlyAtomflowErrors(async () => {
          const b = await openBackend(uri as never, options as never);
          await b.close();
        });
        await onlyAtomflowErrors(async () => {
          const b = new SqliteBackend(':memory:', options as never);
          await b.close();
        });
        const m = new MemoryBackend();
        await onlyAtomflowErrors(() => m.saveLogBook(options as never));
        await onlyAtomflowErrors(() => m.commit(uri as never, options as never));
      }),
      runs,
    );
  });
});
