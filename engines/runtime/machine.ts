/**
 * The loop: RESUMING → SCHEDULING → WAITING → ANALYZING → … → SUCCESS | REVERTED | FAILURE |
 * SUSPENDED. `step(state)` does the work of one state and returns the next (declared in
 * `NEXT`). Outcomes are applied one at a time by this single writer; each step's writes are
 * committed together and its events emitted after the commit. Executors only run jobs. A serial
 * batch is still one step, but between its members the outcome so far and the next start are
 * committed too (#between), so a crash inside it only runs the member in flight again.
 */
import createDebug from 'debug';
import { AtomTimeout, AtomflowError, InvalidStateTransition, WrappedFailure } from '../../lib/errors.js';
import { Failure } from '../../lib/failure.js';
import { IdHeap } from '../../lib/heap.js';
import { History, Retry } from '../../lib/retry.js';
import { flowTransition, type EngineState, type FlowState } from '../../lib/states.js';
import type { Task } from '../../lib/task.js';
import { recordWith, type AtomDetail, type StoredAttempt } from '../../persistence/models.js';
import { now, type Completion, type Executor, type Job, type Post } from '../executors/executor.js';
import type { Clock } from './clock.js';
import { decide, ignoredBy, intentionsFor, readiness, resolveFailure, type DecisionRecord, type ReadView } from './decide.js';
import { AtomJob, Deadline, ExecuteContext, RevertingContext } from './jobs.js';
import { Batch } from './batch.js';
import { Committer } from './committer.js';
import type { Lease } from './lease.js';
import { metaOf, received } from './meta.js';
import type { EventEntry, Runtime } from './runtime.js';
import { historyOf } from './storage.js';

const log = createDebug('atomflow:engine');

export interface MachineOptions {
  readonly onFailure: 'revert' | 'halt';
  readonly revertScope: 'subflow' | 'defer-to-parent';
  readonly signal: AbortSignal | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  /** The timeout of atoms that set none (undefined: none). */
  readonly timeoutMs: number | undefined;
  /** The run's claim: its token fences every commit, and it is renewed while the run goes on. */
  readonly lease: Lease | undefined;
}

/** What the loop may do next from each state (the machine's table). */
export const NEXT: Readonly<Record<EngineState, readonly EngineState[]>> = {
  RESUMING: ['SCHEDULING'],
  SCHEDULING: ['WAITING'],
  WAITING: ['ANALYZING'],
  ANALYZING: ['SCHEDULING', 'WAITING', 'SUCCESS', 'REVERTED', 'FAILURE', 'SUSPENDED'],
  SUCCESS: [],
  REVERTED: [],
  FAILURE: [],
  SUSPENDED: [],
};

type Note = { readonly kind: 'progress'; readonly atom: number; readonly progress: number; readonly details?: Readonly<Record<string, unknown>> } | { readonly kind: 'wake' };

const NEVER = new AbortController().signal;

export class Machine {
  readonly #rt: Runtime;
  readonly #o: MachineOptions;
  readonly #executor: Executor;
  /** The executor queues a batch and runs it in `drain()` (serial): members start one by one. */
  readonly #queuing: boolean;
  /** When each serial batch member's job ended (stamped in #between; 0: not stamped). */
  readonly #endedAt: Float64Array;
  readonly #inflight: Uint8Array;
  #running = 0;
  readonly #completions = new Batch<Completion>();
  #notes: Note[] = [];
  #wake: (() => void) | undefined;
  #stop: 'none' | 'suspend' | 'fail' = 'none';
  /** Errors that end the run in FAILURE: revert failures, engine errors, halted failures. */
  readonly #retained: unknown[] = [];
  readonly #committer: Committer;
  readonly #rerevert = new Set<number>();
  readonly #queued: Uint8Array;
  readonly #toExecute: IdHeap;
  readonly #toRevert: IdHeap;
  readonly #failures = new Map<string, Failure>();
  #failureSnapshot: Readonly<Record<string, Failure>> | undefined;
  readonly #plannedDelay = new Map<number, number>();
  readonly #timers = new Map<number, () => void>();
  readonly #view: ReadView;
  #offAbort: (() => void) | undefined;

