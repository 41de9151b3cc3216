/**
 * Functions as flows: a `Registry` holds plain functions and what each depends on, and makes a
 * `GraphFlow` of them (all, or some targets and what they transitively need). Functions come in
 * by `registry.task(id, [options], fn)` or as standard (TC39 / TypeScript 5) decorators on static
 * methods. Namespaces (`getRegistry`, `useNamespace`, `clearRegistry`) keep a registry per name;
 * the active one follows the async context (AsyncLocalStorage), like Astrum's registry.
 *
 * This module builds flows only. Running and drawing need the engines, which patterns may not
 * import: the root module (`atomflow`) plugs them in (`connectRegistryEngine`), and widens
 * `RegistryRunOptions` with the engine's load options.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AtomContext } from '../lib/atom.js';
import { CycleError, DuplicateNameError, InvariantViolation, NotFound } from '../lib/errors.js';
import type { FlowItem } from '../lib/flow.js';
import { Times } from '../lib/retry.js';
import { task as makeTask } from '../lib/task.js';
import { findCyclePath } from './cycles.js';
import { GraphFlow } from './graph.js';
import { LinearFlow } from './linear.js';

/** A registered function: gets `{ [dependencyId]: result, ...data }` and the atom context. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RegistryFunction<R = unknown> = (args: any, ctx: AtomContext) => R | Promise<R>;

export interface RegistryTaskOptions {
  /** Ids of the tasks whose results this one receives (they may be registered later). */
  readonly dependsOn?: readonly string[];
  /** How many more attempts after a failure (a `Times` retry around this task alone); default 0. */
  readonly retry?: number;
  /** Extra arguments passed with the dependencies' results (a dependency id may not be reused). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** The decorator form's options: the id defaults to the method's name. */
export interface RegistryDecoratorOptions extends RegistryTaskOptions {
  readonly id?: string;
}

export interface RegisteredTask {
  readonly id: string;
  readonly fn: RegistryFunction;
  readonly dependsOn: readonly string[];
  readonly retry: number;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface RegistryFlowOptions {
  /** The tasks wanted; the flow holds them and what they transitively need (default: every task). */
  readonly targets?: readonly string[];
  /** The flow's name (default: the registry's name). */
  readonly name?: string;
}

/**
 * `run()` options: the targets, plus (with the engines plugged in by the root module) every
 * `load()` option and `signal`.
 */
export interface RegistryRunOptions {
  readonly targets?: readonly string[];
}

export interface VisualizeOptions {
  readonly format?: 'mermaid' | 'dot';
  readonly targets?: readonly string[];
}

/** What the engines lend the registry (see the module comment). */
export interface RegistryEngine {
  run(flow: FlowItem, options: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>>;
  draw(flow: FlowItem, format: 'mermaid' | 'dot'): string;
}

let engine: RegistryEngine | undefined;

/** Plugs the engines in (called once by the root module; not part of the public surface). */
export function connectRegistryEngine(e: RegistryEngine): void {
  engine = e;
}

function needEngine(what: string): RegistryEngine {
  if (engine === undefined) {
    throw new InvariantViolation(`Registry.${what}() needs the engines: import Registry from 'atomflow' (the root module), not only 'atomflow/patterns'`);
  }
  return engine;
}

/** A standard decorator of a static method. */
export type StaticMethodDecorator = <This, F extends RegistryFunction>(method: F, context: ClassMethodDecoratorContext<This, F>) => void;

const OPTION_KEYS: ReadonlySet<string> = new Set(['dependsOn', 'retry', 'data']);
const DECORATOR_KEYS: ReadonlySet<string> = new Set(['id', 'dependsOn', 'retry', 'data']);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDecoratorContext = (v: unknown): v is ClassMethodDecoratorContext =>
  isRecord(v) && typeof v['kind'] === 'string' && 'name' in v && typeof v['addInitializer'] === 'function';

interface Entry extends RegisteredTask {
  /** Calls `fn` (bound to its class for a decorated static method). */
  readonly call: RegistryFunction;
}

export class Registry {
  readonly name: string;
  readonly #tasks = new Map<string, Entry>();

  constructor(name = 'default') {
    if (typeof name !== 'string' || name.length === 0) throw new InvariantViolation(`a registry needs a non-empty name, not ${JSON.stringify(name)}`, { option: 'name' });
    this.name = name;
  }

