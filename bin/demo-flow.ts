/**
 * The demo saga: book a trip. Flight and hotel are reserved in parallel, then a car is rented,
 * the card is charged (through a flaky gateway, under a retry), and the itinerary is sent. Every
 * step that changes something outside has a real revert: cancel the reservation, refund the
 * charge, send a cancellation notice. The "work" is short timers that report progress.
 *
 *   book-trip (linear)
 *   ├── reserve (unordered): flight, hotel
 *   ├── car
 *   ├── payment (linear, retry payment_retry: Times, 3 attempts 20 ms apart, then revert all): charge
 *   └── confirm
 *
 * `buildTripFlow()` with no options is the factory `atomflow resume` uses; the options only make
 * a step fail (`failAt`) or kill the process (`crashAt`) for the demo.
 */
import { LinearFlow, UnorderedFlow, InvariantViolation, Times, task, type AtomContext, type RevertContext } from '../index.js';

/** The demo's tasks, in the order they run. */
export const TRIP_TASKS = ['flight', 'hotel', 'car', 'charge', 'confirm'] as const;
export type TripTask = (typeof TRIP_TASKS)[number];

/** The values the demo stores with the run (its inputs). */
export const TRIP_STORE: Readonly<Record<string, unknown>> = Object.freeze({
  traveler: 'Ada Lovelace',
  origin: 'LHR',
  destination: 'Lisbon',
  departure: '2025-06-01',
  nights: 3,
  card: '4242-4242-4242-4242',
});

export interface TripFlowOptions {
  /** This task throws (on every attempt), and the trip is rolled back. */
  readonly failAt?: string;
  /** The process kills itself (SIGKILL) halfway through this task's execute. */
  readonly crashAt?: string;
  /** Called just before the crash (to say so). */
  readonly onCrash?: (task: string) => void;
  /** Multiplies the simulated work times (default 1; 0 does not wait). */
  readonly pace?: number;
  /** How many charge attempts time out before one goes through (default 1). */
  readonly flakyCharges?: number;
}

/** A service said no. */
export class ServiceUnavailable extends Error {
  override readonly name = 'ServiceUnavailable';
}

/** The payment gateway did not answer in time (transient: worth retrying). */
export class GatewayTimeout extends Error {
  override readonly name = 'GatewayTimeout';
}

const WORK_MS: Readonly<Record<TripTask, number>> = { flight: 120, hotel: 80, car: 90, charge: 60, confirm: 40 };
const UNDO_MS = 30;

const REFUSALS: Readonly<Record<TripTask, string>> = {
  flight: 'no seats left on TP 1351',
  hotel: 'Casa do Rio is fully booked',
  car: 'no cars left at the airport desk',
  charge: 'the card was declined by its issuer',
  confirm: 'the mail server refused the itinerary',
};

function checkTask(option: string, name: string | undefined): void {
  if (name !== undefined && !(TRIP_TASKS as readonly string[]).includes(name)) {
    throw new InvariantViolation(`unknown task '${name}' for ${option} (tasks: ${TRIP_TASKS.join(', ')})`, { option });
  }
}

