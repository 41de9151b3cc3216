/**
 * compile() (engines/compiler/compile.ts): the execution graph in compressed rows (atoms first,
 * then barrier nodes for wide joins), the atom and flow index, retries, providers and deciders,
 * and the refusals (an atom or flow twice, duplicate names).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DuplicateNameError,
  GraphFlow,
  InvariantViolation,
  LinearFlow,
  Times,
  UnorderedFlow,
  compile,
  isFlow,
  load,
  run,
  task,
  type Compilation,
  type Flow,
  type FlowItem,
  type Link,
} from '../../index.js';
import { predsOf, succsOf } from '../../engines/compiler/compile.js';

const t = (name: string, requires: string[] = [], provides: string[] = []) => task({ name, requires, provides, execute: () => undefined });
const idx = (c: Compilation, name: string): number => {
  const i = c.byName.get(name);
  assert.ok(i !== undefined, `no atom '${name}'`);
  return i;
};
const label = (c: Compilation, v: number): string => c.atoms[v]?.name ?? `#${v - c.atoms.length}`;
/** Every edge as `from>to` (barriers as #k), sorted. */
const edges = (c: Compilation): string[] => {
  const out: string[] = [];
  for (let u = 0; u < c.graph.nodeCount; u++) for (const v of succsOf(c.graph, u)) out.push(`${label(c, u)}>${label(c, v)}`);
  return out.sort();
};
/** Node ids that reach `v` through one or more edges. */
const ancestors = (c: Compilation, v: number): Set<number> => {
  const seen = new Set<number>();
  const stack = [v];
  while (stack.length > 0) {
    for (const p of predsOf(c.graph, stack.pop()!)) {
      if (!seen.has(p)) {
        seen.add(p);
        stack.push(p);
      }
    }
  }
  return seen;
};
const atomsOf = (c: Compilation, prefix: string): number[] => c.atoms.filter((a) => a.name.startsWith(prefix)).map((a) => a.index);
const group = (kind: 'u' | 'l', name: string, size: number): Flow => {
  const f = kind === 'u' ? new UnorderedFlow(name) : new LinearFlow(name);
  for (let i = 0; i < size; i++) f.add(t(`${name}${i}`));
  return f;
};

