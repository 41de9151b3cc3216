/**
 * GraphFlow (patterns/graph.ts): links inferred from requires/provides in any add order, manual
 * links and deciders, cycle and ambiguity refusal with a full rollback of the refused add, targets,
 * and the requires/provides of graph, linear and unordered flows (lib/flow.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AmbiguousDependency,
  CycleError,
  GraphFlow,
  InvariantViolation,
  LinearFlow,
  NotFound,
  Times,
  UnorderedFlow,
  compile,
  task,
  type Flow,
  type FlowItem,
  type LinkOptions,
} from '../../index.js';
import { succsOf } from '../../engines/compiler/compile.js';

const t = (name: string, requires: string[] = [], provides: string[] = []) => task({ name, requires, provides, execute: () => undefined });
const names = (xs: Iterable<FlowItem>): string[] => [...xs].map((x) => x.name);
/** Links as `from>to[reason,...]` (reasons sorted) plus `+m` when manual, in iterLinks order. */
const links = (f: Flow): string[] =>
  [...f.iterLinks()].map(([a, b, m]) => `${a.name}>${b.name}[${[...(m.reasons ?? [])].sort().join(',')}]${m.manual ? '+m' : ''}`);
const snapshot = (g: GraphFlow) => ({
  nodes: names(g.iterNodes()),
  links: links(g),
  requires: [...g.requires].sort(),
  provides: [...g.provides].sort(),
  length: g.length,
});
const permutations = <T>(xs: readonly T[]): T[][] =>
  xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));

describe('GraphFlow: inferred links', () => {
  test('a link is inferred whether the provider is added before or after the consumer', () => {
    for (const order of [['p', 'c'], ['c', 'p']]) {
      const items: Record<string, FlowItem> = { p: t('p', [], ['x']), c: t('c', ['x']) };
      const together = new GraphFlow('g').add(...order.map((n) => items[n]!));
      assert.deepEqual(names(together.iterNodes()), ['p', 'c'], `order ${order}`);
      assert.deepEqual(links(together), ['p>c[x]']);
      const fresh: Record<string, FlowItem> = { p: t('p', [], ['x']), c: t('c', ['x']) };
      const oneByOne = new GraphFlow('g');
      for (const n of order) oneByOne.add(fresh[n]!);
      assert.deepEqual(names(oneByOne.iterNodes()), ['p', 'c']);
      assert.deepEqual(links(oneByOne), ['p>c[x]']);
    }
  });

  test('iterNodes is a topological order; ties keep the add order', () => {
    const g = new GraphFlow('g').add(t('d', ['y']), t('c'), t('b', ['x'], ['y']), t('a', [], ['x']), t('e'));
    assert.deepEqual(names(g.iterNodes()), ['c', 'a', 'b', 'd', 'e']);
    assert.deepEqual(names(new GraphFlow('h').add(t('z'), t('y'), t('x')).iterNodes()), ['z', 'y', 'x']);
  });

  test('iterLinks meta lists every reason, is frozen, and is the same object on every call', () => {
    const g = new GraphFlow('g').add(t('b', ['x', 'y', 'w']), t('a', [], ['x', 'y']));
    const all = [...g.iterLinks()];
    assert.equal(all.length, 1);
    const [from, to, meta] = all[0]!;
    assert.deepEqual([from.name, to.name], ['a', 'b']);
    assert.deepEqual([...(meta.reasons ?? [])].sort(), ['x', 'y']);
    assert.equal(meta.manual, undefined);
    assert.ok(Object.isFrozen(meta) && Object.isFrozen(meta.reasons));
    assert.throws(() => {
      (meta as { manual?: boolean }).manual = true;
    }, TypeError);
    assert.equal([...g.iterLinks()][0]![2], meta);
    assert.deepEqual(g.requires, ['w']);
  });

  test("a name the child provides itself or the flow's retry provides makes no link", () => {
    const self = new GraphFlow('g').add(t('a', [], ['x']), t('b', ['x'], ['x']));
    assert.deepEqual(links(self), []);
    assert.deepEqual(self.requires, ['x']);
    const retried = new GraphFlow('r', { retry: new Times({ provides: 'x' }) }).add(t('c', ['x']), t('p', [], ['x']));
    assert.deepEqual(links(retried), []);
    assert.deepEqual(retried.requires, []);
  });
});