  /**
   * Registers `fn` under `id`: `task(id, fn)`, `task(id, options, fn)`. With no function it returns
   * a decorator for a static method: `@registry.task()`, `@registry.task({ dependsOn })`,
   * `@registry.task('id', options)`; the bare `@registry.task` works too. The id defaults to the
   * method's name. A duplicate id is a `DuplicateNameError`, now.
   */
  task(id: string, fn: RegistryFunction): RegisteredTask;
  task(id: string, options: RegistryTaskOptions, fn: RegistryFunction): RegisteredTask;
  task(options?: RegistryDecoratorOptions): StaticMethodDecorator;
  task(id: string, options?: RegistryTaskOptions): StaticMethodDecorator;
  task<This, F extends RegistryFunction>(method: F, context: ClassMethodDecoratorContext<This, F>): void;
  task(a?: unknown, b?: unknown, c?: unknown): RegisteredTask | StaticMethodDecorator | void {
    if (typeof a === 'function' && isDecoratorContext(b)) return this.#decorate({}, a as RegistryFunction, b);
    if (typeof a === 'string') {
      if (typeof b === 'function') return this.#add(a, {}, b as RegistryFunction, undefined);
      if (typeof c === 'function') return this.#add(a, this.#options(a, b, OPTION_KEYS), c as RegistryFunction, undefined);
      if (c !== undefined) throw new InvariantViolation(`registry '${this.name}': task '${a}' needs a function, not ${typeof c}`, { subject: a });
      const options = this.#options(a, b, OPTION_KEYS);
      return (method, context) => this.#decorate({ ...options, id: a }, method, context);
    }
    if (a !== undefined && !isRecord(a)) {
      throw new InvariantViolation(`registry '${this.name}': task() takes an id and a function, or decorator options, not ${typeof a}`);
    }
    if (b !== undefined) throw new InvariantViolation(`registry '${this.name}': task(options) takes no more arguments; give the id first to register a function`);
    const options = this.#options('(decorator)', a ?? {}, DECORATOR_KEYS) as RegistryDecoratorOptions;
    return (method, context) => this.#decorate(options, method, context);
  }

  #options(id: string, raw: unknown, keys: ReadonlySet<string>): RegistryTaskOptions & { id?: string } {
    if (raw === undefined) return {};
    if (!isRecord(raw)) throw new InvariantViolation(`registry '${this.name}': task '${id}': options must be an object`, { subject: id });
    for (const k of Object.keys(raw)) {
      if (!keys.has(k)) throw new InvariantViolation(`registry '${this.name}': task '${id}': unknown option '${k}' (known: ${[...keys].join(', ')})`, { subject: id, option: k });
    }
    return raw as RegistryTaskOptions & { id?: string };
  }

  #decorate(options: RegistryDecoratorOptions, method: RegistryFunction, context: ClassMethodDecoratorContext): void {
    const label = typeof context.name === 'symbol' ? context.name.description ?? '' : context.name;
    if (context.kind !== 'method' || !context.static) {
      throw new InvariantViolation(
        `registry '${this.name}': @task decorates static methods only ('${label}' is ${context.kind === 'method' ? 'an instance method' : `a ${context.kind}`})`,
        { subject: label },
      );
    }
    const { id, ...rest } = options;
    let owner: unknown;
    context.addInitializer(function (this: unknown) {
      owner = this;
    });
    this.#add(id ?? label, rest, method, (args, ctx) => method.call(owner, args, ctx));
  }