describe('compile: structure', () => {
  test('a linear flow is a chain; an unordered flow has no edges', () => {
    const c = compile(new LinearFlow('f').add(t('a'), t('b'), t('c')));
    assert.equal(c.graph.nodeCount, 3);
    assert.deepEqual(edges(c), ['a>b', 'b>c']);
    assert.deepEqual(
      c.atoms.map((a) => [a.index, a.name, a.kind, a.flow, a.pos, a.retry]),
      [
        [0, 'a', 'task', 0, 0, -1],
        [1, 'b', 'task', 0, 1, -1],
        [2, 'c', 'task', 0, 2, -1],
      ],
    );
    assert.deepEqual(c.flows.map((f) => [f.name, f.pattern, f.parent, f.depth, f.retry]), [['f', 'linear', -1, 0, -1]]);
    assert.equal(c.rootName, 'f');
    const u = compile(new UnorderedFlow('u').add(t('a'), t('b'), t('c')));
    assert.equal(u.graph.nodeCount, 3);
    assert.deepEqual(edges(u), []);
  });

  test('linear(u1, unordered(x, y, z), u2): u1 before every child, every child before u2', () => {
    const c = compile(new LinearFlow('f').add(t('u1'), new UnorderedFlow('mid').add(t('x'), t('y'), t('z')), t('u2')));
    assert.deepEqual(edges(c), ['u1>x', 'u1>y', 'u1>z', 'x>u2', 'y>u2', 'z>u2']);
    assert.deepEqual(
      c.atoms.map((a) => [a.name, a.flow, a.pos]),
      [
        ['u1', 0, 0],
        ['x', 1, 0],
        ['y', 1, 1],
        ['z', 1, 2],
        ['u2', 0, 2],
      ],
    );
    assert.deepEqual(c.flows.map((f) => [f.name, f.pattern, f.parent, f.depth, f.pos]), [
      ['f', 'linear', -1, 0, 0],
      ['mid', 'unordered', 0, 1, 1],
    ]);
  });

  test('nested linear flows inside an unordered flow keep their own chains and entries', () => {
    const c = compile(new LinearFlow('f').add(t('s'), new UnorderedFlow('u').add(group('l', 'p', 2), group('l', 'q', 3)), t('e')));
    assert.deepEqual(edges(c), ['p0>p1', 'p1>e', 'q0>q1', 'q1>q2', 'q2>e', 's>p0', 's>q0']);
  });

  test('a graph flow is entered at its children without incoming links and left at those without outgoing ones', () => {
    const a = t('a', [], ['x']);
    const graph = new GraphFlow('g').add(t('b', ['x']), t('c'), a);
    const c = compile(new LinearFlow('f').add(t('s'), graph, t('e')));
    assert.deepEqual(edges(c), ['a>b', 'b>e', 'c>e', 's>a', 's>c']);
    assert.deepEqual(c.flows[1]!.childSuccessors, [[], [2], []]);
    assert.deepEqual(c.atoms.map((x) => [x.name, x.pos]), [['s', 0], ['c', 0], ['a', 1], ['b', 2], ['e', 2]]);
  });

  test('a wide join goes through a barrier node and keeps every ordering', () => {
    const c = compile(new LinearFlow('f').add(group('u', 'p', 10), group('u', 'q', 10)));
    assert.equal(c.atoms.length, 20);
    assert.ok(c.graph.nodeCount > c.atoms.length);
    const edgeCount = edges(c).length;
    assert.ok(edgeCount < 100, `${edgeCount} edges`);
    const first = atomsOf(c, 'p');
    for (const q of atomsOf(c, 'q')) {
      const before = ancestors(c, q);
      assert.ok(first.every((p) => before.has(p)), `q atom ${q}`);
      assert.ok(!atomsOf(c, 'q').some((other) => before.has(other)));
    }
    for (const p of first) assert.ok(![...ancestors(c, p)].some((x) => x < c.atoms.length));
    for (let b = c.atoms.length; b < c.graph.nodeCount; b++) {
      assert.deepEqual(predsOf(c.graph, b).sort((x, y) => x - y), first);
      assert.deepEqual(succsOf(c.graph, b).sort((x, y) => x - y), atomsOf(c, 'q'));
    }
  });

  test('a small join (2 x 2) uses direct edges', () => {
    const c = compile(new LinearFlow('f').add(group('u', 'p', 2), group('u', 'q', 2)));
    assert.equal(c.graph.nodeCount, 4);
    assert.deepEqual(edges(c), ['p0>q0', 'p0>q1', 'p1>q0', 'p1>q1']);
  });

  test('the same edge made twice is kept once', () => {
    const a = t('a', [], ['x']);
    const b = t('b', ['x']);
    const c = compile(new GraphFlow('g').add(a, b).link(a, b));
    assert.deepEqual(edges(c), ['a>b']);
    // A flow that reports every link twice: the compiler itself must drop the repeat.
    class Doubled extends GraphFlow {
      override *iterLinks(): Iterable<Link> {
        for (const l of super.iterLinks()) {
          yield l;
          yield l;
        }
      }
    }
    const d = compile(new Doubled('d').add(t('p', [], ['x']), t('m', ['x'], ['y']), t('q', ['x', 'y'])));
    assert.deepEqual(edges(d), ['m>q', 'p>m', 'p>q']);
    assert.deepEqual(predsOf(d.graph, idx(d, 'q')), [idx(d, 'p'), idx(d, 'm')]);
    assert.equal(d.graph.succList.length, 3);
    assert.equal(d.graph.predList.length, 3);
  });

  test('a single task as root compiles to one atom in an implicit flow', () => {
    const solo = t('solo', [], ['z']);
    const c = compile(solo);
    assert.equal(c.root, solo);
    assert.equal(c.rootName, 'solo');
    assert.equal(c.atoms.length, 1);
    assert.equal(c.atoms[0]!.atom, solo);
    assert.equal(c.graph.nodeCount, 1);
    assert.deepEqual([predsOf(c.graph, 0), succsOf(c.graph, 0)], [[], []]);
    assert.equal(c.flows.length, 1);
    assert.deepEqual([...c.providers], [['z', [0]]]);
  });
});

