/**
 * The runtime's "act" layer: the only writer of atom state. `write()` makes the new immutable
 * record, hands it to storage (committed at the end of the step), keeps the readiness counters
 * current and queues the event that reports it (emitted after the commit).
 *
 * Readiness is kept in counters so a step costs O(degree), never O(flow size):
 * - `done[v]`: how many predecessors of v are done (SUCCESS/IGNORE, intention EXECUTE/IGNORE);
 * - `busy[v]`: how many successors of v are not free (free = PENDING/REVERTED/IGNORE).
 * Barrier nodes (joins between wide groups) are done when all their predecessors are, and free
 * when all their successors are; changes pass through them.
 */
import type { AtomEvent, Emitter, EngineEvents } from '../../lib/events.js';
import { InvalidStateTransition } from '../../lib/errors.js';
import type { Failure } from '../../lib/failure.js';
import { atomTransitionAllowed, type AtomState, type Intention } from '../../lib/states.js';
import { updateAtom, type AtomChanges, type AtomDetail, type AtomMeta } from '../../persistence/models.js';
import { nextAttempt } from './meta.js';
import type { Compilation } from '../compiler/compile.js';
import { Batch, IndexSet } from './batch.js';
import type { Storage } from './storage.js';

export function isDone(d: AtomDetail): boolean {
  return (d.state === 'SUCCESS' || d.state === 'IGNORE') && (d.intention === 'EXECUTE' || d.intention === 'IGNORE');
}

export function isFree(d: AtomDetail): boolean {
  return d.state === 'PENDING' || d.state === 'REVERTED' || d.state === 'IGNORE';
}

export type EventEntry = {
  [K in keyof EngineEvents]: { readonly kind: 'event'; readonly event: K; readonly payload: EngineEvents[K] };
}[keyof EngineEvents];

/**
 * The start of a job (the job object itself): its events are emitted, and the job started, only if
 * no stop was asked first.
 */
export interface StartEntry {
  readonly kind: 'start';
  readonly atom: number;
  /** The record before the start, restored if the start is called off. */
  readonly prev: AtomDetail;
  readonly events: readonly EventEntry[];
}

export type Queued = EventEntry | StartEntry;

export class Runtime {
  readonly c: Compilation;
  readonly storage: Storage;
  readonly events: Emitter<EngineEvents>;
  readonly #atomCount: number;
  readonly #done: Int32Array;
  readonly #busy: Int32Array;
  /** Atoms whose readiness may have changed since the scheduler last looked (it clears the set). */
  readonly touched: IndexSet;
  /** Events and starts of this step, emitted (and started) after the commit. */
  queue = new Batch<Queued>();

  constructor(storage: Storage, events: Emitter<EngineEvents>) {
    this.c = storage.compilation;
    this.storage = storage;
    this.events = events;
    this.#atomCount = this.c.atoms.length;
    this.#done = new Int32Array(this.c.graph.nodeCount);
    this.#busy = new Int32Array(this.c.graph.nodeCount);
    this.touched = new IndexSet(this.#atomCount);
    this.rebuild();
  }

  detail(i: number): AtomDetail {
    return this.storage.details[i]!;
  }

  /** Recomputes every counter from the stored states (run start, after resets). */
  rebuild(): void {
    const { predStart, predList, succStart, succList, nodeCount } = this.c.graph;
    const n = this.#atomCount;
    // A barrier is done when all its predecessors are, free when all its successors are; barriers
    // may follow barriers, so their status is computed on demand (memoised).
    const doneMemo = new Int8Array(nodeCount).fill(-1);
    const freeMemo = new Int8Array(nodeCount).fill(-1);
    const nodeDone = (v: number): boolean => {
      if (v < n) return isDone(this.detail(v));
      if (doneMemo[v] === -1) {
        let all = 1;
        for (let k = predStart[v]!; k < predStart[v + 1]! && all === 1; k++) if (!nodeDone(predList[k]!)) all = 0;
        doneMemo[v] = all;
      }
      return doneMemo[v] === 1;
    };
    const nodeFree = (v: number): boolean => {
      if (v < n) return isFree(this.detail(v));
      if (freeMemo[v] === -1) {
        let all = 1;
        for (let k = succStart[v]!; k < succStart[v + 1]! && all === 1; k++) if (!nodeFree(succList[k]!)) all = 0;
        freeMemo[v] = all;
      }
      return freeMemo[v] === 1;
    };
    for (let v = 0; v < nodeCount; v++) {
      let d = 0;
      for (let k = predStart[v]!; k < predStart[v + 1]!; k++) if (nodeDone(predList[k]!)) d++;
      this.#done[v] = d;
      let b = 0;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) if (!nodeFree(succList[k]!)) b++;
      this.#busy[v] = b;
    }
    this.touched.clear();
    for (let i = 0; i < n; i++) this.touched.add(i);
  }

  predsDone(i: number): boolean {
    const start = this.c.graph.predStart;
    return this.#done[i] === start[i + 1]! - start[i]!;
  }

  succsFree(i: number): boolean {
    return this.#busy[i] === 0;
  }

