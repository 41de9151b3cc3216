/**
 * TaskFlow's `retry_flow` example, ported: a retry controller takes phone numbers from a phone
 * directory and the next task tries to call Jim with each. A wrong number makes the task fail, its
 * revert apologizes, and the retry controller reverts and retries the subflow with the next number.
 *
 *   node dist/examples/retry-flow.js
 *
 * prints:
 *
 *   Calling jim 333.
 *   Wrong number, apologizing.
 *   Calling jim 444.
 *   Wrong number, apologizing.
 *   Calling jim 555.
 *   Hello Jim!
 */
import { pathToFileURL } from 'node:url';
import { LinearFlow, ParameterizedForEach, Task, run } from '../index.js';

export type Log = (line: string) => void;

/** Calls Jim at `jim_number`; only 555 is Jim's. */
export class CallJim extends Task<{ jim_number: number }> {
  static override requires = ['jim_number'];
  readonly #log: Log;

  constructor(log: Log) {
    super();
    this.#log = log;
  }

  execute({ jim_number }: { jim_number: number }): void {
    this.#log(`Calling jim ${jim_number}.`);
    if (jim_number !== 555) throw new Error('Wrong number!');
    this.#log('Hello Jim!');
  }

  override revert(): void {
    this.#log('Wrong number, apologizing.');
  }
}

/** The flow: the retry provides `jim_number`, one value of `phone_directory` per attempt. */
export function buildFlow(log: Log): LinearFlow {
  return new LinearFlow('retrying-linear', {
    retry: new ParameterizedForEach({ rebind: ['phone_directory'], provides: 'jim_number' }),
  }).add(new CallJim(log));
}

/** Runs the example; resolves to the run's results (`fetchAll()`). */
export async function main(log: Log = (line) => console.log(line)): Promise<Record<string, unknown>> {
  return run(buildFlow(log), { store: { phone_directory: [333, 444, 555, 666] } });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
