/**
 * LoggingListener (TaskFlow's `listeners/logging.py`): the PrintingListener's messages sent
 * through `debug` (namespace `atomflow:listener` unless told otherwise), so they cost nothing
 * until `DEBUG=atomflow:listener` turns them on. Failures go to `<namespace>:failure` with their
 * stack, so `DEBUG=atomflow:listener:failure` shows only what went wrong (TaskFlow's
 * DynamicLoggingListener's failure level).
 */
import createDebug from 'debug';
import type { AtomEvent, FlowEvent } from '../../lib/events.js';
import { EngineListener, checkListenerOptions, type ListenableEngine } from './base.js';
import { atomMessage, enginePrefix, failureDetails, flowMessage } from './format.js';

/** A `debug` logger, or any function that takes a message (tests pass one). */
export interface LogFunction {
  (message: string): void;
  /** When false, messages are not even formatted (debug's `.enabled`). */
  readonly enabled?: boolean;
}

export interface LoggingListenerOptions {
  /** The debug namespace (default `atomflow:listener`). */
  readonly namespace?: string;
  /** Log through this function instead of `debug` (failures go here too). */
  readonly log?: LogFunction;
  /** What each message starts with (default `<SerialEngine>` or `<ParallelEngine>`). */
  readonly prefix?: string;
  /** Also log retry controllers' transitions (default false, as TaskFlow). */
  readonly retries?: boolean;
}

const KEYS = ['namespace', 'log', 'prefix', 'retries'] as const;

/** Flow and atom states logged at the failure level (TaskFlow's DynamicLoggingListener). */
const FAILURE_LEVEL: ReadonlySet<string> = new Set(['FAILURE', 'REVERT_FAILURE', 'REVERTED', 'RETRYING']);

export class LoggingListener extends EngineListener {
  readonly namespace: string;
  readonly #log: LogFunction;
  readonly #failureLog: LogFunction;
  readonly #prefix: string;
  readonly #retries: boolean;

  constructor(engine: ListenableEngine, options: LoggingListenerOptions = {}) {
    super(engine);
    checkListenerOptions('LoggingListener', options, KEYS);
    this.namespace = options.namespace ?? 'atomflow:listener';
    const custom = options.log;
    if (custom !== undefined && typeof custom !== 'function') {
      throw new TypeError("LoggingListener: option 'log' must be a function");
    }
    this.#log = custom ?? createDebug(this.namespace);
    this.#failureLog = custom ?? createDebug(`${this.namespace}:failure`);
    this.#prefix = options.prefix ?? enginePrefix(engine);
    this.#retries = options.retries ?? false;
  }

  #emit(message: () => string, failed: boolean): void {
    const log = failed ? this.#failureLog : this.#log;
    if (log.enabled === false) return;
    log(message());
  }

  protected override onFlow(e: FlowEvent): void {
    this.#emit(() => flowMessage(this.#prefix, e), FAILURE_LEVEL.has(e.state));
  }

  protected override onTask(e: AtomEvent): void {
    const message = (): string => {
      const stack = failureDetails(e.failure);
      return stack === '' ? atomMessage(this.#prefix, e) : `${atomMessage(this.#prefix, e)}\n${stack}`;
    };
    this.#emit(message, FAILURE_LEVEL.has(e.state) || e.failure !== undefined);
  }

  protected override onRetry(e: AtomEvent): void {
    if (this.#retries) this.onTask(e);
  }
}
