/**
 * The public engine: compile → prepare → validate → run, each idempotent, `run()` doing all of
 * them. The serial and parallel engines are the same code with another executor; the loop
 * itself lives in `runtime/machine.ts`.
 */
import { performance } from 'node:perf_hooks';
import { describeValue } from '../lib/describe.js';
import type { ArgBinding } from '../lib/atom.js';
import type { FlowItem } from '../lib/flow.js';
import { Emitter, type EngineEvents, type Listener } from '../lib/events.js';
import { AtomNotImportable, ClaimLost, EngineLocked, InvariantViolation, MissingDependencies, NotFound, StorageFailure } from '../lib/errors.js';
import { importableOf } from '../lib/task.js';
import type { EngineState } from '../lib/states.js';
import type { Backend, Claim } from '../persistence/backend.js';
import { MemoryBackend } from '../persistence/memory.js';
import { storedRunError, updateFlow, type FlowDetail, type LogBook } from '../persistence/models.js';
import { compile, type Compilation } from './compiler/compile.js';
import { ParallelExecutor } from './executors/parallel.js';
import { SerialExecutor } from './executors/serial.js';
import { ThreadsExecutor } from './executors/threads.js';
import { WorkerExecutor } from './executors/worker.js';
import type { Executor, Post } from './executors/executor.js';
import { resolveOptions, rulesFor, storedRules, type FailureRules, type LoadOptions, type ResolvedOptions } from './options.js';
import { freshStorage, persistFresh, storedStorage } from './prepare.js';
import { EngineStorage } from './storage-view.js';
import { Lease } from './runtime/lease.js';
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
  /** The claim of the run in progress. */
  #lease: Lease | undefined;
  /** A conductor's claim, used by the first run. */
  #premade: Claim | undefined;
  /**
   * The fencing token the in-memory run matches (0 after storing a fresh run, then the token of
   * this engine's last claim); undefined when loaded without a claim. A claim whose token is not
   * the next one means another owner ran the flow meanwhile: the run reloads from the store.
   */
  #knownFence: number | undefined;
  /** Attached (by `flowUuid`) to a run that had already finished: `run()` answers its outcome. */
  #finishedBefore = false;
  readonly #pendingInject: Array<Readonly<Record<string, unknown>>> = [];
  /** The view `engine.storage` returns. */
  readonly storage: EngineStorage;

  constructor(root: FlowItem, options: LoadOptions = {}) {
    this.options = resolveOptions(options);
    this.backend = this.options.backend ?? new MemoryBackend();
    this.#root = root;
    this.#premade = this.options.claim;
    this.storage = new EngineStorage(() => this.#current(), (values) => this.#pendingInject.push(values));
    const c = this.compile();
    if (this.options.executor === 'threads') refuseNotImportable(c);
    if (this.options.flowDetail === undefined) {
      this.#storage = freshStorage(this.#compilation!, this.backend, { ...this.options, rules: rulesFor(this.options) });
    }
  }

  get kind(): 'serial' | 'parallel' | 'worker' {
    return this.options.engine;
  }

  /** Builds the execution graph (idempotent). Duplicate names and misplaced retries are refused here. */
  compile(): Compilation {
    this.#compilation ??= compile(this.#root);
    return this.#compilation;
  }

  #current(): Storage | undefined {
    return this.#storage;
  }

  /**
   * Stores (or loads, when continuing a stored run) the LogBook, FlowDetail and atom details.
   * It does not claim the run (only `run()` does), so its writes are not fenced.
   */
  async prepare(): Promise<void> {
    return this.#prepare(undefined);
  }

  /** `prepare()`, its writes fenced with `fence` (the run's claim token) when given. */
  async #prepare(fence: number | undefined): Promise<void> {
    const c = this.compile();
    if (this.#prepared) return;
    const o = this.options;
    if (this.#storage === undefined) {
      // Continuing a stored run.
      this.#storage = await storedStorage(c, this.backend, o.flowDetail!, { store: o.store, ids: o.ids, book: o.book, rules: o, fence });
      this.#knownFence = fence;
    } else if (!this.#stored) {
      // A chosen id that is already stored: attach to that run (an idempotent start). Attached,
      // the run was loaded without a claim (its fence is unknown); stored here, it was never claimed.
      if (o.flowUuid !== undefined && (await this.#attach(c, o.flowUuid, false))) {
        this.#knownFence = undefined;
      } else {
        this.#knownFence = 0;
        try {
          await persistFresh(this.#storage);
        } catch (e) {
          // Another process stored the same id between our check and our write.
          if (o.flowUuid === undefined || !(await this.#attach(c, o.flowUuid, true))) throw e;
          this.#knownFence = undefined;
        }
      }
    } else {
      // Reloading after a storage failure or a lost claim: the store, not memory, says where the run is.
      this.#storage = await storedStorage(c, this.backend, this.#storage.flow.uuid, { store: undefined, ids: o.ids, book: undefined, rules: o, fence });
      this.#knownFence = fence;
    }
    this.#stored = true;
    this.#prepared = true;
    this.#storage.fence = fence;
    for (const values of this.#pendingInject.splice(0)) this.#storage.inject(values);
    try {
      await this.#storage.flush();
    } finally {
      this.#storage.fence = undefined;
    }
  }

  /**
   * Claims the run's flow detail before the run's first write (FlowClaimed when a live owner
   * holds it), or takes the conductor's claim. A stored run not loaded yet is claimed first and
   * loaded after; one loaded before (or stored fresh) is reloaded when someone else ran it since.
   */
  async #claim(): Promise<Lease> {
    const o = this.options;
    let lease: Lease | undefined;
    const premade = this.#premade;
    if (premade !== undefined) {
      this.#premade = undefined;
      lease = new Lease(this.backend, premade, o.leaseMs);
    } else {
      const request = Object.freeze({ owner: o.owner, host: o.host, pid: process.pid, leaseMs: o.leaseMs });
      if (this.#storage === undefined) {
        try {
          lease = await Lease.acquire(this.backend, flowUuidOf(o.flowDetail!), request);
        } catch (e) {
          // A FlowDetail record never stored: prepare() stores it (or says clearly it is not found).
          if (!(e instanceof NotFound)) throw e;
        }
      }
      if (lease === undefined) {
        await this.#prepare(undefined);
        lease = await Lease.acquire(this.backend, this.#storage!.flow.uuid, request);
      }
    }
    if (this.#storage !== undefined && this.#prepared && this.#knownFence !== lease.token - 1) this.#prepared = false;
    return lease;
  }

  /** Loads the stored run `uuid` (if there is one) in place of the fresh one; whether it did. */
  async #attach(c: Compilation, uuid: string, afterClash: boolean): Promise<boolean> {
    try {
      await this.backend.getFlowDetail(uuid, { lazy: true });
    } catch (e) {
      if (e instanceof NotFound && !afterClash) return false;
      throw e;
    }
    this.#storage = await storedStorage(c, this.backend, uuid, { store: undefined, ids: this.options.ids, book: undefined, rules: this.options, fence: undefined });
    const state = this.#storage.flow.state;
    this.#finishedBefore = state === 'SUCCESS' || state === 'REVERTED' || state === 'FAILURE';
    return true;
  }

  /** What `run()` answers for an attached run that had already finished: its stored outcome. */
  #storedOutcome(): void {
    const s = this.#storage!;
    if (s.flow.state === 'SUCCESS') return;
    throw storedRunError(s.details);
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

  /** The running machine's executor (closed when the run ends). */
  #exec: Executor | undefined;

  #executor(post: Post): Executor {
    const o = this.options;
    this.#exec =
      o.engine === 'parallel'
        ? o.executor === 'threads'
          ? new ThreadsExecutor(post, o.maxWorkers)
          : new ParallelExecutor(post, o.maxWorkers)
        : o.engine === 'worker'
          ? new WorkerExecutor(post, o.worker!)
          : new SerialExecutor(post);
    return this.#exec;
  }

  async #closeExecutor(): Promise<void> {
    const exec = this.#exec;
    this.#exec = undefined;
    await exec?.close?.();
  }

  #exportsChecked = false;

  async #start(options: RunOptions): Promise<Machine | undefined> {
    if (this.#locked) throw new EngineLocked(this.compile().rootName);
    this.#locked = true;
    try {
      if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
        throw new InvariantViolation("run option 'signal' must be an AbortSignal", { option: 'signal' });
      }
      const lease = await this.#claim();
      this.#lease = lease;
      await this.#prepare(lease.token);
      this.#storage!.fence = lease.token;
      this.validate();
      if (this.#finishedBefore) {
        await this.#release();
        this.#locked = false;
        return undefined;
      }
      if (this.options.executor === 'threads' && !this.#exportsChecked) {
        await checkExports(this.compile());
        this.#exportsChecked = true;
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
        timeoutMs: o.timeoutMs,
        lease,
      });
      return this.#machine;
    } catch (e) {
      await this.#release();
      this.#locked = false;
      throw e;
    }
  }

  /** Gives the claim back (before run() settles, whatever the outcome). */
  async #release(): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined) return;
    this.#lease = undefined;
    if (this.#storage !== undefined) this.#storage.fence = undefined;
    await lease.release();
    this.#knownFence = lease.lost === undefined ? lease.token : undefined;
  }

  async #end(machine: Machine, final: EngineState | undefined): Promise<void> {
    this.#machine = undefined;
    await this.#release();
    this.#locked = false;
    // After a storage failure or a lost claim the in-memory run may be ahead of (or behind) the
    // store: reload next time.
    if (final === 'FAILURE') {
      const outcome = machine.outcome('FAILURE');
      if (outcome instanceof StorageFailure || outcome instanceof ClaimLost) this.#prepared = false;
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
      await this.#end(machine, state);
      await this.#closeExecutor();
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
      await this.#end(machine, state);
      await this.#closeExecutor();
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
      throw new InvariantViolation(`unknown engine event ${describeValue(event)} (atom, flow, progress, retry)`, { option: 'event' });
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

/** `executor: 'threads'`: every task must say where a thread can import it (retries run in the engine's thread). */
function refuseNotImportable(c: Compilation): void {
  for (const a of c.atoms) {
    if (a.kind !== 'task' || importableOf(a.atom) !== undefined) continue;
    throw new AtomNotImportable(
      a.name,
      "declare it importable: export its class and give it 'static module = import.meta.url', or export a task({ name, module: import.meta.url, ... }) under its name",
    );
  }
}

/** Each importable atom's module exports it as declared (checked once per engine, at the first run). */
async function checkExports(c: Compilation): Promise<void> {
  for (const a of c.atoms) {
    const where = importableOf(a.atom);
    if (where === undefined) continue;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(where.module)) as Record<string, unknown>;
    } catch (e) {
      throw Object.assign(new AtomNotImportable(a.name, `its module ${where.module} cannot be imported: ${(e as Error)?.message ?? e}`), { cause: e });
    }
    const exported = mod[where.exportName];
    const ok = where.kind === 'class' ? exported === a.atom.constructor : typeof exported === 'object' && exported !== null && (exported as { name?: unknown }).name === a.name;
    if (!ok) {
      throw new AtomNotImportable(a.name, `${where.module} does not export ${where.kind === 'class' ? `its class as '${where.exportName}'` : `the task under its name '${where.exportName}'`}`);
    }
  }
}

function flowUuidOf(ref: FlowDetail | string): string {
  return typeof ref === 'string' ? ref : ref.uuid;
}
