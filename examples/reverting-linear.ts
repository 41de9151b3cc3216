/**
 * Reverting linear flow (TaskFlow's `reverting_linear` example, in our words).
 *
 * Three tasks each "phone" someone. The third call fails, so the engine reverts the calls that
 * already happened, newest first: either everybody got called or, as far as the outside world can
 * tell, nobody did. Nothing is persisted, so this is not safe against the process dying midway
 * (see the persistence examples for that).
 */
import { LinearFlow, Task, run, type AtomContext } from '../index.js';

/** What the failing call throws; `run()` rejects with this very object. */
export class NotHome extends Error {
  override readonly name = 'NotHome';
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  class CallJim extends Task<{ jimNumber: number }> {
    static override requires = ['jimNumber'];
    execute({ jimNumber }: { jimNumber: number }, _ctx: AtomContext): void {
      log(`Calling jim ${jimNumber}.`);
    }
    override revert({ jimNumber }: { jimNumber: number }): void {
      log(`Calling ${jimNumber} and apologizing.`);
    }
  }

  class CallJoe extends Task<{ joeNumber: number }> {
    static override requires = ['joeNumber'];
    execute({ joeNumber }: { joeNumber: number }, _ctx: AtomContext): void {
      log(`Calling joe ${joeNumber}.`);
    }
    override revert({ joeNumber }: { joeNumber: number }): void {
      log(`Calling ${joeNumber} and apologizing.`);
    }
  }

  class CallSuzzie extends Task<{ suzzieNumber: number }> {
    static override requires = ['suzzieNumber'];
    execute(_args: { suzzieNumber: number }, _ctx: AtomContext): never {
      throw new NotHome('Suzzie not home right now.');
    }
  }

  const flow = new LinearFlow('simple-linear').add(new CallJim(), new CallJoe(), new CallSuzzie());

  try {
    await run(flow, { store: { joeNumber: 444, jimNumber: 555, suzzieNumber: 666 } });
  } catch (err) {
    // One atom failed, so the rejection is the error that task threw (not a wrapper): callers can
    // handle their own error types. Had several atoms failed at once (possible with the parallel
    // engine and an unordered flow), it would be a WrappedFailure listing each of them.
    if (!(err instanceof NotHome)) throw err;
    log(`Flow failed: ${err.message}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