describe('GraphFlow: link()', () => {
  test('links by object or by name, with a decider; a lower-case depth is accepted', () => {
    const a = t('a');
    const b = t('b');
    const c = t('c');
    const decider = () => true;
    const g = new GraphFlow('g').add(c, b, a).link(a, b).link('b', 'c', { decider, deciderDepth: 'neighbors' });
    assert.deepEqual(names(g.iterNodes()), ['a', 'b', 'c']);
    const metas = [...g.iterLinks()].map(([u, v, m]) => [u.name, v.name, { ...m }]);
    assert.deepEqual(metas, [
      ['a', 'b', { manual: true }],
      ['b', 'c', { manual: true, decider, deciderDepth: 'NEIGHBORS' }],
    ]);
    const d = t('d');
    g.add(d).link(c, d, { decider });
    assert.equal([...g.iterLinks()][2]![2].deciderDepth, 'ALL');
  });

  test('bad options throw InvariantViolation, unknown nodes NotFound, and nothing is linked', () => {
    const a = t('a');
    const b = t('b');
    const g = new GraphFlow('g').add(a, b);
    const bad: unknown[] = [{ deciderDepth: 'ALL' }, { decider: () => true, extra: 1 }, { priority: 1 }, { decider: 'yes' }, { decider: () => true, deciderDepth: 'sideways' }];
    for (const options of bad) assert.throws(() => g.link(a, b, options as LinkOptions), InvariantViolation, JSON.stringify(options));
    assert.throws(() => g.link(a, 'nope'), NotFound);
    assert.throws(() => g.link('nope', b), NotFound);
    assert.throws(() => g.link(t('outsider'), a), NotFound);
    assert.deepEqual(links(g), []);
    assert.deepEqual(names(g.iterNodes()), ['a', 'b']);
  });

  test('a manual link on an inferred pair merges into one link with manual and the reasons', () => {
    const g = new GraphFlow('g').add(t('a', [], ['x']), t('b', ['x']));
    const before = [...g.iterLinks()][0]![2];
    g.link('a', 'b');
    const after = [...g.iterLinks()];
    assert.equal(after.length, 1);
    assert.deepEqual({ ...after[0]![2] }, { manual: true, reasons: ['x'] });
    assert.notEqual(after[0]![2], before);
    assert.ok(Object.isFrozen(after[0]![2]));
    assert.deepEqual({ ...before }, { reasons: ['x'] });
  });
});

describe('GraphFlow: cycles', () => {
  test('a link that would close a cycle throws CycleError and leaves the flow unchanged', () => {
    const a = t('a', [], ['x']);
    const b = t('b', ['x'], ['y']);
    const c = t('c', ['y']);
    const g = new GraphFlow('g').add(c, a, b);
    const before = snapshot(g);
    assert.throws(() => g.link(c, a), (e: unknown) => e instanceof CycleError && e.flow === 'g');
    assert.throws(() => g.link('b', 'b'), CycleError);
    assert.deepEqual(snapshot(g), before);
    g.link(a, c);
    assert.deepEqual(links(g), ['a>b[x]', 'b>c[y]', 'a>c[]+m']);
  });
});

describe('GraphFlow: ambiguous dependencies', () => {
  const cases = permutations(['C', 'P1', 'P2']);
  for (const order of cases) {
    test(`two providers of what a third requires, added as ${order.join(', ')}`, () => {
      const make = (): Record<string, FlowItem> => ({ C: t('C', ['x']), P1: t('P1', [], ['x']), P2: t('P2', [], ['x']) });
      const check = (e: unknown) => e instanceof AmbiguousDependency && e.symbol === 'x' && [...e.providers].sort().join() === 'P1,P2';
      const items = make();
      const g = new GraphFlow('g');
      g.add(items[order[0]!]!).add(items[order[1]!]!);
      const before = snapshot(g);
      assert.throws(() => g.add(items[order[2]!]!), check);
      assert.deepEqual(snapshot(g), before);
      const fresh = make();
      const one = new GraphFlow('one');
      assert.throws(() => one.add(...order.map((n) => fresh[n]!)), check);
      assert.deepEqual(snapshot(one), { nodes: [], links: [], requires: [], provides: [], length: 0 });
    });
  }
});

