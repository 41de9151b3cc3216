/**
 * The public engine: compile → prepare → validate → run, each idempotent, `run()` doing all of
 * them. The serial and parallel engines are the same code with another executor; the loop
 * itself lives in `runtime/machine.ts`.
 */
import { performance } from 'node:perf_hooks';
import type { ArgBinding } from '../lib/atom.js';
import type { FlowItem } from '../lib/flow.js';
import { Emitter, type EngineEvents, type Listener } from '../lib/events.js';
import { EngineLocked, InvariantViolation, MissingDependencies, NotFound, StorageFailure, WrappedFailure } from '../lib/errors.js';
import type { EngineState } from '../lib/states.js';
import type { Backend } from '../persistence/backend.js';
import { MemoryBackend } from '../persistence/memory.js';
import { updateFlow, type FlowDetail, type LogBook } from '../persistence/models.js';
import { compile, type Compilation } from './compiler/compile.js';
import { ParallelExecutor } from './executors/parallel.js';
import { SerialExecutor } from './executors/serial.js';
import type { Executor, Post } from './executors/executor.js';
import { resolveOptions, rulesFor, storedRules, type FailureRules, type LoadOptions, type ResolvedOptions } from './options.js';
import { freshStorage, persistFresh, storedStorage } from './prepare.js';
import { EngineStorage } from './storage-view.js';
import { Machine } from './runtime/machine.js';
import { Runtime } from './runtime/runtime.js';
import type { Storage } from './runtime/storage.js';

/** How long `run()` may go without letting the event loop turn (a run of synchronous atoms). */
const YIELD_EVERY_MS = 10;

const TERMINAL: ReadonlySet<EngineState> = new Set(['SUCCESS', 'REVERTED', 'FAILURE', 'SUSPENDED']);

export interface RunOptions {
  /** Aborting it acts as `suspend()`: nothing new starts, in-flight atoms finish. */
  signal?: AbortSignal;
}

export class Engine {
  readonly options: ResolvedOptions;
  readonly backend: Backend;
  readonly #root: FlowItem;
  readonly #events = new Emitter<EngineEvents>();
  #compilation: Compilation | undefined;
  #storage: Storage | undefined;
  /** True while the in-memory records match the backend. */
  #prepared = false;
  /** True once the run's records were first stored. */
  #stored = false;
  #machine: Machine | undefined;
  #locked = false;
  /** Attached (by `flowUuid`) to a run that had already finished: `run()` answers its outcome. */
  #finishedBefore = false;
  readonly #pendingInject: Array<Readonly<Record<string, unknown>>> = [];
  /** The view `engine.storage` returns. */
  readonly storage: EngineStorage;

  constructor(root: FlowItem, options: LoadOptions = {}) {
    this.options = resolveOptions(options);
    this.backend = this.options.backend ?? new MemoryBackend();
    this.#root = root;
    this.storage = new EngineStorage(() => this.#current(), (values) => this.#pendingInject.push(values));
    this.compile();
    if (this.options.flowDetail === undefined) {
      this.#storage = freshStorage(this.#compilation!, this.backend, { ...this.options, rules: rulesFor(this.options) });
    }
  }

  get kind(): 'serial' | 'parallel' {
    return this.options.engine === 'parallel' ? 'parallel' : 'serial';
  }

  /** Builds the execution graph (idempotent). Duplicate names and misplaced retries are refused here. */
  compile(): Compilation {
    this.#compilation ??= compile(this.#root);
    return this.#compilation;
  }

  #current(): Storage | undefined {
    return this.#storage;
  }