  #add(id: string, options: RegistryTaskOptions, fn: RegistryFunction, call: RegistryFunction | undefined): RegisteredTask {
    const where = `registry '${this.name}'`;
    if (typeof id !== 'string' || id.length === 0) throw new InvariantViolation(`${where}: a task id must be a non-empty string`, { option: 'id' });
    if (typeof fn !== 'function') throw new InvariantViolation(`${where}: task '${id}' needs a function`, { subject: id });
    const dependsOn = options.dependsOn ?? [];
    if (!Array.isArray(dependsOn) || dependsOn.some((d) => typeof d !== 'string' || d.length === 0)) {
      throw new InvariantViolation(`${where}: task '${id}': dependsOn must be a list of task ids`, { subject: id, option: 'dependsOn' });
    }
    if (new Set(dependsOn).size !== dependsOn.length) {
      throw new InvariantViolation(`${where}: task '${id}' lists a dependency twice: [${dependsOn.join(', ')}]`, { subject: id, option: 'dependsOn' });
    }
    if (dependsOn.includes(id)) throw new CycleError(this.name, `task '${id}' depending on itself (${id} → ${id})`, [id, id]);
    const retry = options.retry ?? 0;
    if (typeof retry !== 'number' || !Number.isInteger(retry) || retry < 0) {
      throw new InvariantViolation(`${where}: task '${id}': retry must be a whole number of further attempts (>= 0), not ${JSON.stringify(retry)}`, { subject: id, option: 'retry' });
    }
    const data = options.data ?? {};
    if (!isRecord(data)) throw new InvariantViolation(`${where}: task '${id}': data must be an object of named values`, { subject: id, option: 'data' });
    const clash = Object.keys(data).find((k) => dependsOn.includes(k));
    if (clash !== undefined) {
      throw new InvariantViolation(`${where}: task '${id}': data '${clash}' has the name of a dependency, whose result comes in under it`, { subject: id, option: 'data' });
    }
    if (this.#tasks.has(id)) throw new DuplicateNameError([id], `${where}: a task '${id}' is already registered`);
    const entry: Entry = Object.freeze({
      id,
      fn,
      dependsOn: Object.freeze([...dependsOn]),
      retry,
      data: Object.freeze({ ...data }),
      call: call ?? fn,
    });
    this.#tasks.set(id, entry);
    return Object.freeze({ id, fn, dependsOn: entry.dependsOn, retry, data: entry.data });
  }