describe('GraphFlow: a refused add leaves nothing behind', () => {
  test('a cycle part-way through one add: nothing of the call stays, and its items can be added again', () => {
    const g = new GraphFlow('g').add(t('R', ['y'], ['z']), t('P', ['z'], ['x']));
    const before = snapshot(g);
    const ok = t('ok', ['x'], ['o']);
    const closes = t('N', ['x'], ['y']);
    const after = t('late', ['o']);
    assert.throws(() => g.add(ok, closes, after), CycleError);
    assert.deepEqual(snapshot(g), before);
    assert.ok(!g.has(ok) && !g.has(closes) && !g.has(after));
    const other = new GraphFlow('other').add(ok, closes, after);
    assert.deepEqual(links(other), ['ok>late[o]']);
    g.add(after, ok);
    assert.deepEqual(names(g.iterNodes()), ['R', 'P', 'ok', 'late']);
    assert.deepEqual(links(g), ['R>P[z]', 'P>ok[x]', 'ok>late[o]']);
    assert.deepEqual(g.requires, ['y']);
  });

  test('an ambiguity part-way through one add: no stale providers or satisfied requirements remain', () => {
    // C already has 'w' satisfied (so its bookkeeping holds several names); E has nothing satisfied.
    const g = new GraphFlow('g').add(t('C', ['x', 'w']), t('W', [], ['w']), t('E', ['x']));
    const before = snapshot(g);
    assert.deepEqual(before.links, ['W>C[w]']);
    // P1 satisfies C's and E's 'x' and registers 'y', D takes 'y' from it, then Y2 is ambiguous for D.
    const p1 = t('P1', [], ['x', 'y']);
    const d = t('D', ['y']);
    const y2 = t('Y2', [], ['y']);
    assert.throws(() => g.add(p1, d, y2), (e: unknown) => e instanceof AmbiguousDependency && e.atom === 'D' && e.symbol === 'y');
    assert.deepEqual(snapshot(g), before);
    assert.deepEqual(g.requires, ['x']);
    // 'x' is unsatisfied again for C and E: a new provider links to both rather than being ambiguous.
    g.add(t('P2', [], ['x']));
    assert.deepEqual(links(g), ['W>C[w]', 'P2>C[x]', 'P2>E[x]']);
    // P1's 'y' is gone: D finds no provider, then exactly one.
    g.add(d);
    assert.deepEqual(links(g), ['W>C[w]', 'P2>C[x]', 'P2>E[x]']);
    assert.deepEqual(g.requires, ['y']);
    g.add(y2);
    assert.deepEqual(links(g), ['W>C[w]', 'P2>C[x]', 'P2>E[x]', 'Y2>D[y]']);
    assert.deepEqual(names(g.iterNodes()), ['W', 'P2', 'C', 'E', 'Y2', 'D']);
    // And P1 is now really ambiguous (P2 and Y2 satisfy what it provides).
    assert.throws(() => g.add(p1), AmbiguousDependency);
    assert.equal(g.length, 6);
  });
});

