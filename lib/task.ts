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
  /**
   * Set it to `import.meta.url` (and export the class under its name) to let the atom run in a
   * worker thread (`executor: 'threads'`): the thread imports the module and makes `new Class()`.
   */
  static module: string | undefined;

  constructor(options: TaskOptions = {}) {
    super(options, new.target.name);
  }

  abstract execute(args: A, ctx: AtomContext): R | Promise<R>;

  /** Undo what `execute` did. The default does nothing. */
  revert(_args: A, _ctx: RevertContext<R>): unknown {
    return undefined;
  }

  protected override perform(action: 'execute' | 'revert', args: Record<string, unknown>, ctx: RevertContext): unknown {
    return action === 'execute' ? this.execute(args as A, ctx) : this.revert(args as A, ctx as RevertContext<R>);
  }
}

export interface TaskSpec<A, R> extends TaskOptions {
  execute: (args: A, ctx: AtomContext) => R | Promise<R>;
  revert?: (args: A, ctx: RevertContext<R>) => unknown;
  /**
   * `import.meta.url` of the module that exports this task under its name (`export const crunch =
   * task({ name: 'crunch', module: import.meta.url, ... })`): it may then run in a worker thread.
   */
  module?: string;
}

class FunctionTask<A, R> extends Task<A, R> {
  readonly #execute: TaskSpec<A, R>['execute'];
  readonly #revert: TaskSpec<A, R>['revert'];
  readonly module: string | undefined;
  constructor(spec: TaskSpec<A, R>) {
    const { execute, revert, module, ...options } = spec;
    const name = options.name ?? (typeof execute === 'function' && execute.name && execute.name !== 'execute' ? execute.name : undefined);
    super({ ...options, ...(name !== undefined ? { name } : {}) });
    if (typeof execute !== 'function') {
      throw new InvariantViolation(`atom '${this.name}': option 'execute' must be a function`, { subject: this.name, option: 'execute' });
    }
    if (revert !== undefined && typeof revert !== 'function') {
      throw new InvariantViolation(`atom '${this.name}': option 'revert' must be a function`, { subject: this.name, option: 'revert' });
    }
    if (module !== undefined && (typeof module !== 'string' || module.length === 0)) {
      throw new InvariantViolation(`atom '${this.name}': option 'module' must be a module URL (import.meta.url)`, { subject: this.name, option: 'module' });
    }
    this.#execute = execute;
    this.#revert = revert;
    this.module = module;
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

/** Where a thread finds an atom: its module, the export and whether that is a class or the task itself. */
export interface ImportableAtom {
  readonly module: string;
  readonly exportName: string;
  readonly kind: 'class' | 'instance';
}

/**
 * How an atom declared itself importable (a task class with its own `static module`, or a
 * `task()` given `module`), or undefined.
 */
export function importableOf(atom: Atom): ImportableAtom | undefined {
  if (atom instanceof FunctionTask) {
    return atom.module === undefined ? undefined : { module: atom.module, exportName: atom.name, kind: 'instance' };
  }
  if (!(atom instanceof Task)) return undefined;
  const ctor = atom.constructor as typeof Task;
  if (!Object.hasOwn(ctor, 'module') || typeof ctor.module !== 'string' || ctor.module.length === 0) return undefined;
  return { module: ctor.module, exportName: ctor.name, kind: 'class' };
}
