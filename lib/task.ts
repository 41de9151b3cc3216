/**
 * Tasks: atoms that do work in `execute` and undo it in `revert`. Write a class that extends
 * `Task`, or call `task({...})` with functions.
 */
import { describeValue } from './describe.js';
import { Atom, type AtomContext, type AtomOptions, type RevertContext } from './atom.js';
import { InvariantViolation } from './errors.js';

export type TaskOptions = AtomOptions;

// The argument object a task receives: its own argument names.
export type TaskArgs = Record<string, unknown>;

export abstract class Task<A = any, R = unknown> extends Atom {
  readonly kind = 'task' as const;
  /** Default `requires` for every instance (a subclass overrides it). */
  static requires: readonly string[] | undefined;
  /** Default `optional` for every instance. */
  static optional: readonly string[] | undefined;
  /** Default `provides` for every instance. */
  static provides: string | readonly string[] | undefined;

  constructor(options: TaskOptions = {}) {
    super(options, new.target.name);
  }

  abstract execute(args: A, ctx: AtomContext): R | Promise<R>;

  /** Undo what `execute` did. The default does nothing. */
  revert(_args: A, _ctx: RevertContext<R>): unknown {
    return undefined;
  }
}

export interface TaskSpec<A, R> extends TaskOptions {
  execute: (args: A, ctx: AtomContext) => R | Promise<R>;
  revert?: (args: A, ctx: RevertContext<R>) => unknown;
}

class FunctionTask<A, R> extends Task<A, R> {
  readonly #execute: TaskSpec<A, R>['execute'];
  readonly #revert: TaskSpec<A, R>['revert'];
  constructor(spec: TaskSpec<A, R>) {
    const { execute, revert, ...options } = spec;
    const name = options.name ?? (typeof execute === 'function' && execute.name && execute.name !== 'execute' ? execute.name : undefined);
    super({ ...options, ...(name !== undefined ? { name } : {}) });
    if (typeof execute !== 'function') {
      throw new InvariantViolation(`atom '${this.name}': option 'execute' must be a function`, { subject: this.name, option: 'execute' });
    }
    if (revert !== undefined && typeof revert !== 'function') {
      throw new InvariantViolation(`atom '${this.name}': option 'revert' must be a function`, { subject: this.name, option: 'revert' });
    }
    this.#execute = execute;
    this.#revert = revert;
  }
  execute(args: A, ctx: AtomContext): R | Promise<R> {
    return this.#execute(args, ctx);
  }
  override revert(args: A, ctx: RevertContext<R>): unknown {
    return this.#revert === undefined ? undefined : this.#revert(args, ctx);
  }
}

/** A task from functions: `task({ name, requires, provides, execute, revert? })`. */
export function task<A = any, R = unknown>(spec: TaskSpec<A, R>): Task<A, R> {
  if (typeof spec !== 'object' || spec === null) {
    throw new InvariantViolation(`task() takes an object with at least 'execute', not ${describeValue(spec)}`);
  }
  return new FunctionTask(spec);
}
