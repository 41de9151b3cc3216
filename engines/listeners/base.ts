/**
 * The listener base (TaskFlow's `listeners/base.py`): an object that subscribes to an engine's
 * events on `start()` and unsubscribes on `stop()`. Subclasses override the receivers they need
 * (`onFlow`, `onTask`, `onRetry`, `onProgress`, `onRetryDecision`); only overridden receivers are
 * registered. A receiver that throws never breaks the run: the engine's emitter logs and swallows
 * it (debug namespace `atomflow:events`).
 */
import { InvariantViolation } from '../../lib/errors.js';
import type { AtomEvent, EngineEvents, FlowEvent, ProgressEvent, RetryEvent } from '../../lib/events.js';

/** What a listener needs from an engine: `on()` (an `Engine` is one), and optionally its kind. */
export interface ListenableEngine {
  on<K extends keyof EngineEvents>(event: K, listener: (event: EngineEvents[K]) => void): () => void;
  readonly kind?: string;
}

/** Refuses unknown option keys (one typed options object per listener, as the engine does). */
export function checkListenerOptions(listener: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvariantViolation(`${listener} options must be an object`, { option: 'options' });
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvariantViolation(`${listener}: unknown option '${key}' (known: ${known.join(', ')})`, { option: key });
    }
  }
}

export abstract class EngineListener {
  readonly engine: ListenableEngine;
  #offs: Array<() => void> = [];

  constructor(engine: ListenableEngine) {
    if (engine === null || typeof engine !== 'object' || typeof (engine as { on?: unknown }).on !== 'function') {
      throw new InvariantViolation(`${new.target.name} needs an engine (an object with on())`, { option: 'engine' });
    }
    this.engine = engine;
  }

  /** Whether the listener is subscribed. */
  get started(): boolean {
    return this.#offs.length > 0;
  }

  /** Subscribes to the engine's events (idempotent) and returns the listener. */
  start(): this {
    if (this.started) return this;
    const proto = EngineListener.prototype;
    const e = this.engine;
    if (this.onFlow !== proto.onFlow) this.#offs.push(e.on('flow', (ev) => this.onFlow(ev)));
    if (this.onTask !== proto.onTask || this.onRetry !== proto.onRetry) {
      this.#offs.push(e.on('atom', (ev) => (ev.kind === 'retry' ? this.onRetry(ev) : this.onTask(ev))));
    }
    if (this.onProgress !== proto.onProgress) this.#offs.push(e.on('progress', (ev) => this.onProgress(ev)));
    if (this.onRetryDecision !== proto.onRetryDecision) this.#offs.push(e.on('retry', (ev) => this.onRetryDecision(ev)));
    // A listener with no receiver still counts as started.
    if (this.#offs.length === 0) this.#offs.push(() => {});
    return this;
  }

  /** Unsubscribes (idempotent). */
  stop(): void {
    for (const off of this.#offs.splice(0)) off();
  }

  /** A flow state transition. */
  protected onFlow(_event: FlowEvent): void {}
  /** A task state transition. */
  protected onTask(_event: AtomEvent): void {}
  /** A retry controller's state transition. */
  protected onRetry(_event: AtomEvent): void {}
  /** An atom reported progress. */
  protected onProgress(_event: ProgressEvent): void {}
  /** A retry controller decided what to do after a failure in its subflow. */
  protected onRetryDecision(_event: RetryEvent): void {}
}
