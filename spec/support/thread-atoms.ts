/**
 * Atoms declared importable, for `executor: 'threads'` (the pool threads import this module):
 * a class with `static module`, and `task()`s given `module` and exported under their names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Task, task, type AtomContext, type RevertContext } from '../../index.js';

/** Busy-loops (on its thread) until `ms` have passed; reports progress half-way. */
function spin(ms: number): number {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x++;
  return x;
}

/** CPU-bound: spins `ms` and returns `n * 2`. */
export class Crunch extends Task<{ n: number; ms: number }, number> {
  static override module = import.meta.url;
  static override requires = ['n', 'ms'];
  execute({ n, ms }: { n: number; ms: number }, ctx: AtomContext): number {
    ctx.progress(0.5, { half: true });
    spin(ms);
    return n * 2;
  }
  override revert({ n }: { n: number }, ctx: RevertContext<number>): unknown {
    return { undone: n, had: ctx.result };
  }
}

/** Not importable: no `static module`. */
export class Plain extends Task {
  execute(): string {
    return 'plain';
  }
}

/** Adds one, on a thread. */
export const addOne = task({
  name: 'addOne',
  module: import.meta.url,
  requires: ['x'],
  provides: 'y',
  execute: ({ x }: { x: number }) => x + 1,
});

/** Fails on a thread (its revert records what it saw). */
export const failOnThread = task({
  name: 'failOnThread',
  module: import.meta.url,
  requires: ['y'],
  execute: ({ y }: { y: number }) => {
    throw new RangeError(`too big: ${y}`);
  },
  revert: (_args: unknown, ctx: RevertContext) => ({ sawFailure: ctx.result instanceof Error || (ctx.result as { exceptionType?: string })?.exceptionType }),
});

/** Never returns on its own (a CPU-bound loop that ignores its signal), unless `ms` is given. */
export const hang = task({
  name: 'hang',
  module: import.meta.url,
  execute: () => spin(3_600_000),
});

/** Spins until `until` ms of the epoch (computed by the test), then returns its thread's id. */
export const spinUntil = task({
  name: 'spinUntil',
  module: import.meta.url,
  requires: ['ms'],
  execute: ({ ms }: { ms: number }) => spin(ms),
});

/**
 * Meets another atom: marks `dir/me`, then keeps its thread busy until `dir/other` exists (at most
 * 60 s). Both return true only if they ran at the same time.
 */
export class Rendezvous extends Task<{ dir: string; me: string; other: string }, boolean> {
  static override module = import.meta.url;
  static override requires = ['dir', 'me', 'other'];
  execute({ dir, me, other }: { dir: string; me: string; other: string }): boolean {
    fs.writeFileSync(path.join(dir, me), '');
    const until = Date.now() + 60_000;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (Date.now() < until) {
      if (fs.existsSync(path.join(dir, other))) return true;
      Atomics.wait(nap, 0, 0, 1);
    }
    return false;
  }
}
