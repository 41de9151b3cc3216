/**
 * Storage: the engine's one door to run data. It holds one immutable detail record per atom (never
 * one object for all atoms), resolves arguments with scoping, publishes results, and writes
 * through to the backend: changes made during one engine step are committed together by
 * `flush()`, before the step's events are emitted.
 */
import type { ArgBinding } from '../../lib/atom.js';
import { InvariantViolation, NotFound, StorageBusy } from '../../lib/errors.js';
import { Failure } from '../../lib/failure.js';
import { History } from '../../lib/retry.js';
import type { AtomState, FlowState, Intention } from '../../lib/states.js';
import { storable } from '../../persistence/codec.js';
import { syncCommitOf, type Backend, type FlowChange } from '../../persistence/backend.js';
import { updateFlow, type AtomDetail, type ExecutionInfo, type FlowDetail, type LogBook, type StoredAttempt } from '../../persistence/models.js';
import type { Compilation } from '../compiler/compile.js';
import { Scopes } from '../compiler/scopes.js';
import { IndexSet } from './batch.js';

const NO_VALUE: unique symbol = Symbol('no value');
type Maybe = unknown | typeof NO_VALUE;

export class Storage {
  readonly compilation: Compilation;
  readonly scopes: Scopes;
  readonly backend: Backend;
  book: LogBook;
  flow: FlowDetail;
  /** One record per compiled atom, by atom index. */
  readonly details: AtomDetail[];
  /** Stored details whose atom is no longer in the flow (their failures still count). */
  orphans: AtomDetail[] = [];
  #store: Readonly<Record<string, unknown>>;
  readonly #transient = new Map<string, unknown>();
  /** Atoms written since the last flush, in first-write order. */
  readonly #dirty: IndexSet;
  /** Records stored in place of the in-memory ones (see `hold`), and how many there are. */
  #held: Array<AtomDetail | undefined> | undefined;
  #holds = 0;
  #flowDirty = false;
  /** The run's fencing token (its claim's), carried by every commit while it runs; unset otherwise. */
  fence: number | undefined;
  /** The backend's synchronous commit, when it has one the engine may use. */
  readonly #commitSync: ((flowUuid: string, change: FlowChange) => void) | undefined;

  constructor(c: Compilation, backend: Backend, book: LogBook, flow: FlowDetail, details: AtomDetail[]) {
    this.compilation = c;
    this.scopes = new Scopes(c);
    this.backend = backend;
    this.#commitSync = syncCommitOf(backend);
    this.book = book;
    this.flow = flow;
    this.details = details;
    this.#dirty = new IndexSet(details.length);
    this.#store = Object.freeze({ ...((flow.meta.store as Record<string, unknown> | undefined) ?? {}) });
  }

  // ---- writes ---------------------------------------------------------------------------------

  setAtom(i: number, detail: AtomDetail): void {
    this.details[i] = detail;
    if (this.#holds !== 0 && this.#held![i] !== undefined) {
      const held = this.#held![i];
      this.#held![i] = undefined;
      this.#holds--;
      // The record held (and so stored, or about to be) becoming the in-memory one: nothing to write.
      if (held === detail) return;
    }
    this.#dirty.add(i);
  }