  #doneChanged(v: number, delta: 1 | -1): void {
    const { predStart, succStart, succList } = this.c.graph;
    for (let k = succStart[v]!; k < succStart[v + 1]!; k++) {
      const s = succList[k]!;
      const need = predStart[s + 1]! - predStart[s]!;
      const before = this.#done[s] === need;
      this.#done[s]! += delta;
      if (s < this.#atomCount) this.touched.add(s);
      else if (before !== (this.#done[s] === need)) this.#doneChanged(s, delta);
    }
  }

  #freeChanged(v: number, delta: 1 | -1): void {
    const { predStart, predList } = this.c.graph;
    // delta is the change of "busy" contributed by v to its predecessors.
    for (let k = predStart[v]!; k < predStart[v + 1]!; k++) {
      const p = predList[k]!;
      const before = this.#busy[p] === 0;
      this.#busy[p]! += delta;
      if (p < this.#atomCount) this.touched.add(p);
      else if (before !== (this.#busy[p] === 0)) this.#freeChanged(p, delta);
    }
  }

  /**
   * Writes atom `i`'s new record. A state change is checked against the transition table (a
   * forbidden one is an engine defect) and queues an atom event; an identity transition queues
   * none.
   */
  write(i: number, changes: AtomChanges, report?: { result?: unknown; failure?: Failure }): AtomDetail {
    return this.put(i, updateAtom(this.detail(i), changes), report);
  }

  /**
   * `write()` with the new record already made (the machine's hot paths build it in one step);
   * it must be atom `i`'s record (same uuid). Its `updatedAt` is set here.
   */
  put(i: number, after: AtomDetail, report?: { result?: unknown; failure?: Failure }): AtomDetail {
    const before = this.detail(i);
    const state = after.state;
    if (state !== before.state && !atomTransitionAllowed(before.kind, before.state, state)) {
      throw new InvalidStateTransition(`atom '${before.name}'`, before.state, state);
    }
    (after as { updatedAt: number | null }).updatedAt = Date.now();
    this.storage.setAtom(i, after);
    const wasDone = isDone(before);
    const nowDone = isDone(after);
    if (wasDone !== nowDone) this.#doneChanged(i, nowDone ? 1 : -1);
    const wasFree = isFree(before);
    const nowFree = isFree(after);
    if (wasFree !== nowFree) this.#freeChanged(i, nowFree ? -1 : 1);
    this.touched.add(i);
    if (state !== before.state && this.events.has('atom')) {
      const payload: AtomEvent = {
        name: before.name,
        kind: before.kind,
        state,
        previousState: before.state,
        atomUuid: before.uuid,
        flowUuid: this.storage.flow.uuid,
        ...(report && 'result' in report ? { result: report.result } : {}),
        ...(report?.failure ? { failure: report.failure } : {}),
      };
      this.queue.push({ kind: 'event', event: 'atom', payload });
    }
    return after;
  }

  setIntention(i: number, intention: Intention): void {
    if (this.detail(i).intention !== intention) this.write(i, { intention });
  }

  /** Queues an event to emit after the step's commit (built only when someone listens). */
  report<K extends keyof EngineEvents>(event: K, payload: () => EngineEvents[K]): void {
    if (this.events.has(event)) this.queue.push({ kind: 'event', event, payload: payload() } as EventEntry);
  }

  /** Whether anyone listens to `event` (so callers can skip building reports). */
  listens(event: keyof EngineEvents): boolean {
    return this.events.has(event);
  }

  /** Puts back a record without a transition or an event (a start called off before it began). */
  restore(i: number, record: AtomDetail): void {
    const before = this.detail(i);
    this.storage.setAtom(i, record);
    if (isDone(before) !== isDone(record)) this.#doneChanged(i, isDone(record) ? 1 : -1);
    if (isFree(before) !== isFree(record)) this.#freeChanged(i, isFree(record) ? -1 : 1);
    this.touched.add(i);
  }

  /** All atoms reachable from `from` along the graph (through barriers), `from` excluded. */
  downstream(from: number): number[] {
    const { succStart, succList, nodeCount } = this.c.graph;
    const seen = new Uint8Array(nodeCount);
    const out: number[] = [];
    const stack = [from];
    seen[from] = 1;
    while (stack.length > 0) {
      const v = stack.pop()!;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) {
        const s = succList[k]!;
        if (seen[s]) continue;
        seen[s] = 1;
        stack.push(s);
        if (s < this.#atomCount) out.push(s);
      }
    }
    return out;
  }

  /** Brings atom `i` back to PENDING / EXECUTE with results and failures cleared. */
  resetAtom(i: number): void {
    const d = this.detail(i);
    const pristine: Partial<AtomDetail> = {
      state: 'PENDING' as AtomState,
      intention: 'EXECUTE' as Intention,
      results: d.kind === 'retry' ? Object.freeze([]) : undefined,
      failure: null,
      revertResults: undefined,
      revertFailure: null,
    };
    if (d.state === 'PENDING' && d.intention === 'EXECUTE' && d.failure === null && d.revertFailure === null && (d.kind === 'retry' ? (d.results as unknown[]).length === 0 : d.results === undefined)) return;
    // An atom that ran (or started) before runs again as a new attempt (a new idempotency key).
    if (d.state !== 'PENDING' || d.failure !== null || d.results !== undefined) (pristine as { meta?: AtomMeta }).meta = nextAttempt(d.meta);
    this.write(i, pristine);
  }
}