describe('compile: flows without atoms', () => {
  test('a graph link through an empty subflow still orders its ends (a before b)', () => {
    const a = t('a');
    const b = t('b');
    const empty = new LinearFlow('empty');
    const c = compile(new GraphFlow('g').add(a, empty, b).link(a, empty).link(empty, b));
    assert.ok(ancestors(c, idx(c, 'b')).has(idx(c, 'a')), `edges: ${edges(c).join(' ')}`);
    assert.equal(c.graph.nodeCount, 3, 'the empty flow is one pass-through node');
  });

  test('an empty subflow in a linear flow and an empty root compile', () => {
    const c = compile(new LinearFlow('f').add(t('a'), new UnorderedFlow('none'), t('b')));
    assert.ok(ancestors(c, idx(c, 'b')).has(idx(c, 'a')));
    const root = compile(new LinearFlow('nothing'));
    assert.equal(root.atoms.length, 0);
  });
});

describe('compile: retries', () => {
  test("a flow's retry comes first and governs the flow's atoms", () => {
    const r = new Times({ attempts: 3 });
    const c = compile(new LinearFlow('f', { retry: r }).add(t('a'), new UnorderedFlow('u').add(t('x'), t('y')), t('b')));
    const ri = idx(c, 'f_retry');
    assert.equal(ri, 0);
    assert.deepEqual([c.atoms[ri]!.atom, c.atoms[ri]!.kind, c.atoms[ri]!.pos, c.atoms[ri]!.retry, c.atoms[ri]!.flow], [r, 'retry', -1, -1, 0]);
    assert.equal(c.flows[0]!.retry, ri);
    assert.deepEqual(edges(c), ['a>x', 'a>y', 'f_retry>a', 'x>b', 'y>b']);
    for (const name of ['a', 'x', 'y', 'b']) assert.equal(c.atoms[idx(c, name)]!.retry, ri, name);
  });

  test('an unordered retried flow: retry before every entry; a nested retry governs its own atoms', () => {
    const inner = new LinearFlow('inner', { retry: new Times({ attempts: 2 }) }).add(t('i1'), t('i2'));
    const c = compile(new UnorderedFlow('outer', { retry: new Times() }).add(t('o1'), inner, t('o2')));
    const outerRetry = idx(c, 'outer_retry');
    const innerRetry = idx(c, 'inner_retry');
    assert.deepEqual(edges(c), ['i1>i2', 'inner_retry>i1', 'outer_retry>inner_retry', 'outer_retry>o1', 'outer_retry>o2']);
    assert.equal(c.atoms[innerRetry]!.retry, outerRetry);
    assert.equal(c.atoms[innerRetry]!.flow, c.flows.findIndex((f) => f.name === 'inner'));
    for (const name of ['o1', 'o2']) assert.equal(c.atoms[idx(c, name)]!.retry, outerRetry);
    for (const name of ['i1', 'i2']) assert.equal(c.atoms[idx(c, name)]!.retry, innerRetry);
    assert.equal(c.atoms[outerRetry]!.retry, -1);
  });
});

describe('compile: refusals', () => {
  test('the same atom object twice in the tree', () => {
    const a = t('a');
    assert.throws(() => compile(new LinearFlow('f').add(a, new UnorderedFlow('u').add(t('b'), a))), (e: unknown) => e instanceof InvariantViolation && /more than once/.test(e.message));
    const r = new Times();
    const twice = new LinearFlow('f').add(new LinearFlow('p', { retry: r }).add(t('p1')), new LinearFlow('q', { retry: r }).add(t('q1')));
    assert.throws(() => compile(twice), (e: unknown) => e instanceof InvariantViolation && /more than once/.test(e.message));
  });

  test('the same atom object twice, after another atom of its name, is still named as added twice', () => {
    const other = t('a');
    const a = t('a');
    // add() refuses the name clash it can see (DuplicateNameError); built so that it cannot, compile() finds both.
    assert.throws(() => new LinearFlow('f').add(other, a), DuplicateNameError);
    const l = new LinearFlow('l');
    const f = new LinearFlow('f').add(other, l);
    l.add(a);
    const m = new LinearFlow('m');
    f.add(m);
    m.add(a);
    assert.throws(() => compile(f), (e: unknown) => e instanceof InvariantViolation && /more than once/.test(e.message));
  });

  test('the same flow object twice in the tree', () => {
    const sub = new LinearFlow('sub').add(t('s'));
    const f = new LinearFlow('f').add(sub, new UnorderedFlow('u').add(sub));
    assert.throws(() => compile(f), (e: unknown) => e instanceof InvariantViolation && /'sub'.*more than once/.test(e.message));
  });

  test('two distinct atoms with the same name', () => {
    assert.throws(
      () => compile(new UnorderedFlow('f').add(t('a'), t('b'), new LinearFlow('l').add(t('b'), t('a'), t('c')))),
      (e: unknown) => e instanceof DuplicateNameError && e.names.join() === 'a,b',
    );
  });

  test('a retry or a non-flow object as the root', () => {
    assert.throws(() => compile(new Times() as unknown as FlowItem), InvariantViolation);
    assert.throws(() => compile({ name: 'x' } as unknown as FlowItem), InvariantViolation);
  });
});

