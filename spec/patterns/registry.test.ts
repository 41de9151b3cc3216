/**
 * Functions as flows (patterns/registry.ts): plain calls and standard decorators, namespaces
 * (nested, across awaits, restored on throw), targets, retry, data, results by dependency id,
 * every error, drawing, and the same registry flow on every engine kind.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CycleError,
  DuplicateNameError,
  GraphFlow,
  InvariantViolation,
  NotFound,
  Registry,
  clearRegistry,
  compile,
  currentNamespace,
  getRegistry,
  task,
  useNamespace,
  type AtomContext,
} from '../../index.js';
import { engineKinds } from '../support/index.js';

afterEach(() => clearRegistry());

/** extract → total (retried) → report, plus an unrelated 'audit'. */
function etl(options: { failTotal?: number } = {}): { reg: Registry; calls: string[] } {
  const reg = new Registry('etl');
  const calls: string[] = [];
  let failures = options.failTotal ?? 0;
  reg.task('extract', async () => (calls.push('extract'), [1, 2, 3]));
  reg.task('total', { dependsOn: ['extract'], retry: 2 }, ({ extract }: { extract: number[] }) => {
    calls.push('total');
    if (failures-- > 0) throw new Error('flaky');
    return extract.reduce((a, b) => a + b, 0);
  });
  reg.task('report', { dependsOn: ['total', 'extract'] }, ({ total, extract }: { total: number; extract: number[] }) => {
    calls.push('report');
    return `${extract.length} rows, total=${total}`;
  });
  reg.task('audit', () => (calls.push('audit'), 'ok'));
  return { reg, calls };
}

describe('Registry: plain calls', () => {
  test('tasks() lists what was registered, with defaults filled in', () => {
    const { reg } = etl();
    const listed = reg.tasks();
    assert.deepEqual(
      listed.map(({ id, dependsOn, retry, data }) => ({ id, dependsOn, retry, data })),
      [
        { id: 'extract', dependsOn: [], retry: 0, data: {} },
        { id: 'total', dependsOn: ['extract'], retry: 2, data: {} },
        { id: 'report', dependsOn: ['total', 'extract'], retry: 0, data: {} },
        { id: 'audit', dependsOn: [], retry: 0, data: {} },
      ],
    );
    assert.ok(listed.every((t) => typeof t.fn === 'function' && Object.isFrozen(t)));
  });

  test('a function receives its dependencies by id and provides under its own id', async () => {
    const { reg, calls } = etl();
    const results = await reg.run();
    assert.deepEqual(results, { extract: [1, 2, 3], total: 6, report: '3 rows, total=6', audit: 'ok' });
    assert.ok(calls.indexOf('extract') < calls.indexOf('total') && calls.indexOf('total') < calls.indexOf('report'));
  });

  test('flow() is a GraphFlow named after the registry; dependencies may be registered later', () => {
    const reg = new Registry('late');
    reg.task('b', { dependsOn: ['a'] }, ({ a }: { a: number }) => a + 1);
    reg.task('a', () => 1);
    const flow = reg.flow();
    assert.ok(flow instanceof GraphFlow);
    assert.equal(flow.name, 'late');
    assert.deepEqual([...flow.iterNodes()].map((x) => x.name), ['a', 'b']);
    assert.equal(reg.flow({ name: 'other' }).name, 'other');
  });

  test('targets: only them and what they transitively need', async () => {
    const { reg, calls } = etl();
    const c = compile(reg.flow({ targets: ['report'] }));
    assert.deepEqual(c.atoms.map((a) => a.name).sort(), ['extract', 'report', 'total', 'total_retry']);
    const results = await reg.run({ targets: ['total'] });
    assert.deepEqual(results, { extract: [1, 2, 3], total: 6 });
    assert.deepEqual(calls, ['extract', 'total']);
    assert.deepEqual(Object.keys(await reg.run({ targets: ['audit', 'extract'] })).sort(), ['audit', 'extract']);
  });

  test('retry: n more attempts around that task alone', async () => {
    const ok = etl({ failTotal: 2 });
    assert.equal((await ok.reg.run({ targets: ['total'] }))['total'], 6);
    assert.deepEqual(ok.calls, ['extract', 'total', 'total', 'total'], 'extract ran once: only the task is retried');

    const exhausted = etl({ failTotal: 3 });
    await assert.rejects(exhausted.reg.run({ targets: ['total'] }), /flaky/);
    assert.deepEqual(exhausted.calls, ['extract', 'total', 'total', 'total']);
  });

  test('data is passed as extra arguments, with the context as second argument', async () => {
    const reg = new Registry('data');
    reg.task('base', () => 10);
    reg.task('scaled', { dependsOn: ['base'], data: { factor: 3, label: 'x' } }, (args: { base: number; factor: number; label: string }, ctx: AtomContext) => ({
      args,
      name: ctx.name,
      aborted: ctx.signal.aborted,
    }));
    const results = await reg.run();
    assert.deepEqual(results['scaled'], { args: { base: 10, factor: 3, label: 'x' }, name: 'scaled', aborted: false });
  });

  test('run() passes load options (store, engine) through', async () => {
    const reg = new Registry('store');
    reg.task('greet', { dependsOn: ['who'] }, ({ who }: { who: string }) => `hello ${who}`);
    // 'who' is no task: the store provides it... but an unregistered dependency is refused first.
    await assert.rejects(reg.run({ store: { who: 'x' } }), NotFound);
    const reg2 = new Registry('store2');
    reg2.task('n', () => 2);
    assert.deepEqual(await reg2.run({ store: { extra: 1 }, engine: 'parallel', maxWorkers: 2 }), { extra: 1, n: 2 });
  });
});

