/**
 * `engine.storage`: the read side of a run (plus flow-level injection), as the README documents it.
 * Usable right after `load()`; reads of a stored run being continued need `prepare()` first.
 */
import { InvariantViolation } from '../lib/errors.js';
import type { Failure } from '../lib/failure.js';
import type { History } from '../lib/retry.js';
import type { AtomState, FlowState, Intention } from '../lib/states.js';
import type { AtomDetail } from '../persistence/models.js';
import type { Storage } from './runtime/storage.js';

export class EngineStorage {
  readonly #get: () => Storage | undefined;
  readonly #defer: (values: Readonly<Record<string, unknown>>) => void;

  constructor(get: () => Storage | undefined, defer: (values: Readonly<Record<string, unknown>>) => void) {
    this.#get = get;
    this.#defer = defer;
  }

  #s(): Storage {
    const s = this.#get();
    if (!s) throw new InvariantViolation('the stored run is not loaded yet: call engine.prepare() or run() first');
    return s;
  }

  /** The first value of `name` (the engine store's first, then atoms in flow order). */
  fetch(name: string): unknown {
    return this.#s().fetch(name);
  }
  /** Every name with a value; a name with several sources maps to the list of their values. */
  fetchAll(): Record<string, unknown> {
    return this.#s().fetchAll();
  }
  /** An atom's execute result (or its Failure). */
  get(atomName: string): unknown {
    return this.#s().get(atomName);
  }
  getFlowState(): FlowState {
    return this.#get()?.getFlowState() ?? 'PENDING';
  }
  getAtomState(atomName: string): AtomState {
    return this.#s().getAtomState(atomName);
  }
  getAtomIntention(atomName: string): Intention {
    return this.#s().getAtomIntention(atomName);
  }
  getAtomDetail(atomName: string): AtomDetail {
    return this.#s().getAtomDetail(atomName);
  }
  getRevertResult(atomName: string): unknown {
    return this.#s().getRevertResult(atomName);
  }
  getExecuteFailures(): Record<string, Failure> {
    return this.#s().getExecuteFailures();
  }
  getRevertFailures(): Record<string, Failure> {
    return this.#s().getRevertFailures();
  }
  getRetryHistory(retryName: string): History {
    return this.#s().getRetryHistory(retryName);
  }
  getProgress(atomName: string): number {
    return this.#s().getProgress(atomName);
  }
  /** Adds flow-level values (persisted with the run); `transient` ones live in this engine only. */
  inject(values: Readonly<Record<string, unknown>>, options: { transient?: boolean } = {}): void {
    const s = this.#get();
    if (s) s.inject(values, options);
    else this.#defer(values);
  }
}