let serial = 0;
function code(prefix: string): string {
  serial = (serial + 1) % 100;
  return `${prefix}-${String(Math.floor(Math.random() * 9000) + 1000)}${String(serial).padStart(2, '0')}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function buildTripFlow(options: TripFlowOptions = {}): LinearFlow {
  checkTask('failAt', options.failAt);
  checkTask('crashAt', options.crashAt);
  const pace = options.pace ?? 1;
  if (typeof pace !== 'number' || !Number.isFinite(pace) || pace < 0) throw new InvariantViolation('pace must be a number >= 0', { option: 'pace' });
  const flaky = options.flakyCharges ?? 1;

  /** Simulated work in four steps, with progress; the crash and the failure happen in here. */
  async function work(name: TripTask, ctx: AtomContext): Promise<void> {
    const total = WORK_MS[name] * pace;
    for (let step = 1; step <= 4; step++) {
      await sleep(total / 4, ctx.signal);
      if (step === 2 && options.crashAt === name) {
        options.onCrash?.(name);
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => {}); // the signal is on its way
      }
      if (step < 4) ctx.progress(step / 4);
    }
    if (options.failAt === name) throw new ServiceUnavailable(`${REFUSALS[name]} (--fail-at ${name})`);
  }

  async function undo(ctx: RevertContext): Promise<void> {
    await sleep(UNDO_MS * pace);
    ctx.progress(0.5);
  }

  type Booking = { reservation: string; price: number };
  const reserved = (ctx: RevertContext<unknown>): Booking | undefined => {
    const r = ctx.result as Booking | undefined;
    return r !== undefined && typeof r === 'object' && r !== null && typeof r.reservation === 'string' ? r : undefined;
  };

  const flight = task({
    name: 'flight',
    requires: ['traveler', 'origin', 'destination', 'departure'],
    provides: 'flight',
    execute: async (a: { origin: string; destination: string; departure: string }, ctx) => {
      await work('flight', ctx);
      return { reservation: code('FL'), route: `${a.origin} → ${a.destination}`, departs: a.departure, price: 420 };
    },
    revert: async (_a, ctx) => {
      const r = reserved(ctx);
      if (r === undefined) return { undone: 'nothing was booked' };
      await undo(ctx);
      return { cancelled: r.reservation };
    },
  });

  const hotel = task({
    name: 'hotel',
    requires: ['traveler', 'destination', 'departure', 'nights'],
    provides: 'hotel',
    execute: async (a: { nights: number }, ctx) => {
      await work('hotel', ctx);
      return { reservation: code('HT'), hotel: 'Casa do Rio', nights: a.nights, price: 110 * a.nights };
    },
    revert: async (_a, ctx) => {
      const r = reserved(ctx);
      if (r === undefined) return { undone: 'nothing was booked' };
      await undo(ctx);
      return { cancelled: r.reservation };
    },
  });

  const car = task({
    name: 'car',
    requires: ['traveler', 'destination', 'nights', 'flight'],
    provides: 'car',
    execute: async (a: { nights: number; flight: Booking }, ctx) => {
      await work('car', ctx);
      return { reservation: code('CR'), pickup: `airport, on arrival of ${a.flight.reservation}`, price: 45 * a.nights };
    },
    revert: async (_a, ctx) => {
      const r = reserved(ctx);
      if (r === undefined) return { undone: 'nothing was rented' };
      await undo(ctx);
      return { cancelled: r.reservation };
    },
  });

  const charge = task({
    name: 'charge',
    requires: ['card', 'flight', 'hotel', 'car', 'attempt'],
    provides: 'payment',
    execute: async (a: { card: string; flight: Booking; hotel: Booking; car: Booking; attempt: number }, ctx) => {
      await work('charge', ctx);
      if (a.attempt <= flaky && options.failAt !== 'charge') throw new GatewayTimeout(`the payment gateway did not answer in time (attempt ${a.attempt})`);
      const amount = a.flight.price + a.hotel.price + a.car.price;
      return { transaction: code('TX'), card: `**** ${a.card.slice(-4)}`, amount, attempt: a.attempt };
    },
    revert: async (_a, ctx) => {
      const r = ctx.result as { transaction?: string; amount?: number } | undefined;
      if (r === undefined || typeof r !== 'object' || r === null || typeof r.transaction !== 'string') return { undone: 'nothing was charged' };
      await undo(ctx);
      return { refunded: r.transaction, amount: r.amount };
    },
  });

  type ConfirmArgs = { traveler: string; destination: string; flight: Booking; hotel: Booking; car: Booking; payment: { transaction: string; amount: number } };
  const confirm = task({
    name: 'confirm',
    requires: ['traveler', 'destination', 'flight', 'hotel', 'car', 'payment'],
    provides: 'itinerary',
    execute: async (a: ConfirmArgs, ctx) => {
      await work('confirm', ctx);
      return `${a.traveler} to ${a.destination}: ${a.flight.reservation}, ${a.hotel.reservation}, ${a.car.reservation}; paid €${a.payment.amount} (${a.payment.transaction})`;
    },
    revert: async (a: ConfirmArgs, ctx) => {
      if (typeof ctx.result !== 'string') return { undone: 'no itinerary was sent' };
      await undo(ctx);
      return { notice: `cancellation sent to ${a.traveler}` };
    },
  });

  const payment = new LinearFlow('payment', {
    // revertAll: when the card cannot be charged, the whole trip is rolled back (by default an
    // exhausted retry reverts only its own subflow and leaves the reservations in place).
    retry: new Times({ attempts: 3, revertAll: true, provides: 'attempt', backoff: { kind: 'fixed', delayMs: Math.round(20 * pace) } }),
  }).add(charge);

  return new LinearFlow('book-trip').add(new UnorderedFlow('reserve').add(flight, hotel), car, payment, confirm);
}