describe('Registry: decorators (TC39 / TypeScript 5)', () => {
  test('static methods, with options or bare; the id defaults to the method name; `this` is the class', async () => {
    const reg = new Registry('deco');
    class Pipeline {
      static readonly base = 100;
      @reg.task
      static start(): number {
        return this.base;
      }
      @reg.task({ dependsOn: ['start'], retry: 1 })
      static double({ start }: { start: number }): number {
        return start * 2;
      }
      @reg.task('final', { dependsOn: ['double'], data: { suffix: '!' } })
      static finish({ double, suffix }: { double: number; suffix: string }): string {
        return `${double}${suffix}`;
      }
      @reg.task({ id: 'renamed' })
      static other(): string {
        return 'r';
      }
    }
    assert.equal(Pipeline.start(), 100, 'the method is still callable');
    assert.deepEqual(reg.tasks().map((t) => t.id), ['start', 'double', 'final', 'renamed']);
    assert.equal(reg.tasks()[0]!.fn, Pipeline.start);
    assert.deepEqual(await reg.run({ targets: ['final'] }), { start: 100, double: 200, final: '200!' });
  });

  test('an instance method is refused', () => {
    const reg = new Registry('deco2');
    assert.throws(() => {
      class Bad {
        @reg.task()
        run(): number {
          return 1;
        }
      }
      return Bad;
    }, (e: unknown) => e instanceof InvariantViolation && /static methods only \('run' is an instance method\)/.test(e.message));
    assert.equal(reg.tasks().length, 0);
  });

  test('a duplicate decorated id is refused when the class is defined', () => {
    const reg = new Registry('deco3');
    reg.task('x', () => 1);
    assert.throws(() => {
      class Dup {
        @reg.task()
        static x(): number {
          return 2;
        }
      }
      return Dup;
    }, DuplicateNameError);
  });
});

