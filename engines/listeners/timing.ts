/**
 * TimingListener (TaskFlow's `DurationListener` / `PrintingDurationListener`): times each atom's
 * execute (RUNNING → SUCCESS | FAILURE) and revert (REVERTING → REVERTED | REVERT_FAILURE), and
 * the flow (RUNNING → SUCCESS | REVERTED | FAILURE | SUSPENDED). A transition back to PENDING
 * drops a running timer. TaskFlow writes `meta['duration']`; here the durations live on the
 * listener (`atoms()`, `duration()`, `flowMs`, `summary()`), because only the engine writes to
 * storage. The durations the engine stores are in each atom detail's `meta.execution`.
 *
 * With `printer`, it also says what starts and how long it took (PrintingDurationListener):
 * `'a' task started.`, `It took task 'a' 0.01 seconds to finish.`
 */
import { performance } from 'node:perf_hooks';
import type { AtomEvent, FlowEvent } from '../../lib/events.js';
import type { AtomKind } from '../../lib/states.js';
import { EngineListener, checkListenerOptions, type ListenableEngine } from './base.js';

export interface AtomTiming {
  readonly name: string;
  readonly kind: AtomKind;
  /** The last finished execute, in ms. */
  readonly executeMs: number | undefined;
  /** The last finished revert, in ms. */
  readonly revertMs: number | undefined;
  /** How many executes finished (more than one after retries or a re-run). */
  readonly executions: number;
  /** Every finished execute and revert added up, in ms. */
  readonly totalMs: number;
}

export interface TimingListenerOptions {
  /** The clock, in ms (default `performance.now`). */
  readonly now?: () => number;
  /** Called with a line when something starts and when it finishes (PrintingDurationListener). */
  readonly printer?: (line: string) => void;
  /** Also time retry controllers (default true). */
  readonly retries?: boolean;
}

const KEYS = ['now', 'printer', 'retries'] as const;

interface Slot {
  name: string;
  kind: AtomKind;
  executeMs: number | undefined;
  revertMs: number | undefined;
  executions: number;
  totalMs: number;
  /** The running timer: what it times and when it started. */
  timer: { phase: 'execute' | 'revert'; since: number } | undefined;
}

const FLOW_END: ReadonlySet<string> = new Set(['SUCCESS', 'REVERTED', 'FAILURE', 'SUSPENDED']);

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

export class TimingListener extends EngineListener {
  readonly #now: () => number;
  readonly #printer: ((line: string) => void) | undefined;
  readonly #retries: boolean;
  readonly #slots = new Map<string, Slot>();
  #flowName: string | undefined;
  #flowSince: number | undefined;
  #flowMs: number | undefined;

  constructor(engine: ListenableEngine, options: TimingListenerOptions = {}) {
    super(engine);
    checkListenerOptions('TimingListener', options, KEYS);
    this.#now = options.now ?? (() => performance.now());
    this.#printer = options.printer;
    this.#retries = options.retries ?? true;
  }

  /** How long the flow's last run took (ms), once it ended. */
  get flowMs(): number | undefined {
    return this.#flowMs;
  }

  /** Every atom seen, in the order it first moved. */
  atoms(): AtomTiming[] {
    return [...this.#slots.values()].map(({ timer: _t, ...rest }) => Object.freeze({ ...rest }));
  }

  /** An atom's last execute duration (ms), if one finished. */
  duration(atomName: string): number | undefined {
    return this.#slots.get(atomName)?.executeMs;
  }

  /** A human summary: one line per atom (slowest first), then the flow. */
  summary(): string {
    const rows = this.atoms().sort((a, b) => b.totalMs - a.totalMs);
    const width = rows.reduce((w, r) => Math.max(w, r.name.length), 4);
    const lines = rows.map((r) => {
      const parts = [`${r.name.padEnd(width)}  ${r.kind.padEnd(5)}`];
      parts.push(r.executeMs === undefined ? 'execute       -' : `execute ${r.executeMs.toFixed(1).padStart(7)}ms`);
      if (r.revertMs !== undefined) parts.push(`revert ${r.revertMs.toFixed(1).padStart(7)}ms`);
      if (r.executions > 1) parts.push(`(${r.executions} executions, ${r.totalMs.toFixed(1)}ms in all)`);
      return parts.join('  ');
    });
    if (this.#flowName !== undefined) {
      lines.push(this.#flowMs === undefined ? `flow '${this.#flowName}' has not finished` : `flow '${this.#flowName}' took ${this.#flowMs.toFixed(1)}ms`);
    }
    return lines.join('\n');
  }

  #print(line: string): void {
    this.#printer?.(line);
  }

  protected override onFlow(e: FlowEvent): void {
    this.#flowName = e.name;
    if (e.state === 'RUNNING' && this.#flowSince === undefined) {
      this.#flowSince = this.#now();
      this.#print(`'${e.name}' flow started.`);
    } else if (FLOW_END.has(e.state) && this.#flowSince !== undefined) {
      this.#flowMs = this.#now() - this.#flowSince;
      this.#flowSince = undefined;
      this.#print(`It took flow '${e.name}' ${seconds(this.#flowMs)} seconds to finish.`);
    } else if (e.state === 'PENDING') {
      this.#flowSince = undefined;
    }
  }

  protected override onTask(e: AtomEvent): void {
    let slot = this.#slots.get(e.name);
    if (slot === undefined) {
      slot = { name: e.name, kind: e.kind, executeMs: undefined, revertMs: undefined, executions: 0, totalMs: 0, timer: undefined };
      this.#slots.set(e.name, slot);
    }
    const what = e.kind === 'retry' ? 'retry' : 'task';
    switch (e.state) {
      case 'RUNNING':
      case 'REVERTING':
        slot.timer = { phase: e.state === 'RUNNING' ? 'execute' : 'revert', since: this.#now() };
        this.#print(`'${e.name}' ${what} ${e.state === 'RUNNING' ? 'started' : 'started reverting'}.`);
        return;
      case 'SUCCESS':
      case 'FAILURE':
      case 'REVERTED':
      case 'REVERT_FAILURE': {
        const timer = slot.timer;
        const phase = e.state === 'SUCCESS' || e.state === 'FAILURE' ? 'execute' : 'revert';
        if (timer === undefined || timer.phase !== phase) return;
        const ms = this.#now() - timer.since;
        slot.timer = undefined;
        slot.totalMs += ms;
        if (phase === 'execute') {
          slot.executeMs = ms;
          slot.executions++;
        } else {
          slot.revertMs = ms;
        }
        this.#print(`It took ${what} '${e.name}' ${seconds(ms)} seconds to ${phase === 'execute' ? 'finish' : 'revert'}.`);
        return;
      }
      case 'PENDING':
        slot.timer = undefined;
        return;
      default:
        return;
    }
  }

  protected override onRetry(e: AtomEvent): void {
    if (this.#retries) this.onTask(e);
  }
}