  /**
   * Until atom `i`'s record next changes in memory, stores `record` for it instead (a serial batch:
   * the record before a start that has not begun yet, or an outcome not analysed yet).
   */
  hold(i: number, record: AtomDetail): void {
    const held = (this.#held ??= new Array<AtomDetail | undefined>(this.details.length));
    if (held[i] === undefined) this.#holds++;
    held[i] = record;
    this.#dirty.add(i);
  }

  /** The record held for atom `i` (see `hold`), if any. */
  held(i: number): AtomDetail | undefined {
    return this.#holds === 0 ? undefined : this.#held![i];
  }

  setFlow(changes: Partial<Pick<FlowDetail, 'state' | 'meta'>>): void {
    this.flow = updateFlow(this.flow, { ...changes, updatedAt: Date.now() });
    this.#flowDirty = true;
  }

  get hasPendingWrites(): boolean {
    return this.#flowDirty || this.#dirty.size > 0;
  }

  /**
   * Commits every change since the last flush in one backend transaction: synchronously (and
   * `undefined`) when the backend can, else through the returned promise. Errors are thrown or
   * rejected as the backend raised them; the changes count as handed over either way.
   */
  flush(): Promise<void> | undefined {
    const count = this.#dirty.size;
    if (!this.#flowDirty && count === 0) return undefined;
    const atoms: AtomDetail[] = new Array(count);
    const positions: number[] = new Array(count);
    for (let k = 0; k < count; k++) {
      const i = this.#dirty.at(k);
      atoms[k] = (this.#holds !== 0 ? this.#held![i] : undefined) ?? this.details[i]!;
      positions[k] = i;
    }
    this.#dirty.clear();
    // A fresh run stored its atoms in compile order, so an atom's index is its stored position
    // (after a resume it may not be: the backend checks the hint).
    const change: FlowChange = this.#flowDirty ? { flow: this.flow, atoms, positions, fence: this.fence } : { atoms, positions, fence: this.fence };
    this.#flowDirty = false;
    if (this.#commitSync !== undefined) {
      try {
        this.#commitSync(this.flow.uuid, change);
        return undefined;
      } catch (e) {
        // Another connection holds the lock: wait for it through the asynchronous commit (which
        // never blocks the event loop), as a backend without commitSync would.
        if (!(e instanceof StorageBusy)) throw e;
      }
    }
    return this.backend.commit(this.flow.uuid, change);
  }

  /** Flow-level values (persisted with the run); they beat any atom's output of the same name. */
  inject(values: Readonly<Record<string, unknown>>, options: { transient?: boolean } = {}): void {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new InvariantViolation('storage.inject() takes an object of values keyed by name', { option: 'values' });
    }
    if (options.transient) {
      for (const [k, v] of Object.entries(values)) this.#transient.set(k, v);
      return;
    }
    // Persisted with the run: what JSON cannot hold is refused (UnstorableValue naming the path).
    const copy = storable(values, 'store', { option: 'values' }) as Readonly<Record<string, unknown>>;
    this.#store = Object.freeze({ ...this.#store, ...copy });
    this.setFlow({ meta: Object.freeze({ ...this.flow.meta, store: this.#store }) });
  }

  get store(): Readonly<Record<string, unknown>> {
    return this.#store;
  }

  // ---- results ------------------------------------------------------------------------------

  /** The value atom `i` currently publishes (its result while SUCCESS), or NO_VALUE. */
  #published(i: number): Maybe {
    const d = this.details[i]!;
    if (d.state !== 'SUCCESS') return NO_VALUE;
    if (d.kind === 'retry') {
      const last = (d.results as readonly StoredAttempt[]).at(-1);
      return last === undefined ? NO_VALUE : last.value;
    }
    return d.results;
  }

  /** The value of `name` as published by atom `i`, or NO_VALUE when it has none (yet). */
  #extract(i: number, name: string): Maybe {
    const result = this.#published(i);
    if (result === NO_VALUE) return NO_VALUE;
    const spec = this.compilation.atoms[i]!.atom.provides;
    if (spec.kind === 'whole') return result;
    if (spec.kind === 'none') return NO_VALUE;
    const index = spec.names.indexOf(name);
    if (Array.isArray(result)) return index < result.length ? result[index] : NO_VALUE;
    if (typeof result === 'object' && result !== null && Object.hasOwn(result, name)) return (result as Record<string, unknown>)[name];
    return NO_VALUE;
  }

  #flowValue(name: string): Maybe {
    if (this.#transient.has(name)) return this.#transient.get(name);
    if (Object.hasOwn(this.#store, name)) return this.#store[name];
    return NO_VALUE;
  }

  /** The atom the last `#resolve` took its value from (-1: inject or the engine store). */
  #via = -1;

  /** Resolves one stored name for atom `i`: inject, then the engine store, then the nearest provider. */
  #resolve(i: number, stored: string): Maybe {
    this.#via = -1;
    const inject = this.compilation.atoms[i]!.atom.inject;
    if (Object.hasOwn(inject, stored)) return inject[stored];
    const fromFlow = this.#flowValue(stored);
    if (fromFlow !== NO_VALUE) return fromFlow;
    for (const p of this.scopes.candidates(i, stored)) {
      const v = this.#extract(p, stored);
      if (v !== NO_VALUE) {
        this.#via = p;
        return v;
      }
    }
    return NO_VALUE;
  }

  /** The distinct providers of the last `argsFor`, in argument order (a reused buffer). */
  #from = new Int32Array(8);
  #fromCount = 0;
  /**
   * Per atom and action (slot 2i, 2i+1): the last parents list made, and the providers it was made
   * of (the first two in typed arrays, so checking it allocates nothing; more in a list).
   */
  readonly #parentNames: Array<readonly string[] | undefined> = [];
  #keyLength: Int32Array | undefined;
  #key0: Int32Array | undefined;
  #key1: Int32Array | undefined;
  readonly #keyRest: Array<number[] | undefined> = [];

  #noteProvider(p: number): void {
    if (p < 0) return;
    const from = this.#from;
    for (let k = 0; k < this.#fromCount; k++) if (from[k] === p) return;
    if (this.#fromCount === from.length) {
      const grown = new Int32Array(from.length * 2);
      grown.set(from);
      this.#from = grown;
    }
    this.#from[this.#fromCount++] = p;
  }

  /**
   * The names of the atoms whose results the last `argsFor(i, ...)` used (execution info's
   * `parents`). The list is kept per atom and action, so a re-run with the same providers makes none.
   */
  parentsOfLast(i: number, action: 'execute' | 'revert'): readonly string[] {
    const m = this.#fromCount;
    if (m === 0) return NO_PARENTS;
    const slot = 2 * i + (action === 'execute' ? 0 : 1);
    const from = this.#from;
    if (this.#keyLength === undefined) {
      const size = 2 * this.details.length;
      this.#keyLength = new Int32Array(size);
      this.#key0 = new Int32Array(size);
      this.#key1 = new Int32Array(size);
    }
    const lengths = this.#keyLength;
    const key0 = this.#key0!;
    const key1 = this.#key1!;
    if (lengths[slot] === m && key0[slot] === from[0] && (m < 2 || key1[slot] === from[1])) {
      let same = true;
      if (m > 2) {
        const rest = this.#keyRest[slot]!;
        for (let k = 2; k < m && same; k++) same = rest[k - 2] === from[k];
      }
      if (same) return this.#parentNames[slot]!;
    }
    const names: string[] = new Array(m);
    for (let k = 0; k < m; k++) names[k] = this.compilation.atoms[from[k]!]!.name;
    lengths[slot] = m;
    key0[slot] = from[0]!;
    key1[slot] = m > 1 ? from[1]! : -1;
    if (m > 2) this.#keyRest[slot] = Array.from(from.subarray(2, m));
    const frozen = Object.freeze(names);
    this.#parentNames[slot] = frozen;
    return frozen;
  }

  /** The argument object for atom `i` (NotFound when a required value is not available). */
  argsFor(i: number, bindings: readonly ArgBinding[]): Record<string, unknown> {
    const args: Record<string, unknown> = {};
    this.#fromCount = 0;
    for (const b of bindings) {
      const v = this.#resolve(i, b.stored);
      this.#noteProvider(this.#via);
      if (v === NO_VALUE) {
        if (b.optional) continue;
        const n = this.scopes.candidates(i, b.stored).length;
        throw new NotFound(
          `atom '${this.compilation.atoms[i]!.name}': argument '${b.arg}' <= '${b.stored}' was not produced by any accessible provider (${n} possible providers were scanned)`,
          b.stored,
        );
      }
      args[b.arg] = v;
    }
    return args;
  }

  /** Whether atom `i` could get `stored` from somewhere before it runs (for validation). */
  canProvide(i: number, stored: string): boolean {
    return this.#flowValue(stored) !== NO_VALUE || this.scopes.candidates(i, stored).length > 0;
  }

  // ---- read side (engine.storage) -------------------------------------------------------------

  #index(name: string): number {
    const i = this.compilation.byName.get(name);
    if (i === undefined) throw new NotFound(`unknown atom name '${name}'`, name);
    return i;
  }

  /** The first value of `name`: the engine store first, then providers in flow order. */
  fetch(name: string): unknown {
    const v = this.#flowValue(name);
    if (v !== NO_VALUE) return v;
    const providers = this.compilation.providers.get(name);
    if (!providers) throw new NotFound(`name '${name}' is not provided by the store or by any atom`, name);
    for (const p of providers) {
      const x = this.#extract(p, name);
      if (x !== NO_VALUE) return x;
    }
    throw new NotFound(`unable to find a result for '${name}': its providers [${providers.map((p) => this.compilation.atoms[p]!.name).join(', ')}] have none (yet)`, name);
  }

  /** Every name that has a value; a name with several sources maps to the list of their values. */
  fetchAll(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const many = new Map<string, unknown[]>();
    const put = (name: string, v: unknown) => {
      const list = many.get(name);
      if (list) list.push(v);
      else many.set(name, [v]);
    };
    for (const [k, v] of Object.entries(this.#store)) put(k, v);
    for (const [k, v] of this.#transient) put(k, v);
    for (const [name, providers] of this.compilation.providers) {
      for (const p of providers) {
        const v = this.#extract(p, name);
        if (v !== NO_VALUE) put(name, v);
      }
    }
    for (const [k, list] of many) out[k] = list.length === 1 ? list[0] : list;
    return out;
  }

  /** An atom's execute result, or its Failure when execute failed. */
  get(atomName: string): unknown {
    const d = this.details[this.#index(atomName)]!;
    if (d.state === 'IGNORE') throw new NotFound(`result for atom '${atomName}' is not known (as it was ignored)`, atomName);
    if (d.failure) return d.failure;
    if (d.state === 'SUCCESS' || d.state === 'REVERTING') {
      if (d.kind === 'retry') return (d.results as readonly StoredAttempt[]).at(-1)?.value;
      return d.results;
    }
    throw new NotFound(`result for atom '${atomName}' is not known (state ${d.state})`, atomName);
  }

  getAtomDetail(atomName: string): AtomDetail {
    return this.details[this.#index(atomName)]!;
  }

  getAtomState(atomName: string): AtomState {
    return this.details[this.#index(atomName)]!.state;
  }

  getAtomIntention(atomName: string): Intention {
    return this.details[this.#index(atomName)]!.intention;
  }

  getFlowState(): FlowState {
    return this.flow.state ?? 'PENDING';
  }

  getRevertResult(atomName: string): unknown {
    const d = this.details[this.#index(atomName)]!;
    return d.revertFailure ?? d.revertResults;
  }

  getExecuteFailures(): Record<string, Failure> {
    const out: Record<string, Failure> = {};
    for (const d of [...this.orphans, ...this.details]) if (d.failure) out[d.name] = d.failure;
    return out;
  }

  getRevertFailures(): Record<string, Failure> {
    const out: Record<string, Failure> = {};
    for (const d of [...this.orphans, ...this.details]) if (d.revertFailure) out[d.name] = d.revertFailure;
    return out;
  }

  getRetryHistory(retryName: string): History {
    const d = this.details[this.#index(retryName)]!;
    if (d.kind !== 'retry') throw new NotFound(`atom '${retryName}' is not a retry controller`, retryName);
    return historyOf(d);
  }

  getProgress(atomName: string): number {
    return this.details[this.#index(atomName)]!.meta.progress ?? 0;
  }

  /** Where and when the atom's latest execute and revert ran (`{}` before it first ran). */
  getExecutionInfo(atomName: string): ExecutionInfo {
    return this.details[this.#index(atomName)]!.meta.execution ?? NO_EXECUTION;
  }
}

const NO_PARENTS: readonly string[] = Object.freeze([]);
const NO_EXECUTION: ExecutionInfo = Object.freeze({});

export function historyOf(d: AtomDetail): History {
  const attempts = (d.results as readonly StoredAttempt[] | undefined) ?? [];
  return new History(attempts, d.kind === 'retry' && d.failure ? d.failure : undefined);
}

export { NO_VALUE };