describe('Registry: errors', () => {
  test('a duplicate id is DuplicateNameError at registration', () => {
    const reg = new Registry('dup');
    reg.task('a', () => 1);
    assert.throws(() => reg.task('a', () => 2), (e: unknown) => e instanceof DuplicateNameError && e.names[0] === 'a' && /registry 'dup': a task 'a' is already registered/.test(e.message));
  });

  test('an unknown dependency or target is NotFound naming it, at flow()/run()', async () => {
    const reg = new Registry('nf');
    reg.task('a', { dependsOn: ['ghost'] }, () => 1);
    reg.task('b', () => 2);
    assert.throws(() => reg.flow(), (e: unknown) => e instanceof NotFound && e.subject === 'ghost' && /task 'a' depends on 'ghost'/.test(e.message));
    assert.doesNotThrow(() => reg.flow({ targets: ['b'] }), 'only what the targets need is checked');
    assert.throws(() => reg.flow({ targets: ['nope'] }), (e: unknown) => e instanceof NotFound && e.subject === 'nope');
    await assert.rejects(reg.run({ targets: ['nope'] }), NotFound);
  });

  test('a cycle is CycleError naming its path (graphlib findCycles), at flow(); a self-dependency at once', () => {
    const reg = new Registry('cyc');
    reg.task('start', () => 0);
    reg.task('a', { dependsOn: ['start', 'c'] }, () => 1);
    reg.task('b', { dependsOn: ['a'] }, () => 2);
    reg.task('c', { dependsOn: ['b'] }, () => 3);
    reg.task('free', () => 4);
    assert.throws(
      () => reg.flow(),
      (e: unknown) => e instanceof CycleError && e.flow === 'cyc' && JSON.stringify(e.cycle) === JSON.stringify(['a', 'c', 'b', 'a']) && e.message.includes('a → c → b → a'),
    );
    assert.doesNotThrow(() => reg.flow({ targets: ['free', 'start'] }), 'the cycle is outside these targets');
    assert.throws(() => reg.task('self', { dependsOn: ['self'] }, () => 0), (e: unknown) => e instanceof CycleError && e.message.includes('self → self'));
  });

  test('bad options are refused with InvariantViolation naming them', () => {
    const reg = new Registry('bad');
    assert.throws(() => reg.task('a', { retry: -1 }, () => 1), /retry must be a whole number/);
    assert.throws(() => reg.task('a', { retry: 1.5 }, () => 1), InvariantViolation);
    assert.throws(() => reg.task('a', { dependsOn: 'b' as unknown as string[] }, () => 1), /dependsOn must be a list/);
    assert.throws(() => reg.task('a', { dependsOn: ['b', 'b'] }, () => 1), /lists a dependency twice/);
    assert.throws(() => reg.task('a', { dependsOn: ['b'], data: { b: 1 } }, () => 1), /data 'b' has the name of a dependency/);
    assert.throws(() => reg.task('a', { retries: 1 } as never, () => 1), /unknown option 'retries'/);
    assert.throws(() => reg.task('', () => 1), /non-empty string/);
    assert.throws(() => reg.task('a', {}, 'x' as never), /needs a function/);
    assert.throws(() => reg.flow({ target: ['a'] } as never), /unknown flow\(\) option 'target'/);
    assert.throws(() => reg.visualize({ format: 'png' as never }), /'mermaid' or 'dot'/);
    assert.throws(() => new Registry(''), InvariantViolation);
    assert.equal(reg.tasks().length, 0, 'nothing refused was registered');
  });
});

test('GraphFlow: a refused link names the cycle it would close, in run order', () => {
  const mk = (name: string) => task({ name, execute: () => undefined });
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(mk) as [ReturnType<typeof mk>, ReturnType<typeof mk>, ReturnType<typeof mk>, ReturnType<typeof mk>];
  const g = new GraphFlow('g').add(a, b, c, d).link(a, b).link(b, c).link(a, d);
  assert.throws(
    () => g.link(c, a),
    (e: unknown) => e instanceof CycleError && JSON.stringify(e.cycle) === JSON.stringify(['c', 'a', 'b', 'c']) && e.message.includes("linking 'c' to 'a' (c → a → b → c)"),
  );
  assert.throws(() => g.link('d', 'd'), (e: unknown) => e instanceof CycleError && JSON.stringify(e.cycle) === JSON.stringify(['d', 'd']));
});

