/**
 * Scoping by prefixes (TaskFlow's `pseudo_scoping` example, in our words).
 *
 * Names in a run are global: two subflows that both provide `number` would clash. To use the same
 * subflow several times for different data, build it with a factory that prefixes every task
 * name, every provided name and (through `rebind`) every required name.
 */
import { LinearFlow, Task, run, type AtomContext, type TaskOptions } from '../index.js';

const PHONE_BOOK: Readonly<Record<string, string>> = { jim: '444', joe: '555', iv_m: '666', josh: '777' };

export async function main(log: (line: string) => void = console.log): Promise<void> {
  /** Looks a person's number up in the phone book. */
  class FetchNumber extends Task<{ person: string }, string> {
    static override requires = ['person'];
    static override provides = 'number';
    execute({ person }: { person: string }, _ctx: AtomContext): string {
      log(`Fetching number for ${person}.`);
      const number = PHONE_BOOK[person.toLowerCase()];
      if (number === undefined) throw new Error(`${person} is not in the phone book`);
      return number;
    }
  }

  /** Calls a person on a number. */
  class Call extends Task<{ person: string; number: string }> {
    static override requires = ['person', 'number'];
    execute({ person, number }: { person: string; number: string }, _ctx: AtomContext): void {
      log(`Calling ${person} ${number}.`);
    }
  }

  // One person: the plain names are fine.
  log('Running simple flow:');
  await run(new LinearFlow('simple one').add(new FetchNumber(), new Call()), { store: { person: 'Josh' } });

  // Several people: every name the subflow uses gets the person's prefix.
  const scoped = (prefix: string): LinearFlow => {
    const p = (what: string): string => `${prefix}-${what}`;
    const fetchOptions: TaskOptions = { name: p('fetch'), provides: p('number'), rebind: [p('person')] };
    return new LinearFlow(p('flow')).add(
      new FetchNumber(fetchOptions),
      new Call({ name: p('call'), rebind: [p('person'), p('number')] }),
    );
  };

  log('');
  log('Calling many people using prefixed factory:');
  const flow = new LinearFlow('call-them-prefixed');
  // The initial values carry the same prefixes, so each subflow finds its own person.
  const store: Record<string, string> = {};
  for (const person of ['Jim', 'Joe', 'Josh']) {
    const prefix = person.toLowerCase();
    store[`${prefix}-person`] = person;
    flow.add(scoped(prefix));
  }
  await run(flow, { store });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