describe('compile: providers and deciders', () => {
  test('providers maps each name to the atoms providing it, in flow order', () => {
    const c = compile(
      new LinearFlow('f', { retry: new Times({ provides: 'n' }) }).add(
        t('p1', [], ['x']),
        new UnorderedFlow('u').add(t('p2', [], ['x', 'y']), t('none')),
        t('p3', ['x'], ['y', 'n']),
      ),
    );
    assert.deepEqual(Object.fromEntries(c.providers), { n: [0, 4], x: [1, 2], y: [2, 4] });
    assert.deepEqual(c.atoms.map((a) => a.name), ['f_retry', 'p1', 'p2', 'none', 'p3']);
  });

  test('a decider on a graph link is registered on each entry of its target, with the exits of its source', () => {
    const decider = () => false;
    const a = t('a', [], ['x']);
    const b = t('b', ['x']);
    const c = compile(new GraphFlow('g').add(b, a).link(a, b, { decider, deciderDepth: 'atom' }));
    assert.deepEqual([...c.deciders], [[idx(c, 'b'), [{ sources: [idx(c, 'a')], decider, depth: 'ATOM' }]]]);
    assert.deepEqual(c.flows[0]!.childSuccessors, [[1], []]);

    const src = new UnorderedFlow('src').add(t('s1'), t('s2'));
    const dst = new LinearFlow('dst').add(t('d1'), t('d2'));
    const g = compile(new GraphFlow('g').add(src, dst, t('free')).link(src, dst, { decider }));
    assert.deepEqual([...g.deciders], [[idx(g, 'd1'), [{ sources: [idx(g, 's1'), idx(g, 's2')], decider, depth: 'ALL' }]]]);
    assert.deepEqual(edges(g), ['d1>d2', 's1>d1', 's2>d1']);
    const [d1, d2] = [() => true, () => false];
    const m = compile(new GraphFlow('m').add(t('a1'), t('a2'), t('b')).link('a1', 'b', { decider: d1 }).link('a2', 'b', { decider: d2, deciderDepth: 'flow' }));
    assert.deepEqual(m.deciders.get(idx(m, 'b')), [
      { sources: [idx(m, 'a1')], decider: d1, depth: 'ALL' },
      { sources: [idx(m, 'a2')], decider: d2, depth: 'FLOW' },
    ]);
    assert.deepEqual(compile(new LinearFlow('plain').add(t('a'), t('b'))).deciders.size, 0);
  });
});

type Spec = { kind: 'task' } | { kind: 'linear' | 'unordered' | 'graph'; children: Spec[]; links: Array<[number, number]>; retry: boolean };