  constructor(rt: Runtime, makeExecutor: (post: Post) => Executor, options: MachineOptions) {
    this.#rt = rt;
    this.#o = options;
    const n = rt.c.atoms.length;
    this.#inflight = new Uint8Array(n);
    this.#queued = new Uint8Array(n);
    this.#executor = makeExecutor((c) => {
      this.#completions.push(c);
      this.#poke();
    });
    this.#queuing = this.#executor.drain !== undefined;
    this.#endedAt = new Float64Array(this.#queuing ? n : 0);
    this.#committer = new Committer(
      rt,
      {
        stopping: () => this.#stop !== 'none',
        halt: () => {
          this.#stop = 'fail';
        },
        calledOff: (atom) => {
          this.#inflight[atom] = 0;
        },
        start: (job) => {
          this.#running++;
          this.#executor.start(job);
        },
        wake: () => this.#poke(),
      },
      options.lease,
    );
    const atoms = rt.c.atoms;
    // Priority first (higher first), then flow order: earlier first to execute, later first to revert.
    const priority = new Float64Array(n);
    for (let i = 0; i < n; i++) priority[i] = atoms[i]!.priority;
    this.#toExecute = new IdHeap(priority);
    this.#toRevert = new IdHeap(priority, true);
    this.#view = rt;
  }

  get stopping(): boolean {
    return this.#stop !== 'none';
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Asks the run to stop: nothing new starts, in-flight work finishes. */
  suspend(): void {
    if (this.#stop !== 'none') return;
    this.#stop = 'suspend';
    this.#setFlowState('SUSPENDING');
    this.#notes.push({ kind: 'wake' });
    this.#poke();
  }

  // ---- the loop ---------------------------------------------------------------------------

  step(state: EngineState): EngineState | Promise<EngineState> {
    switch (state) {
      case 'RESUMING':
        return this.#resuming();
      case 'SCHEDULING':
        return this.#scheduling();
      case 'WAITING':
        return this.#waiting();
      case 'ANALYZING':
        return this.#analyzing();
      case 'SUCCESS':
      case 'REVERTED':
      case 'FAILURE':
      case 'SUSPENDED':
        return state;
      default: {
        const never: never = state;
        return never;
      }
    }
  }

  #resuming(): EngineState {
    const signal = this.#o.signal;
    if (signal) {
      if (signal.aborted) this.#stop = 'suspend';
      else {
        const onAbort = () => this.suspend();
        signal.addEventListener('abort', onAbort, { once: true });
        this.#offAbort = () => signal.removeEventListener('abort', onAbort);
      }
    }
    const rt = this.#rt;
    const stored = rt.storage.flow.state ?? 'PENDING';
    if (stored === 'RUNNING' || stored === 'SUSPENDING') {
      this.#setFlowState('RESUMING');
      this.#setFlowState('SUSPENDED');
    }
    this.#setFlowState('RUNNING');
    if (this.#stop === 'suspend') this.#setFlowState('SUSPENDING');
    const n = rt.c.atoms.length;
    for (let i = 0; i < n; i++) {
      const d = rt.detail(i);
      if (d.failure) this.#failures.set(d.name, d.failure);
      if (d.state === 'REVERT_FAILURE') this.#rerevert.add(i);
    }
    for (const d of rt.storage.orphans) if (d.failure) this.#failures.set(d.name, d.failure);
    // Failures stored but never resolved (a crash came first): resolve them now, or (halt) run again.
    for (let i = 0; i < n; i++) {
      const d = rt.detail(i);
      if (d.state !== 'FAILURE' || d.intention !== 'EXECUTE' || d.failure === null) continue;
      if (this.#o.onFailure === 'halt') {
        this.#failures.delete(d.name);
        rt.resetAtom(i);
      } else this.#resolve(i, d.failure);
    }
    return 'SCHEDULING';
  }

  #scheduling(): EngineState | Promise<EngineState> {
    if (this.#stop === 'none') {
      const cap = this.#executor.capacity;
      while (this.#running + this.#startedThisStep < cap && this.#stop === 'none') {
        const i = this.#nextReady();
        if (i === undefined) break;
        this.#act(i);
      }
    }
    this.#startedThisStep = 0;
    // The serial executor runs its batch here, inside SCHEDULING (as TaskFlow's serial engine).
    const committed = this.#committer.commit();
    if (committed === undefined) {
      const drained = this.#executor.drain?.(this.#between);
      return drained === undefined ? 'WAITING' : this.#unlessLost(drained).then(() => 'WAITING' as const);
    }
    return committed.then(() => this.#unlessLost(this.#executor.drain?.(this.#between))).then(() => 'WAITING' as const);
  }

  /** A serial batch of async atoms, unless the claim is lost first (the loop then stops at once). */
  #unlessLost(drained: Promise<void>): Promise<void>;
  #unlessLost(drained: void | Promise<void>): void | Promise<void>;
  #unlessLost(drained: void | Promise<void>): void | Promise<void> {
    const lost = drained === undefined ? undefined : this.#committer.whenLost;
    return lost === undefined ? drained : Promise.race([drained, lost]);
  }

  #startedThisStep = 0;

  /**
   * The engine's side of execution info (`submittedAt`, `receivedAt`) reads the clock once per
   * stretch of synchronous work: outcomes taken in and the jobs they make ready are stamped with the
   * same time. It is read again after every wait (WAITING), so each outcome is received after its
   * job ended, and each job is handed over before it starts.
   */
  #stepTime = Number.NaN;

  #now(): number {
    let t = this.#stepTime;
    if (t !== t) this.#stepTime = t = now();
    return t;
  }

  #waiting(): EngineState | Promise<EngineState> {
    this.#stepTime = Number.NaN;
    if (this.#completions.size > 0 && this.#notes.length === 0) return 'ANALYZING';
    return this.#waitLoop();
  }

  async #waitLoop(): Promise<EngineState> {
    for (;;) {
      if (this.#completions.size > 0 || this.#committer.lost) break;
      if (this.#notes.length > 0) {
        this.#applyNotes();
        await this.#committer.commit();
        continue;
      }
      if (this.#running === 0 && (this.#timers.size === 0 || this.#stop !== 'none')) break;
      if (this.#running === 0 && this.#timers.size > 0 && this.#hasReady()) break;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      // Others still running may finish in this same turn of the event loop (timers due together,
      // I/O read together): let them, and analyse their outcomes as one step.
      if (this.#completions.size > 0 && this.#completions.size < this.#running) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return 'ANALYZING';
  }

  #analyzing(): EngineState | Promise<EngineState> {
    if (this.#committer.lost) {
      // Another owner has the flow: outcomes still to come (or come) are never applied.
      this.#completions.clear();
      this.#notes = [];
      return this.#finish();
    }
    if (this.#notes.length > 0) this.#applyNotes();
    // Outcomes only arrive from executors, never while these are applied.
    const done = this.#completions;
    for (let k = 0; k < done.size; k++) this.#complete(done.at(k));
    done.clear();
    if (this.#stop === 'none' && this.#hasReady()) return 'SCHEDULING';
    if (this.#running > 0 || (this.#stop === 'none' && this.#timers.size > 0)) {
      const committed = this.#committer.commit();
      return committed === undefined ? 'WAITING' : committed.then(() => 'WAITING' as const);
    }
    return this.#finish();
  }

  async #finish(): Promise<EngineState> {
    this.#offAbort?.();
    for (const cancel of this.#timers.values()) cancel();
    this.#timers.clear();
    const rt = this.#rt;
    let final: 'SUCCESS' | 'REVERTED' | 'FAILURE' | 'SUSPENDED';
    if (this.#retained.length > 0 || this.#committer.broken) final = 'FAILURE';
    else {
      let anyReady = false;
      let allDone = true;
      for (let i = 0; i < rt.c.atoms.length; i++) {
        if (!anyReady && readiness(this.#view, i, false, this.#rerevert.has(i)) !== 'none') anyReady = true;
        const s = rt.detail(i).state;
        if (s !== 'SUCCESS' && s !== 'IGNORE') allDone = false;
      }
      final = anyReady ? 'SUSPENDED' : allDone ? 'SUCCESS' : 'REVERTED';
    }
    this.#setFlowState(final);
    await this.#committer.commit();
    // The final state could not be stored: the run has not ended as far as the store knows, so it
    // must not be reported as ended either (run() rejects with the StorageFailure).
    if (this.#committer.broken !== undefined && final !== 'FAILURE') {
      log('flow %s: its final state %s could not be stored', rt.storage.flow.name, final);
      return 'FAILURE';
    }
    log('flow %s ended %s', rt.storage.flow.name, final);
    return final;
  }

  /** The error `run()` rejects with after FAILURE or REVERTED. */
  outcome(final: EngineState): unknown {
    const broken = this.#committer.broken;
    if (broken) return broken;
    if (final === 'FAILURE') {
      const engineErrors = this.#retained.filter((e) => !(e instanceof Failure));
      if (engineErrors.length > 0) return engineErrors[0];
      return errorOf(this.#retained as Failure[]);
    }
    if (final === 'REVERTED') {
      const failures = [...this.#failures.values()];
      return failures.length > 0 ? errorOf(failures) : new AtomflowError(`flow '${this.#rt.storage.flow.name}' was reverted`);
    }
    return undefined;
  }

  // ---- scheduling ---------------------------------------------------------------------------

  #readiness(i: number) {
    return readiness(this.#view, i, this.#inflight[i] === 1, this.#rerevert.size !== 0 && this.#rerevert.has(i));
  }

  #collect(): void {
    const touched = this.#rt.touched;
    for (let k = 0; k < touched.size; k++) {
      const i = touched.at(k);
      if (this.#queued[i] === 1) continue;
      const r = this.#readiness(i);
      if (r === 'none') continue;
      this.#queued[i] = 1;
      (r === 'execute' ? this.#toExecute : this.#toRevert).push(i);
    }
    touched.clear();
  }

  /** The next atom to act on (reverts and retries before executions), dropping stale entries. */
  #peekReady(take: boolean): number | undefined {
    this.#collect();
    const i = this.#peekIn(this.#toRevert, false, take);
    return i !== undefined ? i : this.#peekIn(this.#toExecute, true, take);
  }

  #peekIn(heap: IdHeap, forExecute: boolean, take: boolean): number | undefined {
    for (;;) {
      const i = heap.peek();
      if (i === undefined) return undefined;
      const r = this.#readiness(i);
      const valid = r !== 'none' && (r === 'execute') === forExecute && !this.#delayed(i);
      if (valid && !take) return i;
      heap.pop();
      this.#queued[i] = 0;
      if (valid) return i;
      if (r !== 'none' && !this.#delayed(i)) {
        // Its kind of readiness changed: queue it where it now belongs.
        this.#queued[i] = 1;
        (r === 'execute' ? this.#toExecute : this.#toRevert).push(i);
      }
    }
  }

  #hasReady(): boolean {
    return this.#peekReady(false) !== undefined;
  }

  #nextReady(): number | undefined {
    return this.#peekReady(true);
  }

  /** A retry waiting out its backoff: arm a timer (once) and skip it until then. */
  #delayed(i: number): boolean {
    const at = this.#rt.detail(i).meta.retryAt;
    if (typeof at !== 'number' || this.#rt.detail(i).state !== 'RETRYING') return false;
    const wait = at - this.#o.clock.now();
    if (wait <= 0) return false;
    if (!this.#timers.has(i)) {
      const cancel = this.#o.clock.setTimer(wait, () => {
        this.#timers.delete(i);
        this.#rt.touched.add(i);
        this.#notes.push({ kind: 'wake' });
        this.#poke();
      });
      this.#timers.set(i, cancel);
    }
    return true;
  }

  readonly #resultOf = (s: number): unknown => this.#rt.storage.details[s]!.results;

  #act(i: number): void {
    const kind = readiness(this.#view, i, false, this.#rerevert.size !== 0 && this.#rerevert.has(i));
    switch (kind) {
      case 'retry':
        this.#retry(i);
        return;
      case 'revert':
        this.#startRevert(i);
        return;
      case 'execute': {
        const depth = this.#rt.c.deciders.size === 0 ? undefined : decide(this.#view, i, this.#resultOf);
        if (depth !== undefined) {
          for (const a of ignoredBy(this.#rt.c, i, depth)) {
            const d = this.#rt.detail(a);
            if (d.state === 'PENDING') this.#rt.write(a, { state: 'IGNORE', intention: 'IGNORE' });
          }
          return;
        }
        this.#startExecute(i);
        return;
      }
      case 'none':
        return;
      default: {
        const never: never = kind;
        return never;
      }
    }
  }

  /** Where `ctx.progress()` lands: a note applied (and committed) by the loop. */
  readonly #progressSink = (atom: number, fraction: number, details: Readonly<Record<string, unknown>> | undefined): void => {
    const p = typeof fraction === 'number' && Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
    this.#notes.push(details === undefined ? { kind: 'progress', atom, progress: p } : { kind: 'progress', atom, progress: p, details });
    this.#poke();
  };

  #begin(i: number, job: AtomJob, after: AtomDetail): void {
    const rt = this.#rt;
    const mark = rt.queue.size;
    rt.put(i, after);
    // A serial batch runs its members one by one: until a member really starts (#between), the
    // store keeps its record from before (only the first member starts with the step's commit).
    if (this.#queuing && this.#startedThisStep > 0) rt.hold(i, job.prev, undefined);
    // Tasks report progress; retries do not (as TaskFlow).
    if (after.kind === 'task' && rt.listens('progress')) rt.report('progress', () => ({ name: job.prev.name, progress: 0 }));
    // The start's own events travel with it (emitted only if the start is not called off).
    if (rt.queue.size > mark) job.events = rt.queue.takeFrom(mark) as EventEntry[];
    rt.queue.push(job);
    this.#inflight[i] = 1;
    this.#startedThisStep++;
  }

  #startExecute(i: number): void {
    const rt = this.#rt;
    const ca = rt.c.atoms[i]!;
    let args: Record<string, unknown>;
    try {
      args = rt.storage.argsFor(i, ca.atom.executeArgs);
    } catch (e) {
      this.#retain(e);
      return;
    }
    const parents = rt.storage.parentsOfLast(i, 'execute');
    const deadline = this.#deadline(ca.atom.timeoutMs, this.#o.signal);
    const d = rt.detail(i);
    const signal = deadline !== undefined ? deadline.controller.signal : (this.#o.signal ?? NEVER);
    const ctx = new ExecuteContext(ca.name, signal, i, this.#progressSink, rt.storage.flow.uuid, d);
    const job = new AtomJob(i, 'execute', ca.atom, args, ctx, ca.kind === 'retry' ? historyOf(d) : undefined, d, this.#now(), parents, deadline);
    const meta = metaOf(d.meta, 0, d.meta.progressDetails, d.meta.execution, undefined);
    this.#begin(i, job, recordWith(d, 'RUNNING', d.intention, d.results, d.failure, d.revertResults, d.revertFailure, meta));
  }

  #startRevert(i: number): void {
    const rt = this.#rt;
    const ca = rt.c.atoms[i]!;
    const d = rt.detail(i);
    let args: Record<string, unknown>;
    try {
      args = rt.storage.argsFor(i, ca.atom.revertArgs);
    } catch (e) {
      // A revert that cannot get its arguments has failed.
      const failure = Failure.from(e);
      rt.write(i, { state: 'REVERTING' });
      rt.write(i, { state: 'REVERT_FAILURE', revertFailure: failure, revertResults: undefined }, { failure });
      this.#retain(failure);
      return;
    }
    // Reverts are shielded from the run's abort: their signal aborts only on their own timeout.
    const parents = rt.storage.parentsOfLast(i, 'revert');
    const deadline = this.#deadline(ca.atom.timeoutMs, undefined);
    const isRetry = ca.kind === 'retry';
    const signal = deadline !== undefined ? deadline.controller.signal : NEVER;
    const ctx = new RevertingContext(ca.name, signal, i, this.#progressSink, rt.storage.flow.uuid, d, isRetry ? undefined : (d.failure ?? d.results), this.#flowFailures());
    const job = new AtomJob(i, 'revert', ca.atom, args, ctx, isRetry ? historyOf(d) : undefined, d, this.#now(), parents, deadline);
    this.#rerevert.delete(i);
    const meta = metaOf(d.meta, 0, d.meta.progressDetails, d.meta.execution, d.meta.retryAt);
    this.#begin(i, job, recordWith(d, 'REVERTING', d.intention, d.results, d.failure, d.revertResults, d.revertFailure, meta));
  }

  /** The timeout of a job (the atom's own, else the run's default); none when neither is set. */
  #deadline(own: number | undefined, runSignal: AbortSignal | undefined): Deadline | undefined {
    const ms = own ?? this.#o.timeoutMs;
    return ms === undefined ? undefined : new Deadline(ms, this.#o.clock, runSignal);
  }

  #flowFailures(): Readonly<Record<string, Failure>> {
    if (this.#failureSnapshot === undefined) this.#failureSnapshot = Object.freeze(Object.fromEntries(this.#failures));
    return this.#failureSnapshot;
  }

  /** RETRY: the subflow has been reverted; reset it and run the retry again. */
  #retry(r: number): void {
    const rt = this.#rt;
    const d = rt.detail(r);
    const retry = rt.c.atoms[r]!.atom as Retry;
    const delay = this.#plannedDelay.get(r) ?? retry.delayBefore(historyOf(d).length, this.#o.random);
    this.#plannedDelay.delete(r);
    const meta = delay > 0 ? metaOf(d.meta, d.meta.progress, d.meta.progressDetails, d.meta.execution, this.#o.clock.now() + delay) : d.meta;
    if (d.state !== 'RETRYING') rt.write(r, { state: 'RETRYING', intention: 'EXECUTE', meta });
    else rt.write(r, { intention: 'EXECUTE', meta });
    for (const a of rt.downstream(r)) {
      const ad = rt.detail(a);
      if (ad.failure) {
        this.#failures.delete(ad.name);
        this.#failureSnapshot = undefined;
      }
      rt.resetAtom(a);
    }
  }

  #setFlowState(to: FlowState): void {
    const storage = this.#rt.storage;
    const from = storage.flow.state ?? 'PENDING';
    const t = flowTransition(from, to);
    if (t === 'ignore') return;
    if (t === 'invalid') throw new InvalidStateTransition(`flow '${storage.flow.name}'`, from, to);
    storage.setFlow({ state: to });
    this.#rt.report('flow', () => ({ name: storage.flow.name, state: to, previousState: from, flowUuid: storage.flow.uuid }));
  }

  #retain(error: unknown): void {
    this.#retained.push(error);
    this.#stop = 'fail';
  }

  // ---- analysis -----------------------------------------------------------------------------

  #applyNotes(): void {
    const notes = this.#notes;
    this.#notes = [];
    const rt = this.#rt;
    for (const note of notes) {
      if (note.kind !== 'progress') continue;
      const d = rt.detail(note.atom);
      if (d.state !== 'RUNNING' && d.state !== 'REVERTING') continue;
      const progressDetails = note.details === undefined ? null : { atProgress: note.progress, details: { ...note.details } };
      rt.write(note.atom, { meta: metaOf(d.meta, note.progress, progressDetails, d.meta.execution, d.meta.retryAt) });
      if (d.kind === 'task') rt.report('progress', () => ({ name: d.name, progress: note.progress, ...(note.details ? { details: note.details } : {}) }));
    }
  }

  #complete(c: Completion): void {
    const i = c.job.atom;
    this.#inflight[i] = 0;
    this.#running--;
    // In a serial batch the outcome may be stored already (see #between): apply that same record,
    // or (progress came in since) make it again with the time it really ended.
    let early: AtomDetail | undefined;
    let at: number;
    if (this.#queuing && this.#endedAt[i] !== 0) {
      early = this.#early(c);
      at = this.#endedAt[i]!;
      this.#endedAt[i] = 0;
    } else at = this.#now();
    const job = c.job;
    if (job.action === 'execute') {
      if (c.ok) this.#executed(i, c.value, job, early, at);
      else this.#executeFailed(i, c.value, job, early, at);
    } else if (c.ok) this.#reverted(i, c.value, job, early, at);
    else this.#revertFailed(i, c.value, job, early, at);
  }

  /** The record of outcome `c` stored before its analysis, if any. */
  #early(c: Completion): AtomDetail | undefined {
    const held = this.#rt.storage.held(c.job.atom);
    if (held === undefined) return undefined;
    const state = c.job.action === 'execute' ? (c.ok ? 'SUCCESS' : 'FAILURE') : c.ok ? 'REVERTED' : 'REVERT_FAILURE';
    return held.state === state ? held : undefined;
  }

  /** The record an outcome makes of atom `d` at time `at`; undefined for an interrupted execute (it stays RUNNING). */
  #outcomeRecord(c: Completion, d: AtomDetail, at: number): AtomDetail | undefined {
    const job = c.job;
    if (job.action === 'execute') {
      if (c.ok) return this.#executedRecord(d, c.value, job, at);
      return this.#interrupted(c.value) ? undefined : this.#executeFailedRecord(d, c.value, job, at);
    }
    return c.ok ? this.#revertedRecord(d, c.value, job, at) : this.#revertFailedRecord(d, c.value, job, at);
  }

  /**
   * Between two jobs of a serial batch (`Executor.drain`): stores the outcome of the job that just
   * ran (analysed later, with the whole batch; received now, in its execution info) and the start
   * of the next in place of the record held back at the batch's start. So after a crash only the
   * job in flight runs again.
   */
  readonly #between = (done: Completion | undefined, next: Job): Promise<void> | undefined => {
    const rt = this.#rt;
    if (done === undefined && rt.storage.held(next.atom) === undefined) return undefined;
    const at = now();
    if (done !== undefined) {
      const i = done.job.atom;
      this.#endedAt[i] = at;
      const record = this.#outcomeRecord(done, rt.detail(i), at);
      if (record !== undefined) rt.hold(i, record, Math.trunc(at));
    }
    const d = rt.detail(next.atom);
    rt.put(next.atom, recordWith(d, d.state, d.intention, d.results, d.failure, d.revertResults, d.revertFailure, d.meta));
    return this.#committer.commit();
  };

  #executed(i: number, value: unknown, job: Job, early: AtomDetail | undefined, at: number): void {
    const rt = this.#rt;
    const d = rt.detail(i);
    rt.put(i, early ?? this.#executedRecord(d, value, job, at), rt.listens('atom') ? { result: value } : undefined);
    if (d.kind === 'task' && rt.listens('progress')) rt.report('progress', () => ({ name: d.name, progress: 1 }));
  }

  #executedRecord(d: AtomDetail, value: unknown, job: Job, at: number): AtomDetail {
    const meta = metaOf(d.meta, 1, d.meta.progressDetails, received(d.meta.execution, 'execute', job, at, true), d.meta.retryAt);
    // A retry's results are its history of attempts; a task's, what execute returned.
    const results =
      d.kind === 'retry' ? Object.freeze([...(d.results as StoredAttempt[]), Object.freeze({ value, failures: Object.freeze({}) })]) : value;
    return recordWith(d, 'SUCCESS', d.intention, results, null, d.revertResults, d.revertFailure, meta);
  }

  /**
   * Whether an execute error is an interruption, not a failure: the run's signal aborted it, or
   * its timeout passed while the run was suspending (an atom that ignores its signal is then
   * abandoned, not failed, so a suspend never waits longer than the atom's timeout).
   */
  #interrupted(error: unknown): boolean {
    if (this.#stop === 'suspend' && isTimeout(error)) return true;
    const signal = this.#o.signal;
    if (!signal?.aborted) return false;
    return error === signal.reason || (error instanceof Error && error.name === 'AbortError');
  }

  #executeFailed(i: number, error: unknown, job: Job, early: AtomDetail | undefined, at: number): void {
    const rt = this.#rt;
    const d = rt.detail(i);
    if (early === undefined && this.#interrupted(error)) {
      // Interrupted, not failed: it stays RUNNING (as after a crash) and runs again on resume.
      log('atom %s interrupted (%s)', rt.c.atoms[i]!.name, isTimeout(error) ? 'timed out while suspending' : 'abort');
      rt.write(i, { meta: metaOf(d.meta, d.meta.progress, d.meta.progressDetails, received(d.meta.execution, 'execute', job, at, false), d.meta.retryAt) });
      return;
    }
    const after = early ?? this.#executeFailedRecord(d, error, job, at);
    const failure = after.failure!;
    rt.put(i, after, { failure });
    this.#failures.set(d.name, failure);
    this.#failureSnapshot = undefined;
    if (this.#o.onFailure === 'halt') {
      this.#retain(failure);
      return;
    }
    this.#resolve(i, failure);
  }

  #executeFailedRecord(d: AtomDetail, error: unknown, job: Job, at: number): AtomDetail {
    const meta = metaOf(d.meta, d.meta.progress, d.meta.progressDetails, received(d.meta.execution, 'execute', job, at, false), d.meta.retryAt);
    return recordWith(d, 'FAILURE', d.intention, d.kind === 'retry' ? d.results : undefined, Failure.from(error), d.revertResults, d.revertFailure, meta);
  }

  #resolve(i: number, failure: Failure): void {
    const rt = this.#rt;
    const decisions: DecisionRecord[] = [];
    let strategy;
    try {
      strategy = resolveFailure(
        rt.c,
        i,
        failure,
        {
          deferToParent: this.#o.revertScope === 'defer-to-parent',
          recordFailure: (r, atomName, f) => {
            const rd = rt.detail(r);
            const attempts = [...(rd.results as StoredAttempt[])];
            const last = attempts.pop() ?? { value: undefined, failures: {} };
            attempts.push(Object.freeze({ value: last.value, failures: Object.freeze({ ...last.failures, [atomName]: f }) }));
            rt.write(r, { results: Object.freeze(attempts) });
            return new History(attempts, rd.failure ?? undefined);
          },
          ask: (r, history) => {
            const retry = rt.c.atoms[r]!.atom as Retry;
            return retry.onFailure(history, rt.storage.argsFor(r, retry.executeArgs));
          },
        },
        decisions,
      );
    } catch (e) {
      this.#retain(e);
      return;
    }
    for (const rec of decisions) {
      let delayMs: number | undefined;
      if (rec.decision === 'RETRY') {
        const retry = rt.c.atoms[rec.retry]!.atom as Retry;
        delayMs = retry.delayBefore(rec.attempt, this.#o.random);
        this.#plannedDelay.set(rec.retry, delayMs);
      }
      rt.report('retry', () => ({
        name: rt.c.atoms[rec.retry]!.name,
        decision: rec.decision,
        attempt: rec.attempt,
        failedAtom: rt.c.atoms[rec.failedAtom]!.name,
        failure: rec.failure,
        ...(delayMs !== undefined ? { delayMs } : {}),
      }));
    }
    for (const [a, intention] of intentionsFor(strategy, this.#view, (r) => rt.downstream(r))) rt.setIntention(a, intention);
  }

  #reverted(i: number, value: unknown, job: Job, early: AtomDetail | undefined, at: number): void {
    const rt = this.#rt;
    const d = rt.detail(i);
    rt.put(i, early ?? this.#revertedRecord(d, value, job, at), rt.listens('atom') ? { result: value } : undefined);
    if (d.kind === 'task' && rt.listens('progress')) rt.report('progress', () => ({ name: d.name, progress: 1 }));
  }

  #revertedRecord(d: AtomDetail, value: unknown, job: Job, at: number): AtomDetail {
    const meta = metaOf(d.meta, 1, d.meta.progressDetails, received(d.meta.execution, 'revert', job, at, true), d.meta.retryAt);
    const results = d.kind === 'retry' ? Object.freeze([]) : d.results;
    return recordWith(d, 'REVERTED', d.intention, results, d.failure, value, null, meta);
  }

  #revertFailed(i: number, error: unknown, job: Job, early: AtomDetail | undefined, at: number): void {
    const rt = this.#rt;
    const after = early ?? this.#revertFailedRecord(rt.detail(i), error, job, at);
    const failure = after.revertFailure!;
    rt.put(i, after, { failure });
    this.#retain(failure);
  }

  #revertFailedRecord(d: AtomDetail, error: unknown, job: Job, at: number): AtomDetail {
    const meta = metaOf(d.meta, d.meta.progress, d.meta.progressDetails, received(d.meta.execution, 'revert', job, at, false), d.meta.retryAt);
    return recordWith(d, 'REVERT_FAILURE', d.intention, d.results, d.failure, undefined, Failure.from(error), meta);
  }
}

/** Whether `error` is an AtomTimeout (a hostile thrown value, such as a revoked proxy, is not). */
function isTimeout(error: unknown): boolean {
  try {
    return error instanceof AtomTimeout;
  } catch {
    return false;
  }
}

function errorOf(failures: readonly Failure[]): unknown {
  if (failures.length === 1) {
    const f = failures[0]!;
    return f.exception !== undefined ? f.exception : new WrappedFailure([f]);
  }
  return new WrappedFailure(failures);
}