describe('Flow.add() checks', () => {
  test('adding the same item twice is ignored', () => {
    const a = t('a', [], ['x']);
    const b = t('b', ['x']);
    const g = new GraphFlow('g').add(a, a, b).add(a).add(b, a);
    assert.deepEqual(names(g.iterNodes()), ['a', 'b']);
    assert.deepEqual(links(g), ['a>b[x]']);
    const l = new LinearFlow('l').add(a, a).add(a);
    assert.equal(l.length, 1);
  });

  test('a retry, a non-atom, or a flow into itself is refused and nothing of the call is added', () => {
    for (const make of [() => new GraphFlow('f'), () => new LinearFlow('f'), () => new UnorderedFlow('f')]) {
      const f = make();
      const good = t('good');
      assert.throws(() => f.add(good, new Times() as unknown as FlowItem), InvariantViolation);
      assert.throws(() => f.add(good, { name: 'fake' } as unknown as FlowItem), InvariantViolation);
      assert.throws(() => f.add(good, 'x' as unknown as FlowItem), InvariantViolation);
      assert.throws(() => f.add(f), InvariantViolation);
      const outer = new LinearFlow('outer').add(new UnorderedFlow('mid').add(f));
      assert.throws(() => f.add(outer), InvariantViolation);
      assert.equal(f.length, 0);
      assert.ok(!f.has(good));
    }
  });
});

describe('GraphFlow: targets', () => {
  test('setTarget restricts nodes and links to the target and what it needs; resetTarget restores', () => {
    const a = t('a', [], ['x']);
    const b = t('b', ['x'], ['y']);
    const c = t('c', [], ['z']);
    const d = t('d', ['y', 'z']);
    const g = new GraphFlow('g').add(d, c, b, a);
    const full = snapshot(g);
    assert.deepEqual(full.nodes, ['c', 'a', 'b', 'd']);
    g.setTarget(b);
    assert.equal(g.target, b);
    assert.deepEqual(names(g.iterNodes()), ['a', 'b']);
    assert.deepEqual(links(g), ['a>b[x]']);
    assert.deepEqual(g.provides.sort(), ['x', 'y']);
    g.setTarget('c');
    assert.deepEqual(names(g.iterNodes()), ['c']);
    assert.deepEqual(links(g), []);
    g.resetTarget();
    assert.equal(g.target, undefined);
    assert.deepEqual(snapshot(g), full);
    assert.throws(() => g.setTarget('nope'), NotFound);
    assert.throws(() => g.setTarget(t('outsider')), NotFound);
    assert.deepEqual(snapshot(g), full);
  });
});

describe('flow requires / provides and linear / unordered basics', () => {
  test('requires are what no earlier child or the retry provides', () => {
    const kids = () => [t('b', ['x', 'y'], ['z']), t('a', ['n'], ['x'])] as const;
    assert.deepEqual(new LinearFlow('l').add(...kids()).requires.sort(), ['n', 'x', 'y']);
    assert.deepEqual(new LinearFlow('l').add(...kids().toReversed()).requires.sort(), ['n', 'y']);
    assert.deepEqual(new UnorderedFlow('u').add(...kids().toReversed()).requires.sort(), ['n', 'x', 'y']);
    assert.deepEqual(new GraphFlow('g').add(...kids()).requires.sort(), ['n', 'y']);
    for (const f of [new LinearFlow('l'), new UnorderedFlow('u'), new GraphFlow('g')]) {
      assert.deepEqual(f.add(...kids()).provides.sort(), ['x', 'z']);
    }
    const retried = new LinearFlow('r', { retry: new Times({ provides: 'n', requires: ['limit'] }) }).add(...kids().toReversed());
    assert.deepEqual(retried.requires.sort(), ['limit', 'y']);
    assert.deepEqual(retried.provides.sort(), ['n', 'x', 'z']);
    const nested = new LinearFlow('outer').add(t('first', [], ['y']), new GraphFlow('g').add(...kids()));
    assert.deepEqual(nested.requires.sort(), ['n']);
    assert.deepEqual(nested.provides.sort(), ['x', 'y', 'z']);
  });

  test('linear and unordered flows keep the add order; linear links consecutive children', () => {
    const l = new LinearFlow('l').add(t('c'), t('a'), t('b'));
    assert.deepEqual(names(l.iterNodes()), ['c', 'a', 'b']);
    assert.deepEqual([...l.iterLinks()].map(([u, v, m]) => [u.name, v.name, { ...m }]), [
      ['c', 'a', { invariant: true }],
      ['a', 'b', { invariant: true }],
    ]);
    assert.equal(String(l), '"linear: l(len=3)"');
    const u = new UnorderedFlow('u').add(t('y', ['q'], ['p']), t('x', ['p']));
    assert.deepEqual(names(u.iterNodes()), ['y', 'x']);
    assert.deepEqual([...u.iterLinks()], []);
    assert.equal(u.pattern, 'unordered');
    const r = new Times();
    assert.equal(new LinearFlow('rf', { retry: r }).retry, r);
    assert.equal(r.name, 'rf_retry');
    assert.throws(() => new LinearFlow(''), InvariantViolation);
    assert.throws(() => new GraphFlow('g', { retries: 1 } as object), InvariantViolation);
    assert.throws(() => new UnorderedFlow('u', { retry: t('t') as unknown as Times }), InvariantViolation);
  });
});

