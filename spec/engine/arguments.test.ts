/**
 * Argument passing and scoping (TaskFlow's test_arguments_passing, test_scoping and the
 * "consequences" in the semantics reference §1.3–1.4, §2.7–2.8), on every engine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AmbiguousDependency,
  CycleError,
  DuplicateNameError,
  GraphFlow,
  InvariantViolation,
  LinearFlow,
  MissingDependencies,
  NotFound,
  Task,
  Times,
  UnorderedFlow,
  load,
  run,
  task,
} from '../../index.js';
import { Calc, Give, Use, suiteConfigs, forEngine, withEngine } from '../support/index.js';

// Fixture classes (not closures), so a worker process can run them too.
const give = (name: string, provides: string | string[], value: unknown) => new Give(name, { provides, value });
const use = (name: string, requires: string[], provides = 'got', extra: object = {}) => new Use(name, { requires, provides, ...extra, single: requires.length === 1 ? requires[0] : undefined });

for (const engine of suiteConfigs) {
  const test = forEngine(engine);
  describe(`${engine} engine: arguments`, () => {
    test('store beats a predecessor; fetch gives the store first and fetchAll lists both', async () => {
      const e = load(new LinearFlow('f').add(give('a', 'x', 1), use('u', ['x'])), withEngine(engine, { store: { x: 100 } }));
      await e.run();
      assert.equal(e.storage.fetch('got'), 100);
      assert.equal(e.storage.fetch('x'), 100);
      assert.deepEqual(e.storage.fetchAll(), { x: [100, 1], got: 100 });
    });

    test('atom inject beats the store and predecessors, and never shows in fetchAll', async () => {
      const e = load(new LinearFlow('f').add(give('a', 'x', 1), use('u', ['x'], 'got', { inject: { x: 42 } })), withEngine(engine, { store: { x: 100 } }));
      await e.run();
      assert.equal(e.storage.fetch('got'), 42);
      assert.deepEqual(e.storage.fetchAll(), { x: [100, 1], got: 42 });
    });

    test('with a store every task of a chain sees the store value; without, each sees its predecessor', async () => {
      const inc = (name: string, rebind?: Record<string, string>) =>
        new Calc(name, 'inc', { requires: ['value'], provides: 'value', ...(rebind ? { rebind } : {}) });
      const seen = async (store?: Record<string, unknown>, first?: Record<string, string>) => {
        const e = load(new LinearFlow('f').add(inc('a', first), inc('b'), inc('c')), withEngine(engine, { ...(store ? { store } : {}) }));
        await e.run();
        return ['a', 'b', 'c'].map((n) => e.storage.get(n));
      };
      assert.deepEqual(await seen({ value: 0 }), [1, 1, 1]);
      assert.deepEqual(await seen({ source: 0 }, { value: 'source' }), [1, 2, 3]);
    });

    test('optional arguments are passed only when something provides them', async () => {
      const mul = () =>
        new Calc('m', 'mul', { requires: ['a'], optional: ['b'], provides: 'r' });
      assert.equal((await run(new LinearFlow('f').add(mul()), withEngine(engine, { store: { a: 3 } }))).r, 15);
      assert.equal((await run(new LinearFlow('f').add(mul()), withEngine(engine, { store: { a: 3, b: 7 } }))).r, 21);
    });

    test('provides: whole, by index, by key, short results', async () => {
      const res = await run(
        new UnorderedFlow('f').add(
          give('all', 'all', [1, 3, 5]),
          give('pos', ['x', 'y', 'z'], [1, 3, 5]),
          give('short', ['p', 'q'], ['only']),
          give('keys', ['k1', 'k3'], { k1: 1, k2: 2, k3: 3 }),
        ),
        withEngine(engine),
      );
      assert.deepEqual(res, { all: [1, 3, 5], x: 1, y: 3, z: 5, p: 'only', k1: 1, k3: 3 });
    });

    test('rebind as a list maps positionally onto requires; as an object by name', async () => {
      const sub = (name: string, rebind: string[] | Record<string, string>) =>
        new Calc(name, 'sub', { requires: ['a', 'b'], rebind, provides: name });
      const res = await run(new UnorderedFlow('f').add(sub('l', ['x', 'y']), sub('o', { b: 'x' })), withEngine(engine, { store: { x: 10, y: 3, a: 100 } }));
      assert.equal(res.l, 7);
      assert.equal(res.o, 90);
    });

    test('scoping: the nearest earlier provider in the innermost scope wins', async () => {
      const cases: Array<[string, () => LinearFlow, unknown]> = [
        ['nearest sibling', () => new LinearFlow('r').add(give('a', 'x', 1), give('b', 'x', 2), use('u', ['x'])), 2],
        ['inner scope first', () => new LinearFlow('r').add(give('a', 'x', 1), new LinearFlow('s').add(give('b', 'x', 2), use('u', ['x']))), 2],
        ['subflow is an earlier sibling', () => new LinearFlow('r').add(give('a', 'x', 1), new LinearFlow('s').add(give('b', 'x', 2)), use('u', ['x'])), 2],
        ['unordered sibling is not a predecessor', () => new LinearFlow('r').add(give('a', 'x', 1), new UnorderedFlow('s').add(give('b', 'x', 2), use('u', ['x']))), 1],
      ];
      for (const [label, build, want] of cases) {
        const e = load(build(), withEngine(engine));
        await e.run();
        assert.equal(e.storage.get('u'), want, label);
      }
    });

    test('customer, customer2, washer: washer gets customer2\'s dog', async () => {
      const e = load(new LinearFlow('r').add(give('customer', 'dog', 'rex'), give('customer2', 'dog', 'fido'), use('washer', ['dog'])), withEngine(engine));
      await e.run();
      assert.equal(e.storage.get('washer'), 'fido');
    });

    test("a retry's provides are visible to its subflow and after it", async () => {
      const e = load(new LinearFlow('r', { retry: new Times({ attempts: 2, provides: 'attempt' }) }).add(use('u', ['attempt'])), withEngine(engine));
      await e.run();
      assert.equal(e.storage.get('u'), 1);
    });

    test('a name provided nowhere fails validation before any atom runs, listing every atom', async () => {
      let ran = false;
      const flow = new LinearFlow('f').add(
        task({ name: 'first', execute: () => void (ran = true) }),
        use('n1', ['a', 'b']),
        task({ name: 'rn', execute: () => 1, revertRequires: ['extra'] }),
      );
      const e = load(flow, withEngine(engine));
      await assert.rejects(e.run(), (err: unknown) => {
        assert.ok(err instanceof MissingDependencies);
        assert.deepEqual(err.missing, { n1: ['a', 'b'], rn: ['extra'] });
        return true;
      });
      assert.equal(ran, false);
    });

    test('unordered siblings never see each other: MissingDependencies', async () => {
      const e = load(new UnorderedFlow('u').add(give('a', 'x', 1), use('u', ['x'])), withEngine(engine));
      await assert.rejects(e.run(), MissingDependencies);
    });

    test('storage reads: NotFound for unknown names and atoms', async () => {
      const e = load(new LinearFlow('f').add(give('a', 'x', 1)), withEngine(engine));
      await e.run();
      assert.throws(() => e.storage.fetch('nope'), NotFound);
      assert.throws(() => e.storage.getAtomState('nope'), NotFound);
      assert.equal(e.storage.get('a'), 1);
    });

    test('inject() on the storage adds flow-level values before a run', async () => {
      const e = load(new LinearFlow('f').add(use('u', ['late'])), withEngine(engine));
      e.storage.inject({ late: 'v' });
      await e.run();
      assert.equal(e.storage.get('u'), 'v');
    });
  });
}

describe('validation at construction, add() and compile', () => {
  test('bad atom options are refused with the atom and option named', () => {
    assert.throws(() => task({ name: 'p', provides: 5 as never, execute: () => 1 }), (e: unknown) => e instanceof InvariantViolation && /'p'.*provides/.test(e.message));
    assert.throws(() => task({ name: 'r', requires: ['a'], rebind: ['x', 'y'], execute: () => 1 }), (e: unknown) => e instanceof InvariantViolation && e.option === 'rebind');
    assert.throws(() => task({ name: 'e', execute: 3 as never }), (e: unknown) => e instanceof InvariantViolation && e.option === 'execute');
    assert.throws(() => task({ name: 'k', execute: () => 1, bogus: 1 } as never), (e: unknown) => e instanceof InvariantViolation && e.option === 'bogus');
    assert.throws(() => task({ name: 'o', requires: ['a'], rebind: { zz: 'a' }, execute: () => 1 }), InvariantViolation);
  });

  test('class-level requires add to the instance requires', () => {
    class Alloc extends Task<{ size: number; zone: string }> {
      static override requires = ['size'];
      execute({ size }: { size: number }) {
        return size;
      }
    }
    const a = new Alloc({ name: 'alloc', requires: ['zone'], rebind: { size: 'volumeSize' }, provides: 'volume' });
    assert.deepEqual([...a.requires].sort(), ['volumeSize', 'zone']);
  });

  test('duplicate names, an atom added twice and a retry as a node are refused', () => {
    assert.throws(() => load(new LinearFlow('f').add(give('a', 'x', 1), new LinearFlow('s').add(give('a', 'y', 2)))), DuplicateNameError);
    const same = give('same', 'x', 1);
    assert.throws(() => load(new LinearFlow('f').add(new LinearFlow('s1').add(same), new LinearFlow('s2').add(same))), InvariantViolation);
    assert.throws(() => new LinearFlow('f').add(new Times() as never), InvariantViolation);
  });

  test('graph flows: ambiguous providers, cycles and unknown link ends are refused and leave the flow unchanged', () => {
    const g = new GraphFlow('g').add(give('a', 'x', 1), give('b', 'x', 2));
    assert.throws(() => g.add(use('u', ['x'])), AmbiguousDependency);
    assert.equal(g.length, 2);
    const a = give('p', 'y', 1);
    const b = use('q', ['y']);
    const h = new GraphFlow('h').add(a, b);
    assert.throws(() => h.link(b, a), CycleError);
    assert.equal([...h.iterLinks()].length, 1);
    assert.throws(() => h.link(a, give('zz', 'z', 1)), NotFound);
    assert.throws(() => h.link(a, b, { deciderDepth: 'ALL' }), InvariantViolation);
  });

  test('adding a very large batch at once keeps order and ignores repeats', () => {
    const tasks = Array.from({ length: 60000 }, (_, i) => task({ name: `t${i}`, execute: () => i }));
    const f = new LinearFlow('big').add(...tasks.slice(0, 30000)).add(...tasks.slice(29990));
    assert.equal(f.length, 60000);
    const names = [...f.iterNodes()].map((x) => x.name);
    assert.equal(names[0], 't0');
    assert.equal(names[59999], 't59999');
  });

  test('flow requires / provides', () => {
    const f = new LinearFlow('f').add(give('a', 'x', 1), use('u', ['x', 'y']));
    assert.deepEqual(f.requires, ['y']);
    assert.deepEqual(f.provides.sort(), ['got', 'x']);
    const u = new UnorderedFlow('u').add(give('a', 'x', 1), use('v', ['x']));
    assert.deepEqual(u.requires, ['x']);
  });

  test('a targeted graph flow runs only the target and what it needs', async () => {
    const ran: string[] = [];
    const t = (name: string, requires: string[], provides: string) => task({ name, requires, provides, execute: () => void ran.push(name) });
    const g = new GraphFlow('g').add(t('a', [], 'x'), t('b', ['x'], 'y'), t('c', ['x'], 'z'), t('d', ['y'], 'w'));
    g.setTarget('b');
    assert.equal(g.length, 2);
    await run(g);
    assert.deepEqual(ran, ['a', 'b']);
    g.resetTarget();
    assert.equal(g.length, 4);
  });

  test('bad engine options are refused', () => {
    const f = new LinearFlow('f');
    assert.throws(() => load(f, { engine: 'nope' as never }), (e: unknown) => e instanceof InvariantViolation && e.option === 'engine');
    assert.throws(() => load(f, { maxWorkers: 0 }), (e: unknown) => e instanceof InvariantViolation && e.option === 'maxWorkers');
    assert.throws(() => load(f, { onFailure: 'ignore' as never }), (e: unknown) => e instanceof InvariantViolation && e.option === 'onFailure');
    assert.throws(() => load(f, { bogus: true } as never), (e: unknown) => e instanceof InvariantViolation && e.option === 'bogus');
  });
});
