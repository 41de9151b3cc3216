/** `load`, `run` and `resume`: the ways in. */
import type { FlowItem } from '../lib/flow.js';
import { InvariantViolation } from '../lib/errors.js';
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

export interface ResumeOptions extends Omit<LoadOptions, 'flowDetail' | 'backend'>, RunOptions {
  backend: NonNullable<LoadOptions['backend']>;
  /** Builds the same flow definition the stored run was made with. */
  factory: () => FlowItem | Promise<FlowItem>;
}

/** Continues a stored run in a new process: loads it with the flow from `factory`, runs it, resolves to the engine. */
export async function resume(flowUuid: string, options: ResumeOptions): Promise<Engine> {
  if (typeof flowUuid !== 'string' || flowUuid.length === 0) throw new InvariantViolation('resume() needs the flow detail uuid to continue', { option: 'flowUuid' });
  if (typeof options?.factory !== 'function') throw new InvariantViolation("resume() needs a 'factory' that builds the flow", { option: 'factory' });
  const { factory, signal, ...rest } = options;
  const engine = load(await factory(), { ...rest, flowDetail: flowUuid });
  await engine.run(signal ? { signal } : {});
  return engine;
}
