/**
 * Typed engine events: a map from event name to a readonly payload; `on()` returns an unsubscribe
 * function; a listener that throws, or an async one that rejects, is logged (debug
 * `atomflow:events`) and never breaks the run or the process.
 */
import createDebug from 'debug';
import { describeValue } from './describe.js';
import { InvariantViolation } from './errors.js';
import type { Failure } from './failure.js';
import type { AtomKind, AtomState, Decision, FlowState } from './states.js';

const log = createDebug('atomflow:events');

export interface AtomEvent {
  readonly name: string;
  readonly kind: AtomKind;
  readonly state: AtomState;
  readonly previousState: AtomState;
  /** SUCCESS: the execute result; REVERTED: the revert result. */
  readonly result?: unknown;
  /** FAILURE and REVERT_FAILURE. */
  readonly failure?: Failure;
  readonly atomUuid: string;
  readonly flowUuid: string;
}

export interface FlowEvent {
  readonly name: string;
  readonly state: FlowState;
  readonly previousState: FlowState;
  readonly flowUuid: string;
}

export interface ProgressEvent {
  readonly name: string;
  readonly progress: number;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A retry controller's decision after a failure in its subflow. */
export interface RetryEvent {
  readonly name: string;
  readonly decision: Decision;
  /** 1-based number of the attempt that failed. */
  readonly attempt: number;
  /** The atom whose failure was decided on. */
  readonly failedAtom: string;
  readonly failure: Failure;
  /** For RETRY: the delay before the next attempt (ms). */
  readonly delayMs?: number;
}

export interface EngineEvents {
  atom: AtomEvent;
  flow: FlowEvent;
  progress: ProgressEvent;
  retry: RetryEvent;
}

/** A listener may be sync or async (an async function fits `=> void`); a rejection is logged. */
export type Listener<T> = (event: T) => void;

export class Emitter<M extends object> {
  readonly #listeners = new Map<keyof M, Array<Listener<never>>>();

  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    if (typeof listener !== 'function') {
      throw new InvariantViolation(`listener for '${describeValue(event)}' must be a function, not ${describeValue(listener)}`, { option: 'listener' });
    }
    const list = [...(this.#listeners.get(event) ?? []), listener as Listener<never>];
    this.#listeners.set(event, list);
    return () => {
      const current = this.#listeners.get(event) ?? [];
      const i = current.indexOf(listener as Listener<never>);
      if (i >= 0) this.#listeners.set(event, [...current.slice(0, i), ...current.slice(i + 1)]);
    };
  }

  has(event: keyof M): boolean {
    return (this.#listeners.get(event)?.length ?? 0) > 0;
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    for (const l of list) {
      try {
        const r = (l as Listener<M[K]>)(payload) as unknown;
        if (r !== undefined && r !== null && typeof (r as PromiseLike<unknown>).then === 'function') settle(r as PromiseLike<unknown>, event);
      } catch (e) {
        log('listener for %s threw: %O', describeValue(event), e);
      }
    }
  }
}

/** Observes an async listener's outcome so its rejection is logged, never unhandled. */
function settle(result: PromiseLike<unknown>, event: unknown): void {
  try {
    result.then(undefined, (e: unknown) => log('async listener for %s rejected: %O', describeValue(event), e));
  } catch (e) {
    log('listener for %s returned a thenable whose then() threw: %O', describeValue(event), e);
  }
}