describe('compile: properties', () => {
  test('random nested flows: preds are the transpose of succs, acyclic, and every ordering is kept', () => {
    const { tree } = fc.letrec<{ tree: Spec; node: Spec }>((tie) => ({
      tree: fc.oneof({ depthSize: 'small' }, fc.constant({ kind: 'task' as const }), tie('node')),
      node: fc.record({
        kind: fc.constantFrom('linear' as const, 'unordered' as const, 'graph' as const),
        children: fc.array(tie('tree'), { maxLength: 5 }),
        links: fc.array(fc.tuple(fc.nat(4), fc.nat(4)), { maxLength: 4 }),
        retry: fc.boolean(),
      }),
    }));
    fc.assert(
      fc.property(tree, (spec) => {
        let n = 0;
        const orderings: Array<[FlowItem, FlowItem]> = [];
        const build = (s: Spec): FlowItem => {
          if (s.kind === 'task') return t(`t${n++}`);
          const name = `f${n++}`;
          const options = s.retry ? { retry: new Times() } : {};
          const f = s.kind === 'linear' ? new LinearFlow(name, options) : s.kind === 'unordered' ? new UnorderedFlow(name, options) : new GraphFlow(name, options);
          const kids = s.children.map(build);
          f.add(...kids);
          if (f instanceof GraphFlow) {
            for (const [i, j] of s.links) {
              const [lo, hi] = [Math.min(i, j), Math.max(i, j)];
              if (hi < kids.length && lo !== hi) f.link(kids[lo]!, kids[hi]!);
            }
          }
          if (f instanceof LinearFlow || f instanceof GraphFlow) for (const [u, v] of f.iterLinks()) orderings.push([u, v]);
          return f;
        };
        const root = build(spec.kind === 'task' ? { kind: 'linear', children: [spec], links: [], retry: false } : spec);
        const c = compile(root);
        const g = c.graph;
        const inFlow = (flow: number, name: string): boolean => flow >= 0 && (c.flows[flow]!.name === name || inFlow(c.flows[flow]!.parent, name));
        const atomCount = c.atoms.length;
        let total = 0;
        for (let u = 0; u < g.nodeCount; u++) {
          const succ = succsOf(g, u);
          assert.equal(new Set(succ).size, succ.length, `repeated successor of ${u}`);
          assert.ok(!succ.includes(u));
          for (const v of succ) assert.equal(predsOf(g, v).filter((p) => p === u).length, 1, `${u}>${v} missing from preds`);
          total += succ.length;
          // A barrier joins groups, or stands for a flow without atoms (then it may be linked on one side or none).
          if (u >= atomCount && (succ.length === 0 || predsOf(g, u).length === 0)) {
            assert.ok(c.flows.some((f) => !c.atoms.some((a) => inFlow(a.flow, f.name))), 'a barrier joins something');
          }
        }
        assert.equal(g.predList.length, total);
        assert.equal(g.succList.length, total);
        assert.equal(g.predStart[g.nodeCount], total);
        // Acyclic: Kahn's algorithm visits every node.
        const indeg = Array.from({ length: g.nodeCount }, (_, v) => predsOf(g, v).length);
        const ready = indeg.flatMap((d, v) => (d === 0 ? [v] : []));
        let visited = 0;
        while (ready.length > 0) {
          visited++;
          for (const w of succsOf(g, ready.pop()!)) if (--indeg[w]! === 0) ready.push(w);
        }
        assert.equal(visited, g.nodeCount);
        // Every atom of a linked child runs after every atom of the child it is linked from.
        const atomsIn = (x: FlowItem): number[] => c.atoms.filter((a) => a.atom === x || (isFlow(x) && inFlow(a.flow, x.name))).map((a) => a.index);
        for (const [u, v] of orderings) {
          const before = atomsIn(u);
          for (const w of atomsIn(v)) {
            const anc = ancestors(c, w);
            assert.ok(before.every((p) => anc.has(p)), `${u.name} before ${v.name}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('engines: ordering through an empty subflow', () => {
  for (const engine of ['serial', 'parallel'] as const) {
    test(`${engine}: a → empty → b runs a before b, and an empty flow runs to SUCCESS`, async () => {
      const log: string[] = [];
      const a = task({
        name: 'a',
        execute: async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          log.push('a');
        },
      });
      const b = task({ name: 'b', execute: () => void log.push('b') });
      const empty = new LinearFlow('empty');
      await run(new GraphFlow('g').add(a, empty, b).link(a, empty).link(empty, b), { engine });
      assert.deepEqual(log, ['a', 'b']);
      const e = load(new LinearFlow('nothing'), { engine });
      await e.run();
      assert.equal(e.storage.getFlowState(), 'SUCCESS');
    });
  }
});
