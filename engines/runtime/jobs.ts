/**
 * What the machine hands an executor: one job per execute/revert, carrying the atom, its
 * arguments and its context. Plain classes with fixed fields (no closures per job), since one of
 * each is made for every atom a run executes.
 */
import type { Atom, AtomContext, RevertContext } from '../../lib/atom.js';
import type { Failure } from '../../lib/failure.js';
import { Retry, type History } from '../../lib/retry.js';
import type { Task } from '../../lib/task.js';
import type { Job } from '../executors/executor.js';

/** Where `ctx.progress(...)` reports go: the machine, keyed by atom index. */
export type ProgressSink = (atom: number, fraction: number, details: Readonly<Record<string, unknown>> | undefined) => void;

type ProgressFn = AtomContext['progress'];

/** The context an atom's `execute` gets. `progress` is made on first use (most atoms never report). */
export class ExecuteContext implements AtomContext {
  readonly name: string;
  readonly signal: AbortSignal;
  readonly #atom: number;
  readonly #sink: ProgressSink;
  #progress: ProgressFn | undefined;

  constructor(name: string, signal: AbortSignal, atom: number, sink: ProgressSink) {
    this.name = name;
    this.signal = signal;
    this.#atom = atom;
    this.#sink = sink;
  }

  /** A function (it may be destructured: `execute(args, { progress })`). */
  get progress(): ProgressFn {
    return (this.#progress ??= (fraction: number, details?: Readonly<Record<string, unknown>>) => this.#sink(this.#atom, fraction, details));
  }
}

/** The context a `revert` gets: the execute result (or failure) and the run's failures so far. */
export class RevertingContext extends ExecuteContext implements RevertContext {
  readonly result: unknown;
  readonly flowFailures: Readonly<Record<string, Failure>>;

  constructor(name: string, signal: AbortSignal, atom: number, sink: ProgressSink, result: unknown, flowFailures: Readonly<Record<string, Failure>>) {
    super(name, signal, atom, sink);
    this.result = result;
    this.flowFailures = flowFailures;
  }
}

/** Calls the atom's `execute` or `revert` (a retry also gets its history first). */
export class AtomJob implements Job {
  readonly atom: number;
  readonly kind: 'execute' | 'revert';
  readonly #target: Atom;
  readonly #args: Record<string, unknown>;
  readonly #ctx: ExecuteContext;
  readonly #history: History | undefined;

  constructor(atom: number, kind: 'execute' | 'revert', target: Atom, args: Record<string, unknown>, ctx: ExecuteContext, history: History | undefined) {
    this.atom = atom;
    this.kind = kind;
    this.#target = target;
    this.#args = args;
    this.#ctx = ctx;
    this.#history = history;
  }

  run(): unknown {
    const t = this.#target;
    if (t instanceof Retry) {
      return this.kind === 'execute' ? t.execute(this.#history!, this.#args, this.#ctx) : t.revert(this.#history!, this.#args, this.#ctx);
    }
    const task = t as Task;
    return this.kind === 'execute' ? task.execute(this.#args, this.#ctx) : task.revert(this.#args, this.#ctx as RevertingContext);
  }
}