  /** Every registered task, in registration order. */
  tasks(): RegisteredTask[] {
    return [...this.#tasks.values()].map(({ id, fn, dependsOn, retry, data }) => Object.freeze({ id, fn, dependsOn, retry, data }));
  }

  /** Forgets every task. */
  clear(): void {
    this.#tasks.clear();
  }

  /**
   * The targets and what they transitively need, in registration order; `NotFound` for an unknown
   * target or dependency, `CycleError` (naming the path) for tasks that need each other.
   */
  #select(targets: readonly string[] | undefined): Entry[] {
    const where = `registry '${this.name}'`;
    if (targets !== undefined && (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string'))) {
      throw new InvariantViolation(`${where}: targets must be a list of task ids`, { option: 'targets' });
    }
    const wanted = new Set<string>();
    const stack: string[] = [];
    for (const t of targets ?? [...this.#tasks.keys()]) {
      if (!this.#tasks.has(t)) throw new NotFound(`${where}: no task '${t}' to target (registered: ${[...this.#tasks.keys()].join(', ') || 'none'})`, t);
      if (!wanted.has(t)) wanted.add(t), stack.push(t);
    }
    while (stack.length > 0) {
      const entry = this.#tasks.get(stack.pop()!)!;
      for (const d of entry.dependsOn) {
        if (!this.#tasks.has(d)) throw new NotFound(`${where}: task '${entry.id}' depends on '${d}', which is not registered`, d);
        if (!wanted.has(d)) wanted.add(d), stack.push(d);
      }
    }
    const selected = [...this.#tasks.values()].filter((e) => wanted.has(e.id));
    const cycle = findCycle(selected);
    if (cycle !== undefined) throw new CycleError(this.name, `tasks needing each other (${cycle.join(' → ')})`, cycle);
    return selected;
  }

  /** A `GraphFlow` of the targets and what they transitively need (every task by default). */
  flow(options: RegistryFlowOptions = {}): GraphFlow {
    if (!isRecord(options as unknown)) throw new InvariantViolation(`registry '${this.name}': flow() options must be an object`);
    for (const k of Object.keys(options)) {
      if (k !== 'targets' && k !== 'name') throw new InvariantViolation(`registry '${this.name}': unknown flow() option '${k}' (known: targets, name)`, { option: k });
    }
    const flow = new GraphFlow(options.name ?? this.name);
    flow.add(...this.#select(options.targets).map(toItem));
    return flow;
  }

  /** Runs the flow of the targets (load + run + fetchAll): results keyed by task id (and any store names). */
  async run(options: RegistryRunOptions = {}): Promise<Record<string, unknown>> {
    const e = needEngine('run');
    const { targets, ...rest } = options as RegistryRunOptions & Record<string, unknown>;
    return e.run(this.flow(targets === undefined ? {} : { targets }), rest);
  }

  /** The flow's execution graph as Mermaid (default) or Graphviz dot text. */
  visualize(options: VisualizeOptions = {}): string {
    const e = needEngine('visualize');
    const format = options.format ?? 'mermaid';
    if (format !== 'mermaid' && format !== 'dot') throw new InvariantViolation(`registry '${this.name}': visualize format must be 'mermaid' or 'dot', not ${JSON.stringify(format)}`, { option: 'format' });
    return e.draw(this.flow(options.targets === undefined ? {} : { targets: options.targets }), format);
  }
}

/** A registered function as a flow item: a task (in its own retried subflow when `retry` > 0). */
function toItem(e: Entry): FlowItem {
  const hasData = Object.keys(e.data).length > 0;
  const atom = makeTask({
    name: e.id,
    requires: e.dependsOn,
    provides: e.id,
    execute: hasData ? (args: Record<string, unknown>, ctx: AtomContext) => e.call({ ...args, ...e.data }, ctx) : (args, ctx) => e.call(args, ctx),
  });
  if (e.retry === 0) return atom;
  return new LinearFlow(e.id, { retry: new Times({ name: `${e.id}_retry`, attempts: e.retry + 1 }) }).add(atom);
}

/**
 * One cycle among the tasks as the ids it goes through (each needing the next, back to the first),
 * or undefined. A topological count over integers decides whether there is one; only then is
 * graphlib (`findCyclePath`, string-keyed and some ten times slower) asked to name it.
 */
function findCycle(entries: readonly Entry[]): string[] | undefined {
  const index = new Map(entries.map((e, i) => [e.id, i]));
  const waiting = new Int32Array(entries.length);
  const dependents: number[][] = entries.map(() => []);
  entries.forEach((e, i) => {
    waiting[i] = e.dependsOn.length;
    for (const d of e.dependsOn) dependents[index.get(d)!]!.push(i);
  });
  const ready: number[] = [];
  for (let i = 0; i < entries.length; i++) if (waiting[i] === 0) ready.push(i);
  let done = 0;
  while (ready.length > 0) {
    done++;
    for (const j of dependents[ready.pop()!]!) if (--waiting[j]! === 0) ready.push(j);
  }
  if (done === entries.length) return undefined;
  return findCyclePath(
    entries.map((e) => e.id),
    entries.flatMap((e) => e.dependsOn.map((d) => [e.id, d] as const)),
  );
}

// ---- namespaces ----------------------------------------------------------------------------------

const registries = new Map<string, Registry>();
const active = new AsyncLocalStorage<string>();

/** The namespace in effect here (the innermost `useNamespace`, across awaits), else 'default'. */
export function currentNamespace(): string {
  return active.getStore() ?? 'default';
}

/** The registry of a namespace (default: the active one), made on first use. */
export function getRegistry(namespace?: string): Registry {
  const ns = namespace ?? currentNamespace();
  if (typeof ns !== 'string' || ns.length === 0) throw new InvariantViolation(`a namespace must be a non-empty string, not ${JSON.stringify(ns)}`, { option: 'namespace' });
  let r = registries.get(ns);
  if (r === undefined) registries.set(ns, (r = new Registry(ns)));
  return r;
}

/**
 * Runs `fn` with `namespace` active (for `getRegistry()` without a name) and returns what it
 * returns (a promise too: the namespace stays active across its awaits). Nests; the outer
 * namespace is back once `fn` returns or throws.
 */
export function useNamespace<T>(namespace: string, fn: () => T): T {
  if (typeof namespace !== 'string' || namespace.length === 0) throw new InvariantViolation(`useNamespace() needs a non-empty namespace, not ${JSON.stringify(namespace)}`, { option: 'namespace' });
  if (typeof fn !== 'function') throw new InvariantViolation('useNamespace() needs a function to run', { option: 'fn' });
  return active.run(namespace, fn);
}

/** Empties one namespace's registry, or every namespace's (`getRegistry` keeps handing out the same, now empty, registries). */
export function clearRegistry(namespace?: string): void {
  if (namespace === undefined) for (const r of registries.values()) r.clear();
  else registries.get(namespace)?.clear();
}
