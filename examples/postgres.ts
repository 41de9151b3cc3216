/**
 * A saga stored in PostgreSQL, stopped half-way and resumed by another "process" (a new backend
 * and a new engine), then listed and purged.
 *
 *   ATOMFLOW_PG_URL=postgres://postgres@127.0.0.1:5432/test node dist/examples/postgres.js
 *
 * The tables live in their own schema (`?schema=`, created if missing; default here
 * `atomflow_example`). `main()` takes the URI so tests can give it a schema of their own.
 */
import { LinearFlow, Task, load, openBackend, resume, type AtomContext, type Engine } from '../index.js';

const DEFAULT_URI = `${process.env['ATOMFLOW_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'}?schema=atomflow_example`;

export async function main(log: (line: string) => void = console.log, uri: string = DEFAULT_URI): Promise<void> {
  let current: Engine | undefined;
  let stopAfterHotel = true;

  class ReserveHotel extends Task<{ city: string }, string> {
    static override requires = ['city'];
    static override provides = 'hotel';
    execute({ city }: { city: string }): string {
      log(`Reserving a hotel in ${city}.`);
      if (stopAfterHotel) current?.suspend(); // as if the process stopped here
      return `hotel-${city}`;
    }
    override revert(): void {
      log('Cancelling the hotel.');
    }
  }
  class ChargeCard extends Task<{ hotel: string }, string> {
    static override requires = ['hotel'];
    static override provides = 'receipt';
    execute({ hotel }: { hotel: string }, ctx: AtomContext): string {
      // Give ctx.idempotencyKey to the payment API: a step re-run after a crash is not charged twice.
      log(`Charging for ${hotel} (idempotency key: ${ctx.idempotencyKey.length > 0 ? 'given' : 'missing'}).`);
      return `paid:${hotel}`;
    }
  }
  const buildTrip = (): LinearFlow => new LinearFlow('book-trip').add(new ReserveHotel(), new ChargeCard());

  // First process: start the run; it stops after the hotel.
  const first = await openBackend(uri, { durability: 'normal' });
  let uuid: string;
  try {
    current = load(buildTrip(), { backend: first, store: { city: 'Lisbon' } });
    uuid = current.flowDetail.uuid;
    await current.run();
    log(`First run: ${String(current.storage.getFlowState())}.`);
  } finally {
    await first.close();
  }

  // Second process: find the unfinished run in the store and resume it.
  stopAfterHotel = false;
  const second = await openBackend(uri);
  try {
    const open = await second.findFlows({ state: ['RUNNING', 'SUSPENDED'] });
    log(`Unfinished runs: ${open.filter((f) => f.uuid === uuid).length}.`);
    const engine = await resume(uuid, { backend: second, factory: buildTrip });
    log(`Resumed run: ${String(engine.storage.getFlowState())}, receipt ${String(engine.storage.fetch('receipt'))}.`);
    // Retention: finished runs older than now + 1 s (so this one) are removed.
    log(`Purged ${await second.purge({ olderThan: Date.now() + 1000, states: ['SUCCESS'] })} finished run(s).`);
  } finally {
    await second.close();
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === `file://${entry}`) await main();