  /** Stores (or loads, when continuing a stored run) the LogBook, FlowDetail and atom details. */
  async prepare(): Promise<void> {
    const c = this.compile();
    if (this.#prepared) return;
    const o = this.options;
    if (this.#storage === undefined) {
      // Continuing a stored run.
      this.#storage = await storedStorage(c, this.backend, o.flowDetail!, { store: o.store, ids: o.ids, book: o.book, rules: o });
    } else if (!this.#stored) {
      // A chosen id that is already stored: attach to that run (an idempotent start).
      if (o.flowUuid !== undefined && (await this.#attach(c, o.flowUuid, false))) {
        // attached
      } else {
        try {
          await persistFresh(this.#storage);
        } catch (e) {
          // Another process stored the same id between our check and our write.
          if (o.flowUuid === undefined || !(await this.#attach(c, o.flowUuid, true))) throw e;
        }
      }
    } else {
      // Reloading after a storage failure: the store, not memory, says where the run is.
      this.#storage = await storedStorage(c, this.backend, this.#storage.flow.uuid, { store: undefined, ids: o.ids, book: undefined, rules: o });
    }
    this.#stored = true;
    this.#prepared = true;
    for (const values of this.#pendingInject.splice(0)) this.#storage.inject(values);
    await this.#storage.flush();
  }

  /** Loads the stored run `uuid` (if there is one) in place of the fresh one; whether it did. */
  async #attach(c: Compilation, uuid: string, afterClash: boolean): Promise<boolean> {
    try {
      await this.backend.getFlowDetail(uuid, { lazy: true });
    } catch (e) {
      if (e instanceof NotFound && !afterClash) return false;
      throw e;
    }
    this.#storage = await storedStorage(c, this.backend, uuid, { store: undefined, ids: this.options.ids, book: undefined, rules: this.options });
    const state = this.#storage.flow.state;
    this.#finishedBefore = state === 'SUCCESS' || state === 'REVERTED' || state === 'FAILURE';
    return true;
  }

  /** What `run()` answers for an attached run that had already finished: its stored outcome. */
  #storedOutcome(): void {
    const s = this.#storage!;
    if (s.flow.state === 'SUCCESS') return;
    const failures = s.details.filter((d) => d.failure !== null).map((d) => d.failure!);
    const reverts = s.details.filter((d) => d.revertFailure !== null).map((d) => d.revertFailure!);
    throw new WrappedFailure([...failures, ...reverts]);
  }

  /** Checks that every atom's execute and revert arguments will be provided. */
  validate(): void {
    const storage = this.#storage;
    if (!storage) throw new InvariantViolation('validate() needs the stored run: call prepare() (or run()) first');
    const missing: Record<string, string[]> = {};
    const check = (a: Compilation['atoms'][number], bindings: readonly ArgBinding[]): void => {
      for (const b of bindings) {
        if (b.optional || Object.hasOwn(a.atom.inject, b.stored)) continue;
        if (storage.canProvide(a.index, b.stored)) continue;
        const list = (missing[a.name] ??= []);
        if (!list.includes(b.stored)) list.push(b.stored);
      }
    };
    for (const a of storage.compilation.atoms) {
      if (a.atom.executeArgs.length > 0) check(a, a.atom.executeArgs);
      if (a.atom.revertArgs.length > 0 && a.atom.revertArgs !== a.atom.executeArgs) check(a, a.atom.revertArgs);
    }
    if (Object.keys(missing).length > 0) throw new MissingDependencies(missing, `flow '${storage.compilation.rootName}'`);
  }

  #executor(post: Post): Executor {
    return this.options.engine === 'parallel' ? new ParallelExecutor(post, this.options.maxWorkers) : new SerialExecutor(post);
  }

  async #start(options: RunOptions): Promise<Machine | undefined> {
    if (this.#locked) throw new EngineLocked(this.compile().rootName);
    this.#locked = true;
    try {
      if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
        throw new InvariantViolation("run option 'signal' must be an AbortSignal", { option: 'signal' });
      }
      await this.prepare();
      this.validate();
      if (this.#finishedBefore) {
        this.#locked = false;
        return undefined;
      }
      const rt = new Runtime(this.#storage!, this.#events);
      const o = this.options;
      if (this.#storage!.flow.state === 'REVERTED') await this.#resetAll(rt);
      const rules = this.rules;
      this.#machine = new Machine(rt, (post) => this.#executor(post), {
        onFailure: rules.onFailure,
        revertScope: rules.revertScope,
        signal: options.signal,
        clock: o.clock,
        random: o.random,
      });
      return this.#machine;
    } catch (e) {
      this.#locked = false;
      throw e;
    }
  }

  #end(machine: Machine, final: EngineState | undefined): void {
    this.#machine = undefined;
    this.#locked = false;
    // After a storage failure the in-memory run may be ahead of the store: reload next time.
    if (final === 'FAILURE' && machine.outcome('FAILURE') instanceof StorageFailure) {
      this.#prepared = false;
    }
  }

  /** Runs the flow to SUCCESS or SUSPENDED; rejects after REVERTED or FAILURE (with the original error). */
  async run(options: RunOptions = {}): Promise<void> {
    const machine = await this.#start(options);
    if (machine === undefined) return this.#storedOutcome();
    let state: EngineState = 'RESUMING';
    let steps = 0;
    let lastYield = performance.now();
    try {
      while (!TERMINAL.has(state)) {
        const next = machine.step(state);
        state = next instanceof Promise ? await next : next;
        // Steps of synchronous atoms need no tick at all; every ~10 ms give timers, I/O and abort
        // signals their turn, so a long run of them never starves the process.
        if ((++steps & 255) === 0 && performance.now() - lastYield >= YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
    } finally {
      this.#end(machine, state);
    }
    if (state === 'FAILURE' || state === 'REVERTED') throw machine.outcome(state);
  }

  /** The loop's states as they happen; breaking out of the loop suspends the run. */
  async *runIter(options: RunOptions = {}): AsyncGenerator<EngineState, void, undefined> {
    const machine = await this.#start(options);
    if (machine === undefined) {
      yield this.#storage!.flow.state as EngineState;
      return this.#storedOutcome();
    }
    let state: EngineState = 'RESUMING';
    try {
      for (;;) {
        if (state === 'FAILURE') throw machine.outcome(state);
        yield state;
        if (TERMINAL.has(state)) break;
        state = await machine.step(state);
      }
      if (state === 'REVERTED') throw machine.outcome(state);
    } finally {
      if (!TERMINAL.has(state)) {
        machine.suspend();
        while (!TERMINAL.has(state)) state = await machine.step(state);
      }
      this.#end(machine, state);
    }
  }

  /** Nothing new starts; in-flight atoms finish; the run ends SUSPENDED. No-op when not running. */
  suspend(): void {
    this.#machine?.suspend();
  }

  /** Every atom back to PENDING (results and failures cleared) and the flow to PENDING. */
  async reset(): Promise<void> {
    if (this.#locked) throw new EngineLocked(this.compile().rootName);
    await this.prepare();
    this.#finishedBefore = false;
    await this.#resetAll(new Runtime(this.#storage!, this.#events));
  }

  async #resetAll(rt: Runtime): Promise<void> {
    const storage = this.#storage!;
    for (let i = 0; i < rt.c.atoms.length; i++) rt.resetAtom(i);
    const from = storage.flow.state ?? 'PENDING';
    if (from !== 'PENDING') {
      storage.setFlow({ state: 'PENDING' });
      rt.report('flow', () => ({ name: storage.flow.name, state: 'PENDING', previousState: from, flowUuid: storage.flow.uuid }));
    }
    await storage.flush();
    const queued = rt.queue.takeFrom(0);
    for (const q of queued) if (q.kind === 'event') (this.#events.emit as (e: string, p: unknown) => void)(q.event, q.payload);
  }

  on<K extends keyof EngineEvents>(event: K, listener: Listener<EngineEvents[K]>): () => void {
    if (!['atom', 'flow', 'progress', 'retry'].includes(event as string)) {
      throw new InvariantViolation(`unknown engine event '${String(event)}' (atom, flow, progress, retry)`, { option: 'event' });
    }
    return this.#events.on(event, listener);
  }

  /**
   * What a failure means for this run (`onFailure`, `revertScope`), as stored with it: the options
   * given to `load()`, else those the run was stored with, else the defaults. Before a stored run
   * is loaded (`prepare()`), what the options alone say.
   */
  get rules(): FailureRules {
    const s = this.#storage;
    return (s && storedRules(s.flow.meta)) ?? rulesFor(this.options);
  }

  /** The run's LogBook (with its FlowDetail as stored by this engine). */
  get book(): LogBook {
    const s = this.#storage;
    if (!s) throw new InvariantViolation('the stored run is not loaded yet: call prepare() or run() first');
    return s.book;
  }

  /** The run's FlowDetail, with its atom details as they are now. */
  get flowDetail(): FlowDetail {
    const s = this.#storage;
    if (!s) {
      const ref = this.options.flowDetail!;
      if (typeof ref === 'object') return ref;
      return { uuid: ref } as FlowDetail;
    }
    return updateFlow(s.flow, { atomDetails: Object.freeze([...s.orphans, ...s.details]) });
  }
}
