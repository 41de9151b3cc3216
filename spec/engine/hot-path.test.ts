/**
 * The engine's hot-path pieces (issue #6) and the behaviours they must keep: the id heap of the
 * ready queues, reusable batches, the synchronous commit and when it may be used, ids, progress
 * from a destructured context, and a long run of synchronous atoms still serving timers and
 * abort signals.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinearFlow, MemoryBackend, SqliteBackend, StorageFailure, Task, UnorderedFlow, load, task, type FlowChange } from '../../index.js';
import { syncCommitOf } from '../../persistence/backend.js';
import { newId } from '../../persistence/models.js';
import { IdHeap } from '../../lib/heap.js';
import { Batch } from '../../engines/runtime/batch.js';
import { engineKinds } from '../support/index.js';

describe('IdHeap (the ready queues)', () => {
  test('pops ids by key, higher first, ties by id (lower first, or higher first)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 60 }), fc.boolean(), (keys, tieHigh) => {
        const key = Float64Array.from(keys);
        const heap = new IdHeap(key, tieHigh);
        const ids = keys.map((_, i) => i);
        for (const i of [...ids].reverse()) heap.push(i);
        const out: number[] = [];
        assert.equal(heap.size, keys.length);
        while (heap.size > 0) {
          assert.equal(heap.peek(), heap.peek());
          out.push(heap.pop()!);
        }
        const expected = [...ids].sort((a, b) => key[b]! - key[a]! || (tieHigh ? b - a : a - b));
        assert.deepEqual(out, expected);
        assert.equal(heap.pop(), undefined);
        assert.equal(heap.peek(), undefined);
      }),
    );
  });

  test('interleaved pushes and pops keep the order', () => {
    const heap = new IdHeap(new Float64Array(100));
    for (let i = 99; i >= 50; i--) heap.push(i);
    assert.equal(heap.pop(), 50);
    for (let i = 0; i < 50; i++) heap.push(i);
    const out: number[] = [];
    while (heap.size > 0) out.push(heap.pop()!);
    assert.deepEqual(out, [...Array(50).keys(), ...Array.from({ length: 49 }, (_, k) => 51 + k)]);
  });
});

describe('Batch', () => {
  test('push, at, takeFrom and clear', () => {
    const b = new Batch<string>();
    for (const s of ['a', 'b', 'c', 'd']) b.push(s);
    assert.equal(b.size, 4);
    assert.equal(b.at(2), 'c');
    assert.deepEqual(b.takeFrom(2), ['c', 'd']);
    assert.equal(b.size, 2);
    b.push('e');
    assert.deepEqual(b.takeFrom(0), ['a', 'b', 'e']);
    assert.equal(b.size, 0);
    b.push('f');
    b.clear();
    assert.equal(b.size, 0);
    assert.deepEqual(b.takeFrom(0), []);
  });
});

describe('synchronous commits', () => {
  class CountingSync extends MemoryBackend {
    syncCalls = 0;
    override commitSync(flowUuid: string, change: FlowChange): void {
      this.syncCalls++;
      super.commitSync(flowUuid, change);
    }
  }
  class CountingAsync extends MemoryBackend {
    asyncCalls = 0;
    override async commit(flowUuid: string, change: FlowChange): Promise<void> {
      this.asyncCalls++;
      return super.commit(flowUuid, change);
    }
  }

  test('the memory and SQLite backends offer commitSync; a subclass overriding only commit() is respected', () => {
    assert.equal(typeof syncCommitOf(new MemoryBackend()), 'function');
    const sqlite = new SqliteBackend(':memory:');
    assert.equal(typeof syncCommitOf(sqlite), 'function');
    void sqlite.close();
    assert.equal(syncCommitOf(new CountingAsync()), undefined);
    assert.equal(typeof syncCommitOf(new CountingSync()), 'function');
  });

  test('the engine commits through commitSync when it may, and through commit() when commit() is overridden', async () => {
    const flow = () => new LinearFlow('f').add(task({ name: 'a', execute: () => 1 }), task({ name: 'b', execute: () => 2 }));
    const sync = new CountingSync();
    await load(flow(), { backend: sync }).run();
    assert.ok(sync.syncCalls >= 3, `commitSync used (${sync.syncCalls} calls)`);
    const intercepting = new CountingAsync();
    const e = load(flow(), { backend: intercepting });
    await e.run();
    assert.ok(intercepting.asyncCalls >= 3, `the overriding commit() saw every step (${intercepting.asyncCalls} calls)`);
    assert.equal(e.storage.getFlowState(), 'SUCCESS');
  });

  test('a commitSync that throws stops the run with StorageFailure, like a rejected commit()', async () => {
    class Broken extends MemoryBackend {
      fail = false;
      override commitSync(flowUuid: string, change: FlowChange): void {
        if (this.fail) throw new StorageFailure('disk full (simulated)');
        super.commitSync(flowUuid, change);
      }
    }
    const backend = new Broken();
    const ran: string[] = [];
    const a = task({
      name: 'a',
      execute: () => {
        ran.push('a');
        if (ran.length === 1) backend.fail = true; // the store breaks while the first atom runs
        return 1;
      },
    });
    const b = task({ name: 'b', execute: () => (ran.push('b'), 2) });
    const e = load(new LinearFlow('f').add(a, b), { backend });
    await assert.rejects(e.run(), StorageFailure);
    assert.deepEqual(ran, ['a'], 'nothing starts after the store broke');
    backend.fail = false;
    await e.run();
    assert.equal(e.storage.getFlowState(), 'SUCCESS');
    assert.equal(e.storage.get('b'), 2);
    // a's result never reached the store, so it ran again (as after a crash); b ran once.
    assert.deepEqual(ran, ['a', 'a', 'b']);
  });
});

describe('ids', () => {
  test('newId gives distinct url-safe ids of 21 characters (nanoid), never starting with a dash', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = newId();
      assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{20}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 5000);
  });
});

for (const kind of engineKinds) {
  describe(`${kind} engine: contexts and long synchronous runs`, () => {
    test('ctx.progress works destructured, and ctx.name / ctx.signal are there', async () => {
      const seen: number[] = [];
      class Reporting extends Task<Record<string, never>, string> {
        execute(_args: Record<string, never>, { name, signal, progress }: { name: string; signal: AbortSignal; progress: (f: number) => void }): string {
          progress(0.5);
          return `${name}:${signal.aborted}`;
        }
      }
      const e = load(new LinearFlow('f').add(new Reporting({ name: 'r', provides: 'out' })), { engine: kind });
      e.on('progress', (p) => seen.push(p.progress));
      await e.run();
      assert.equal(e.storage.fetch('out'), 'r:false');
      assert.ok(seen.includes(0.5), `progress events: ${seen.join(', ')}`);
      assert.equal(e.storage.getProgress('r'), 1);
    });

    test('a long run of synchronous atoms lets a timer abort it (the run yields to the event loop)', async () => {
      const n = 200_000;
      const tasks: Task[] = [];
      for (let i = 0; i < n; i++) tasks.push(task({ name: `t${i}`, execute: () => i }));
      const flow = kind === 'serial' ? new LinearFlow('long') : new UnorderedFlow('long');
      for (let i = 0; i < n; i += 10_000) flow.add(...tasks.slice(i, i + 10_000));
      const ac = new AbortController();
      const e = load(flow, { engine: kind, maxWorkers: 4 });
      // The timer can only fire if the run gives the event loop a turn while it goes.
      let started = 0;
      e.on('atom', (ev) => {
        if (ev.state === 'RUNNING' && ++started === 1) setTimeout(() => ac.abort(), 1);
      });
      await e.run({ signal: ac.signal });
      assert.equal(e.storage.getFlowState(), 'SUSPENDED');
      const done = tasks.filter((t) => e.storage.getAtomState(t.name) === 'SUCCESS').length;
      assert.ok(done > 0 && done < n, `some but not all atoms ran before the abort (${done} of ${n})`);
      await e.run();
      assert.equal(e.storage.getFlowState(), 'SUCCESS');
    });
  });
}
