/**
 * Typed engine events: a map from event name to a readonly payload; `on()` returns an unsubscribe
 * function; a listener that throws is logged (debug `atomflow:events`) and never breaks the run.
 */
import createDebug from 'debug';
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

export type Listener<T> = (event: T) => void;

export class Emitter<M extends object> {
  readonly #listeners = new Map<keyof M, Array<Listener<never>>>();

  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    if (typeof listener !== 'function') throw new TypeError(`listener for '${String(event)}' must be a function`);
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
        (l as Listener<M[K]>)(payload);
      } catch (e) {
        log('listener for %s threw: %O', String(event), e);
      }
    }
  }
}
