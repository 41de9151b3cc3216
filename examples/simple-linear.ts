/**
 * Simple linear flow (TaskFlow's `simple_linear` example, in our words).
 *
 * Two tasks each "phone" a number they are given, one after the other. The tasks only say what
 * they need (`requires`); the engine hands them the values from the initial store. Nothing is
 * persisted here, but because the work is split into tasks inside a flow, a backend can be
 * plugged in later without touching the tasks.
 */
import { LinearFlow, Task, run, type AtomContext } from '../index.js';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  class CallJim extends Task<{ jimNumber: number }> {
    static override requires = ['jimNumber'];
    execute({ jimNumber }: { jimNumber: number }, _ctx: AtomContext): void {
      log(`Calling jim ${jimNumber}.`);
    }
  }

  class CallJoe extends Task<{ joeNumber: number }> {
    static override requires = ['joeNumber'];
    execute({ joeNumber }: { joeNumber: number }, _ctx: AtomContext): void {
      log(`Calling joe ${joeNumber}.`);
    }
  }

  // The flow says what work there is and in which order; nothing runs until an engine runs it.
  const flow = new LinearFlow('simple-linear').add(new CallJim(), new CallJoe());

  // Run it with the initial values the tasks ask for.
  await run(flow, { store: { joeNumber: 444, jimNumber: 555 } });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
