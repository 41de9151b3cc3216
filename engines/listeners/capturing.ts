/**
 * CapturingListener (TaskFlow's `CaptureListener`): records the engine's events, in order, into
 * `values` (or a list you pass), for tests. `transcript()` renders them the way TaskFlow's tests
 * write them: `a.t RUNNING`, `a.t SUCCESS(5)`, `r.r RETRYING`, `f.f SUCCESS`.
 */
import type { AtomEvent, FlowEvent, ProgressEvent, RetryEvent } from '../../lib/events.js';
import { Failure } from '../../lib/failure.js';
import { EngineListener, checkListenerOptions, type ListenableEngine } from './base.js';
import { formatValue } from './format.js';

export type CapturedEvent =
  | ({ readonly kind: 'flow' } & FlowEvent)
  | ({ readonly kind: 'task' | 'retry' } & Omit<AtomEvent, 'kind'>)
  | ({ readonly kind: 'progress' } & ProgressEvent)
  | ({ readonly kind: 'decision' } & RetryEvent);

export interface CapturingListenerOptions {
  /** Capture flow transitions (default true). */
  readonly flows?: boolean;
  /** Capture task transitions (default true). */
  readonly tasks?: boolean;
  /** Capture retry controller transitions (default true). */
  readonly retries?: boolean;
  /** Capture progress reports (default false). */
  readonly progress?: boolean;
  /** Capture retry decisions (default false). */
  readonly decisions?: boolean;
  /** Names of tasks, retries and flows to leave out. */
  readonly skipTasks?: readonly string[];
  readonly skipRetries?: readonly string[];
  readonly skipFlows?: readonly string[];
  /** States to leave out (e.g. PENDING). */
  readonly skipStates?: readonly string[];
  /** Append here instead of a new list. */
  readonly values?: CapturedEvent[];
}

const KEYS = ['flows', 'tasks', 'retries', 'progress', 'decisions', 'skipTasks', 'skipRetries', 'skipFlows', 'skipStates', 'values'] as const;
const WITH_RESULT: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVERTED', 'REVERT_FAILURE']);

function show(value: unknown): string {
  if (value === undefined || value === null) return 'None';
  return formatValue(value);
}

export class CapturingListener extends EngineListener {
  readonly values: CapturedEvent[];
  readonly #o: Required<Omit<CapturingListenerOptions, 'values' | 'skipTasks' | 'skipRetries' | 'skipFlows' | 'skipStates'>>;
  readonly #skip: { readonly task: ReadonlySet<string>; readonly retry: ReadonlySet<string>; readonly flow: ReadonlySet<string>; readonly state: ReadonlySet<string> };

  constructor(engine: ListenableEngine, options: CapturingListenerOptions = {}) {
    super(engine);
    checkListenerOptions('CapturingListener', options, KEYS);
    this.values = options.values ?? [];
    this.#o = {
      flows: options.flows ?? true,
      tasks: options.tasks ?? true,
      retries: options.retries ?? true,
      progress: options.progress ?? false,
      decisions: options.decisions ?? false,
    };
    this.#skip = {
      task: new Set(options.skipTasks ?? []),
      retry: new Set(options.skipRetries ?? []),
      flow: new Set(options.skipFlows ?? []),
      state: new Set(options.skipStates ?? []),
    };
  }

  /** Forgets what was captured. */
  clear(): void {
    this.values.length = 0;
  }

  /** The captured events as TaskFlow-style strings (`a.t SUCCESS(5)`, `f.f RUNNING`, `a.p 0.5`, `r.d RETRY`). */
  transcript(): string[] {
    return this.values.map((v) => {
      switch (v.kind) {
        case 'flow':
          return `${v.name}.f ${v.state}`;
        case 'task':
        case 'retry': {
          const tag = v.kind === 'retry' ? 'r' : 't';
          const value = v.failure ?? v.result;
          return `${v.name}.${tag} ${v.state}${WITH_RESULT.has(v.state) ? `(${show(value)})` : ''}`;
        }
        case 'progress':
          return `${v.name}.p ${v.progress}`;
        case 'decision':
          return `${v.name}.d ${v.decision}(${v.failedAtom})`;
        default: {
          const never: never = v;
          return never;
        }
      }
    });
  }

  /** The failures captured, by atom name (the last one wins). */
  failures(): Record<string, Failure> {
    const out: Record<string, Failure> = {};
    for (const v of this.values) if ((v.kind === 'task' || v.kind === 'retry') && v.failure instanceof Failure) out[v.name] = v.failure;
    return out;
  }

  protected override onFlow(e: FlowEvent): void {
    if (!this.#o.flows || this.#skip.flow.has(e.name) || this.#skip.state.has(e.state)) return;
    this.values.push(Object.freeze({ kind: 'flow', ...e }));
  }

  protected override onTask(e: AtomEvent): void {
    this.#atom(e, this.#o.tasks, this.#skip.task);
  }

  protected override onRetry(e: AtomEvent): void {
    this.#atom(e, this.#o.retries, this.#skip.retry);
  }

  #atom(e: AtomEvent, on: boolean, skip: ReadonlySet<string>): void {
    if (!on || skip.has(e.name) || this.#skip.state.has(e.state)) return;
    this.values.push(Object.freeze({ ...e, kind: e.kind }));
  }

  protected override onProgress(e: ProgressEvent): void {
    if (this.#o.progress) this.values.push(Object.freeze({ kind: 'progress', ...e }));
  }

  protected override onRetryDecision(e: RetryEvent): void {
    if (this.#o.decisions) this.values.push(Object.freeze({ kind: 'decision', ...e }));
  }
}