describe('Registry: namespaces', () => {
  test("getRegistry() is 'default' outside any namespace; a namespace's registry is made on demand and kept", () => {
    assert.equal(currentNamespace(), 'default');
    assert.equal(getRegistry().name, 'default');
    assert.equal(getRegistry('analytics'), getRegistry('analytics'));
    assert.notEqual(getRegistry('analytics'), getRegistry());
  });

  test('useNamespace nests, returns the value, and restores the outer namespace (also on throw)', () => {
    const seen: string[] = [];
    const out = useNamespace('outer', () => {
      getRegistry().task('x', () => 1);
      seen.push(currentNamespace());
      useNamespace('inner', () => {
        getRegistry().task('x', () => 2);
        seen.push(currentNamespace());
      });
      seen.push(currentNamespace());
      assert.throws(() =>
        useNamespace('boom', () => {
          throw new Error('inside');
        }),
      );
      seen.push(currentNamespace());
      return 42;
    });
    assert.equal(out, 42);
    assert.deepEqual(seen, ['outer', 'inner', 'outer', 'outer']);
    assert.equal(currentNamespace(), 'default');
    assert.deepEqual(getRegistry('outer').tasks().map((t) => t.id), ['x']);
    assert.deepEqual(getRegistry('inner').tasks().map((t) => t.id), ['x']);
    assert.equal(getRegistry().tasks().length, 0);
  });

  test('the namespace follows awaits, and concurrent namespaces do not mix', async () => {
    const register = async (ns: string, ms: number): Promise<string> =>
      useNamespace(ns, async () => {
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, ms));
        getRegistry().task(`in-${ns}`, () => ns);
        return currentNamespace();
      });
    const [a, b] = await Promise.all([register('a', 5), register('b', 0)]);
    assert.deepEqual([a, b], ['a', 'b']);
    assert.deepEqual(getRegistry('a').tasks().map((t) => t.id), ['in-a']);
    assert.deepEqual(getRegistry('b').tasks().map((t) => t.id), ['in-b']);
    assert.equal(currentNamespace(), 'default');
    await assert.rejects(
      useNamespace('async-throw', async () => {
        await null;
        throw new Error('later');
      }),
      /later/,
    );
    assert.equal(currentNamespace(), 'default');
  });

  test('decorators resolve the namespace when the class is defined', () => {
    useNamespace('deco-ns', () => {
      class Jobs {
        @(getRegistry().task())
        static nightly(): string {
          return 'n';
        }
      }
      return Jobs;
    });
    assert.deepEqual(getRegistry('deco-ns').tasks().map((t) => t.id), ['nightly']);
    assert.equal(getRegistry().tasks().length, 0);
  });

  test('clearRegistry(ns) empties one namespace; clearRegistry() all; handed-out registries stay the same objects', () => {
    const a = getRegistry('one');
    a.task('t', () => 1);
    getRegistry('two').task('t', () => 2);
    clearRegistry('one');
    assert.equal(getRegistry('one'), a);
    assert.equal(a.tasks().length, 0);
    assert.equal(getRegistry('two').tasks().length, 1);
    clearRegistry();
    assert.equal(getRegistry('two').tasks().length, 0);
    assert.doesNotThrow(() => clearRegistry('never-made'));
  });
});

describe('Registry: drawing', () => {
  test('visualize draws the compiled flow (mermaid and dot), the retry subflow as a box with its hexagon', () => {
    const { reg } = etl();
    const mermaid = reg.visualize({ targets: ['report'] });
    assert.match(mermaid, /^flowchart TD/);
    assert.match(mermaid, /subgraph f0\["etl \(graph\)"\]/);
    assert.match(mermaid, /subgraph f1\["total \(linear, retry total_retry\)"\]/);
    assert.match(mermaid, /\{\{"total_retry"\}\}/);
    assert.doesNotMatch(mermaid, /audit/);
    const dot = reg.visualize({ format: 'dot' });
    assert.match(dot, /^digraph "etl" \{/);
    assert.match(dot, /label="audit"/);
  });

  test('compilation.toGraph(): a graphlib Graph keyed by atom names, built once', () => {
    const { reg } = etl();
    const c = compile(reg.flow());
    const g = c.toGraph();
    assert.equal(c.toGraph(), g);
    assert.deepEqual(g.nodes().sort(), ['audit', 'extract', 'report', 'total', 'total_retry']);
    assert.deepEqual(g.successors('extract')!.sort(), ['report', 'total_retry']);
    assert.deepEqual(g.node('total_retry'), { kind: 'retry', name: 'total_retry', node: c.byName.get('total_retry'), flow: 1, pos: -1 });
    assert.equal(g.graph().name, 'etl');
    assert.deepEqual(g.edge('total', 'report'), { decider: false });
  });
});

for (const engine of engineKinds) {
  test(`the same registry flow on the ${engine} engine`, async () => {
    const reg = new Registry(`fan-${engine}`);
    const order: string[] = [];
    reg.task('root', () => (order.push('root'), 1));
    for (let i = 0; i < 5; i++) {
      reg.task(`leaf${i}`, { dependsOn: ['root'] }, async ({ root }: { root: number }) => {
        await new Promise((r) => setImmediate(r));
        order.push(`leaf${i}`);
        return root + i;
      });
    }
    reg.task('sum', { dependsOn: [0, 1, 2, 3, 4].map((i) => `leaf${i}`) }, (args: Record<string, number>) => (order.push('sum'), Object.values(args).reduce((a, b) => a + b, 0)));
    const results = await reg.run({ engine });
    assert.equal(results['sum'], 15);
    assert.equal(order[0], 'root');
    assert.equal(order.at(-1), 'sum');
  });
}