describe('GraphFlow: properties', () => {
  test('random DAGs: any add permutation gives the same links and a topological order, ties by add order', () => {
    const arb = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.record({
        reqs: fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => [`a${j}`, `b${j}`]).flat(), { maxLength: Math.min(4, 2 * i) }))),
        perm: fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
        chunk: fc.integer({ min: 1, max: n }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ reqs, perm, chunk }) => {
        const n = reqs.length;
        const tasks = reqs.map((r, i) => t(`t${i}`, r, [`a${i}`, `b${i}`]));
        const g = new GraphFlow('g');
        const added = perm.map((i) => tasks[i]!);
        for (let k = 0; k < n; k += chunk) g.add(...added.slice(k, k + chunk));
        const expected = new Map<string, string[]>();
        reqs.forEach((r, i) => {
          for (const name of r) {
            const key = `t${name.slice(1)}>t${i}`;
            expected.set(key, [...(expected.get(key) ?? []), name]);
          }
        });
        const want = [...expected].map(([k, rs]) => `${k}[${rs.sort().join(',')}]`).sort();
        assert.deepEqual(links(g).sort(), want);
        // Reference Kahn's algorithm that always takes the earliest-added ready node.
        const preds = added.map((x) => [...expected.keys()].filter((k) => k.endsWith(`>${x.name}`)).map((k) => k.split('>')[0]!));
        const done = new Set<string>();
        const order: string[] = [];
        while (order.length < n) {
          const next = added.findIndex((x, i) => !done.has(x.name) && preds[i]!.every((p) => done.has(p)));
          assert.ok(next >= 0);
          done.add(added[next]!.name);
          order.push(added[next]!.name);
        }
        assert.deepEqual(names(g.iterNodes()), order);
      }),
      { numRuns: 200 },
    );
  });
});

describe('GraphFlow: a large chain', () => {
  test('100,000 chained tasks added in chunks of 10,000 build and compile to a chain', () => {
    const n = 100_000;
    const tasks = Array.from({ length: n }, (_, i) => t(`t${i}`, i > 0 ? [`v${i - 1}`] : [], [`v${i}`]));
    const g = new GraphFlow('big');
    for (let k = 0; k < n; k += 10_000) g.add(...tasks.slice(k, k + 10_000));
    const order = [...g.iterNodes()];
    assert.equal(order.length, n);
    for (let i = 0; i < n; i++) if (order[i] !== tasks[i]) assert.fail(`position ${i} holds ${order[i]?.name}`);
    let count = 0;
    for (const [u, v, m] of g.iterLinks()) {
      if (u !== tasks[count] || v !== tasks[count + 1] || m.reasons?.[0] !== `v${count}`) assert.fail(`link ${count}: ${u.name}>${v.name}`);
      count++;
    }
    assert.equal(count, n - 1);
    const c = compile(g);
    assert.equal(c.atoms.length, n);
    assert.equal(c.graph.nodeCount, n);
    for (let i = 0; i < n; i++) {
      const s = succsOf(c.graph, i);
      if (c.atoms[i]!.name !== `t${i}` || s.length !== (i < n - 1 ? 1 : 0) || (i < n - 1 && s[0] !== i + 1)) assert.fail(`atom ${i}`);
    }
  });
});
