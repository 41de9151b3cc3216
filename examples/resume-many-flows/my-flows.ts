/**
 * The flow the `resume-many-flows` example runs in child processes and then resumes in the
 * parent: `first`, `boom`, `second`. What `boom` does is chosen by whoever builds the flow:
 *
 * - nothing special: it says so and completes;
 * - `'kill'`: the process kills itself with SIGKILL while `boom` runs (a crash: no clean-up, no
 *   chance to record anything more);
 * - `'suspend'`: it asks the engine to suspend, so the run stops cleanly after `boom`.
 */
import { LinearFlow, Task, type AtomContext } from '../../index.js';

export type BoomMode = 'kill' | 'suspend';

export interface FlowHooks {
  /** Where the tasks write their lines. */
  readonly say: (line: string) => void;
  /** What `boom` does; absent: it just completes. */
  readonly boom?: BoomMode | undefined;
  /** Suspends the engine running the flow (used when `boom` is 'suspend'). */
  readonly suspend?: (() => void) | undefined;
}

export function isBoomMode(value: unknown): value is BoomMode {
  return value === 'kill' || value === 'suspend';
}

export function flowFactory(hooks: FlowHooks): LinearFlow {
  const { say } = hooks;

  class Step extends Task {
    execute(_args: object, _ctx: AtomContext): void {
      say(`executing ${this.name}==${this.version}`);
    }
  }

  class Unfortunate extends Task {
    async execute(_args: object, _ctx: AtomContext): Promise<void> {
      say(`executing ${this.name}==${this.version}`);
      switch (hooks.boom) {
        case 'kill':
          say('> Critical error: boom = kill, this process dies now');
          process.kill(process.pid, 'SIGKILL');
          // The signal is on its way; make sure nothing after this point ever runs.
          await new Promise<never>(() => {});
          break;
        case 'suspend':
          say('> Suspending the engine: nothing after this task starts');
          hooks.suspend?.();
          break;
        default:
          say('> this time not exiting');
      }
    }
  }

  return new LinearFlow('example').add(new Step({ name: 'first' }), new Unfortunate({ name: 'boom' }), new Step({ name: 'second' }));
}
