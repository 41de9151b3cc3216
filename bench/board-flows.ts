/**
 * Factories for the board bench, loaded by `atomflow conductor --module` in child processes.
 * `noop5`: five no-op atoms; `marked`: one atom that writes `<flow>.<pid>` into ATOMFLOW_MARKS
 * when it starts (just after its RUNNING commit) and then waits `details.ms`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinearFlow, task, type AtomContext } from '../index.js';

export const flows = {
  noop5: () => {
    const f = new LinearFlow('noop5');
    for (let i = 1; i <= 5; i++) f.add(task({ name: `a${i}`, provides: `a${i}`, execute: () => i }));
    return f;
  },
  marked: (details: Readonly<Record<string, unknown>>) =>
    new LinearFlow('marked').add(
      task({
        name: 'work',
        execute: async (_args: Record<string, never>, ctx: AtomContext) => {
          const dir = process.env.ATOMFLOW_MARKS;
          if (dir !== undefined) writeFileSync(join(dir, `${ctx.flowUuid}.${process.pid}`), String(Date.now()));
          await new Promise((r) => setTimeout(r, typeof details.ms === 'number' ? details.ms : 10_000));
          return 1;
        },
      }),
    ),
};
