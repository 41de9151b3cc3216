/** `load`, `run` and `resume`: the ways in. */
import type { FlowItem } from '../lib/flow.js';
import { InvariantViolation, WrappedFailure } from '../lib/errors.js';
import { Failure } from '../lib/failure.js';
import { Engine, type RunOptions } from './engine.js';
import type { LoadOptions } from './options.js';

/** Compiles the flow (or single task) and returns its engine; nothing runs yet. */
export function load(flow: FlowItem, options: LoadOptions = {}): Engine {
  return new Engine(flow, options);
}

/** load + run + `storage.fetchAll()`. */
export async function run(flow: FlowItem, options: LoadOptions & RunOptions = {}): Promise<Record<string, unknown>> {
  const { signal, ...rest } = options;
  const engine = load(flow, rest);
  await engine.run(signal ? { signal } : {});
  return engine.storage.fetchAll();
}

export interface ResumeOptions extends Omit<LoadOptions, 'flowDetail' | 'flowUuid' | 'backend'>, RunOptions {
  backend: NonNullable<LoadOptions['backend']>;
  /** Builds the same flow definition the stored run was made with. */
  factory: () => FlowItem | Promise<FlowItem>;
  /** Called with the engine before the run starts (e.g. to attach listeners); may be async. */
  onLoad?: (engine: Engine) => void | Promise<void>;
}

/** A rejection of `resume()`: the run's own error, carrying the engine (to read states and failures). */
export type ResumeError = Error & { readonly engine: Engine };

/**
 * Continues a stored run in a new process: loads it with the flow from `factory`, calls `onLoad`,
 * runs it, resolves to the engine. When the run rejects, the error carries the engine as
 * `error.engine` (a thrown value that cannot carry it is wrapped in a `WrappedFailure` first).
 */
export async function resume(flowUuid: string, options: ResumeOptions): Promise<Engine> {
  if (typeof flowUuid !== 'string' || flowUuid.length === 0) throw new InvariantViolation('resume() needs the flow detail uuid to continue', { option: 'flowUuid' });
  if (typeof options !== 'object' || options === null) throw new InvariantViolation('resume() needs options ({ backend, factory })', { option: 'options' });
  if (typeof options.factory !== 'function') throw new InvariantViolation("resume() needs a 'factory' that builds the flow", { option: 'factory' });
  if (options.onLoad !== undefined && typeof options.onLoad !== 'function') throw new InvariantViolation("resume() option 'onLoad' must be a function", { option: 'onLoad' });
  const { factory, signal, onLoad, ...rest } = options;
  const engine = load(await factory(), { ...rest, flowDetail: flowUuid });
  if (onLoad !== undefined) await onLoad(engine);
  try {
    await engine.run(signal ? { signal } : {});
  } catch (e) {
    throw withEngine(e, engine);
  }
  return engine;
}

function withEngine(e: unknown, engine: Engine): unknown {
  let err = e;
  if (typeof err !== 'object' || err === null || !Object.isExtensible(err)) err = new WrappedFailure([Failure.from(e)]);
  try {
    Object.defineProperty(err, 'engine', { value: engine, enumerable: false, configurable: true, writable: true });
  } catch {
    // A proxy or exotic object refusing the property: hand it on as it is.
  }
  return err;
}
