/**
 * Passing a value downstream (TaskFlow's `simple_linear_pass` example, in our words).
 *
 * Task `a` provides the value `a`; task `b` requires it, so the engine hands `b` what `a`
 * returned. The engine's stages (load, compile, prepare, run) are called one by one here to show
 * them; `run()` alone would do all of them.
 */
import { LinearFlow, Task, load, type AtomContext } from '../index.js';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  class TaskA extends Task<Record<string, never>, string> {
    static override provides = 'a';
    execute(_args: Record<string, never>, ctx: AtomContext): string {
      log(`Executing '${ctx.name}'`);
      return 'a';
    }
  }

  class TaskB extends Task<{ a: string }> {
    static override requires = ['a'];
    execute({ a }: { a: string }, ctx: AtomContext): void {
      log(`Executing '${ctx.name}'`);
      log(`Got input '${a}'`);
    }
  }

  log('Constructing...');
  const flow = new LinearFlow('pass-from-to').add(new TaskA({ name: 'a' }), new TaskB({ name: 'b' }));

  log('Loading...');
  const engine = load(flow);

  log('Compiling...');
  engine.compile();

  log('Preparing...');
  await engine.prepare();

  log('Running...');
  await engine.run();

  log('Done...');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
