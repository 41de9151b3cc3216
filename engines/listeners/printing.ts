/**
 * PrintingListener (TaskFlow's `listeners/printing.py`): writes every flow and task transition to
 * a stream (stdout by default), one line each, with the failure's stack under FAILURE and
 * REVERT_FAILURE lines. Retries are not printed unless `retries: true` (as TaskFlow).
 */
import type { AtomEvent, FlowEvent } from '../../lib/events.js';
import { EngineListener, checkListenerOptions, type ListenableEngine } from './base.js';
import { atomMessage, enginePrefix, failureDetails, flowMessage } from './format.js';

/** Anything with `write(string)`: a `Writable`, `process.stdout`, or a test double. */
export interface TextSink {
  write(chunk: string): unknown;
}

export interface PrintingListenerOptions {
  /** Where lines go (default `process.stdout`; `process.stderr` when `stderr` is true). */
  readonly stream?: TextSink;
  /** Write to `process.stderr` instead of stdout (ignored when `stream` is given). */
  readonly stderr?: boolean;
  /** What each line starts with (default `<SerialEngine>` or `<ParallelEngine>`). */
  readonly prefix?: string;
  /** Print the failure's stack under FAILURE and REVERT_FAILURE lines (default true). */
  readonly stacks?: boolean;
  /** Also print retry controllers' transitions (default false, as TaskFlow). */
  readonly retries?: boolean;
}

const KEYS = ['stream', 'stderr', 'prefix', 'stacks', 'retries'] as const;

export class PrintingListener extends EngineListener {
  readonly #stream: TextSink;
  readonly #prefix: string;
  readonly #stacks: boolean;
  readonly #retries: boolean;

  constructor(engine: ListenableEngine, options: PrintingListenerOptions = {}) {
    super(engine);
    checkListenerOptions('PrintingListener', options, KEYS);
    this.#stream = options.stream ?? (options.stderr === true ? process.stderr : process.stdout);
    this.#prefix = options.prefix ?? enginePrefix(engine);
    this.#stacks = options.stacks ?? true;
    this.#retries = options.retries ?? false;
  }

  #line(text: string): void {
    this.#stream.write(`${text}\n`);
  }

  protected override onFlow(e: FlowEvent): void {
    this.#line(flowMessage(this.#prefix, e));
  }

  protected override onTask(e: AtomEvent): void {
    this.#line(atomMessage(this.#prefix, e));
    if (this.#stacks && e.failure !== undefined) {
      const details = failureDetails(e.failure);
      if (details !== '') this.#line(details);
    }
  }

  protected override onRetry(e: AtomEvent): void {
    if (this.#retries) this.onTask(e);
  }
}
