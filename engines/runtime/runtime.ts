/**
 * The runtime's "act" layer: the only writer of atom state. `write()` makes the new immutable
 * record, hands it to storage (committed at the end of the step), keeps the readiness counters
 * current and queues the event that reports it (emitted after the commit).
 *
 * Readiness looks at the whole graph, as TaskFlow's selector does: an atom may execute once every
 * atom behind it is done, and revert once every atom after it is free. It is kept in counters so a
 * step costs O(degree), never O(flow size):
 * - v is *deep-done* when it is done (SUCCESS/IGNORE, intention EXECUTE/IGNORE) and so is every
 *   predecessor, deeply; `done[v]` counts its deep-done predecessors;
 * - v is *deep-free* when it is free (PENDING/REVERTED/IGNORE) and so is every successor, deeply;
 *   `busy[v]` counts its successors that are not deep-free.
 * So an IGNOREd atom counts as reverted for the atoms before it only once everything after it is.
 * Barrier nodes (joins between wide groups) have no state of their own: deep-done when all their
 * predecessors are, deep-free when all their successors are. A change walks on only while it flips
 * a node's deep status, which in a normal run stops at the next atom; a walk through a chain of
 * ignored (or pending) atoms visits each of them once per flip.
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
    // Deep status in topological order (Kahn): deep-done forwards, deep-free backwards.
    const order = new Int32Array(nodeCount);
    const waiting = new Int32Array(nodeCount);
    let tail = 0;
    for (let v = 0; v < nodeCount; v++) {
      waiting[v] = predStart[v + 1]! - predStart[v]!;
      if (waiting[v] === 0) order[tail++] = v;
    }
    for (let head = 0; head < tail; head++) {
      const v = order[head]!;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) {
        const s = succList[k]!;
        if (--waiting[s]! === 0) order[tail++] = s;
      }
    }
    const deepDone = new Uint8Array(nodeCount);
    for (let o = 0; o < tail; o++) {
      const v = order[o]!;
      let d = 0;
      for (let k = predStart[v]!; k < predStart[v + 1]!; k++) d += deepDone[predList[k]!]!;
      this.#done[v] = d;
      deepDone[v] = this.#deepDone(v) ? 1 : 0;
    }
    const deepFree = new Uint8Array(nodeCount);
    for (let o = tail - 1; o >= 0; o--) {
      const v = order[o]!;
      let b = 0;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) b += 1 - deepFree[succList[k]!]!;
      this.#busy[v] = b;
      deepFree[v] = this.#deepFree(v) ? 1 : 0;
    }
    this.touched.clear();
    for (let i = 0; i < n; i++) this.touched.add(i);
  }

  /** Every atom behind `i` is done (deeply). */
  predsDone(i: number): boolean {
    const start = this.c.graph.predStart;
    return this.#done[i] === start[i + 1]! - start[i]!;
  }

  /** Every atom after `i` is free (deeply). */
  succsFree(i: number): boolean {
    return this.#busy[i] === 0;
  }

  #deepDone(v: number, d: AtomDetail | undefined = v < this.#atomCount ? this.detail(v) : undefined): boolean {
    const start = this.c.graph.predStart;
    return this.#done[v] === start[v + 1]! - start[v]! && (d === undefined || isDone(d));
  }

  #deepFree(v: number, d: AtomDetail | undefined = v < this.#atomCount ? this.detail(v) : undefined): boolean {
    return this.#busy[v] === 0 && (d === undefined || isFree(d));
  }

  /** Node `from` became deep-done (+1) or stopped being (-1): tell its successors, and theirs while they flip. */
  #doneChanged(from: number, delta: 1 | -1): void {
    const { succStart, succList } = this.c.graph;
    const n = this.#atomCount;
    const work = this.#work;
    work.push(from);
    while (work.length > 0) {
      const v = work.pop()!;
      for (let k = succStart[v]!; k < succStart[v + 1]!; k++) {
        const s = succList[k]!;
        const before = this.#deepDone(s);
        this.#done[s]! += delta;
        if (s < n) this.touched.add(s);
        if (before !== this.#deepDone(s)) work.push(s);
      }
    }
  }

  /** Node `from` became deep-free (delta -1 to its predecessors' busy) or stopped being (+1). */
  #freeChanged(from: number, delta: 1 | -1): void {
    const { predStart, predList } = this.c.graph;
    const n = this.#atomCount;
    const work = this.#work;
    work.push(from);
    while (work.length > 0) {
      const v = work.pop()!;
      for (let k = predStart[v]!; k < predStart[v + 1]!; k++) {
        const p = predList[k]!;
        const before = this.#deepFree(p);
        this.#busy[p]! += delta;
        if (p < n) this.touched.add(p);
        if (before !== this.#deepFree(p)) work.push(p);
      }
    }
  }

  /** Scratch stack of the two walks above (they never nest). */
  readonly #work: number[] = [];

  /** Keeps the counters true across atom `i`'s record changing from `before` to `after`. */
  #recount(i: number, before: AtomDetail, after: AtomDetail): void {
    const wasDone = this.#deepDone(i, before);
    const nowDone = this.#deepDone(i, after);
    if (wasDone !== nowDone) this.#doneChanged(i, nowDone ? 1 : -1);
    const wasFree = this.#deepFree(i, before);
    const nowFree = this.#deepFree(i, after);
    if (wasFree !== nowFree) this.#freeChanged(i, nowFree ? -1 : 1);
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
    this.#recount(i, before, after);
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

  /**
   * Has storage store `record` for atom `i` in place of its in-memory record until that changes
   * (no transition, no event, no counter: the in-memory run does not see it). A new record gets
   * `updatedAt` (its time); an earlier one (`updatedAt` undefined) is stored as it was.
   */
  hold(i: number, record: AtomDetail, updatedAt: number | undefined): void {
    if (updatedAt !== undefined) (record as { updatedAt: number | null }).updatedAt = updatedAt;
    this.storage.hold(i, record);
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
    this.#recount(i, before, record);
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
