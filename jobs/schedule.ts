/**
 * Schedules: run a flow on a timetable — `cron`, `every`, `at` or `crontab` (spakky-task's kinds).
 * `croner` parses the patterns and computes the next dates (time zones and DST included); our
 * timer, on an injectable `Clock`, waits for them, so tests drive time by hand.
 *
 * Without a board each occurrence runs here (load + run). With a board each occurrence is posted
 * once as a job named after the schedule, with the key `${name}@${occurrence ISO}`: the board
 * keeps one job per key, so any number of processes may hold the same schedule.
 *
 * Time rules (documented in the README):
 * - `every` occurrences are multiples of the period since the Unix epoch (UTC), so processes that
 *   start at different moments agree on them (and on their keys).
 * - DST (croner's rules): a fixed time (`at`, or cron with a single second, minute and hour) that
 *   falls in a spring-forward gap runs at the first valid time after the gap, and once when a
 *   fall-back repeats it. Other patterns (`*\/30 * * * *`) skip the times a gap removes and run at
 *   both occurrences of repeated times.
 * - Missed occurrences (nothing ran): skipped by default (`missed: 'skip'`); `missed: 'latest'`
 *   runs (or posts) the most recent past occurrence at once on start — with a board once per
 *   occurrence (its key), without one on every start. A timer that fires late (the process was
 *   asleep) runs the occurrence it was armed for, once, and the ones in between are skipped.
 */
import createDebug from 'debug';
import { Cron } from 'croner';
import { InvalidSchedule } from '../lib/errors.js';
import { Emitter, type Listener } from '../lib/events.js';
import type { FlowItem } from '../lib/flow.js';
import { load } from '../engines/load.js';
import { resolveOptions, type EngineKind } from '../engines/options.js';
import { systemClock, type Clock } from '../engines/runtime/clock.js';
import type { Backend } from '../persistence/backend.js';
import { isRecord } from './validate.js';

const log = createDebug('atomflow:schedule');

/** crontab fields: absent = every value; a number or a list of numbers. `weekday` in cron numbering (0 or 7 Sunday). */
export interface CrontabFields {
  readonly month?: number | readonly number[];
  readonly day?: number | readonly number[];
  readonly weekday?: number | readonly number[];
  readonly hour?: number | readonly number[];
  readonly minute?: number | readonly number[];
}

export type ScheduleSpec =
  | { readonly cron: string }
  | { readonly every: number }
  | { readonly at: string }
  | { readonly crontab: CrontabFields };

/** What a schedule passes to its factory, and posts as the job's details. */
export interface OccurrenceDetails {
  readonly schedule: string;
  /** The occurrence's time, ISO 8601 (UTC). */
  readonly occurrence: string;
  readonly [key: string]: unknown;
}

/** The part of a jobboard a schedule uses: `post` with an idempotency key. */
export interface ScheduleBoard {
  post(
    name: string,
    options: { store?: Readonly<Record<string, unknown>>; details?: Readonly<Record<string, unknown>>; priority?: number; key?: string },
  ): Promise<unknown>;
}

export interface ScheduleOptions {
  /** Post each occurrence to this board (conductors run it) instead of running it here. */
  board?: ScheduleBoard;
  /** Local runs: where they are persisted (default: in memory). */
  backend?: Backend;
  /** Local runs: the engine kind. */
  engine?: EngineKind;
  /** Local runs: parallel engine concurrency. */
  maxWorkers?: number;
  /** Initial values of every run (local, or posted with the job). */
  store?: Readonly<Record<string, unknown>>;
  /** Posted jobs' priority. */
  priority?: number;
  /** IANA time zone of `cron`, `at` and `crontab` (default: the process's). */
  timezone?: string;
  /** Time and timers (default: the system's); tests pass a `ManualClock`. */
  clock?: Clock;
  /** What to do on start about the occurrence that passed while nothing ran (default 'skip'). */
  missed?: 'skip' | 'latest';
}

export type ScheduleFactory = (details: OccurrenceDetails) => FlowItem | Promise<FlowItem>;

export interface ScheduleRunEvent {
  readonly occurrence: Date;
  readonly flowUuid: string;
  readonly results: Readonly<Record<string, unknown>>;
}
export interface SchedulePostEvent {
  readonly occurrence: Date;
  readonly key: string;
  /** What the board returned (its Job). */
  readonly job: unknown;
}
export interface ScheduleErrorEvent {
  readonly occurrence: Date;
  readonly error: unknown;
}
export interface ScheduleEvents {
  run: ScheduleRunEvent;
  posted: SchedulePostEvent;
  error: ScheduleErrorEvent;
}

/** setTimeout's limit: longer waits are made of several timers. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SPEC_KINDS = ['cron', 'every', 'at', 'crontab'] as const;
const OPTION_KEYS: ReadonlySet<string> = new Set(['board', 'backend', 'engine', 'maxWorkers', 'store', 'priority', 'timezone', 'clock', 'missed']);
const LOCAL_ONLY = ['backend', 'engine', 'maxWorkers'] as const;
const CRONTAB: Readonly<Record<keyof CrontabFields, readonly [min: number, max: number]>> = {
  minute: [0, 59],
  hour: [0, 23],
  day: [1, 31],
  month: [1, 12],
  weekday: [0, 7],
};


/** When the occurrences are: strictly after a time, and the latest at or before it. */
interface Timetable {
  after(t: number): number | undefined;
  latest(t: number): number | undefined;
}

function crontabPattern(name: string, fields: unknown): string {
  if (!isRecord(fields)) throw new InvalidSchedule(name, "'crontab' must be an object of fields (month, day, weekday, hour, minute)");
  for (const k of Object.keys(fields)) {
    if (!(k in CRONTAB)) throw new InvalidSchedule(name, `unknown crontab field '${k}' (known: ${Object.keys(CRONTAB).join(', ')})`);
  }
  const part = (k: keyof CrontabFields): string => {
    const v = fields[k];
    if (v === undefined) return '*';
    const list = Array.isArray(v) ? (v as unknown[]) : [v];
    const [min, max] = CRONTAB[k];
    if (list.length === 0) throw new InvalidSchedule(name, `crontab field '${k}' is an empty list (leave it out for every ${k})`);
    for (const x of list) {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
        throw new InvalidSchedule(name, `crontab field '${k}' takes whole numbers from ${min} to ${max}, not ${JSON.stringify(x)}`);
      }
    }
    return [...new Set(list as number[])].sort((a, b) => a - b).join(',');
  };
  return `${part('minute')} ${part('hour')} ${part('day')} ${part('month')} ${part('weekday')}`;
}

function atPattern(name: string, at: unknown): string {
  const m = typeof at === 'string' ? /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(at) : null;
  const [h, min, s] = m === null ? [NaN, NaN, NaN] : [Number(m[1]), Number(m[2]), m[3] === undefined ? undefined : Number(m[3])];
  if (m === null || h > 23 || min > 59 || (s !== undefined && s > 59)) {
    throw new InvalidSchedule(name, `'at' must be a time of day 'HH:MM' (or 'HH:MM:SS'), not ${JSON.stringify(at)}`);
  }
  return s === undefined ? `${min} ${h} * * *` : `${s} ${min} ${h} * * *`;
}

function cronTimetable(name: string, pattern: string, timezone: string | undefined, andDays: boolean): Timetable {
  let cron: Cron;
  try {
    cron = new Cron(pattern, { paused: true, mode: '5-or-6-parts', domAndDow: andDays, ...(timezone === undefined ? {} : { timezone }) });
  } catch (e) {
    throw new InvalidSchedule(name, `cannot use the pattern '${pattern}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return {
    after: (t) => cron.nextRun(new Date(t))?.getTime(),
    latest: (t) => cron.previousRuns(1, new Date(t + 1))[0]?.getTime(),
  };
}

function everyTimetable(name: string, every: unknown): Timetable {
  if (typeof every !== 'number' || !Number.isSafeInteger(every) || every < 1) {
    throw new InvalidSchedule(name, `'every' must be a whole number of milliseconds >= 1, not ${JSON.stringify(every)}`);
  }
  return { after: (t) => (Math.floor(t / every) + 1) * every, latest: (t) => Math.floor(t / every) * every };
}

function timetable(name: string, spec: unknown, timezone: string | undefined): Timetable {
  if (!isRecord(spec)) throw new InvalidSchedule(name, `the specification must be one of { cron }, { every }, { at }, { crontab }, not ${JSON.stringify(spec)}`);
  const keys = Object.keys(spec);
  const kind = keys.length === 1 ? SPEC_KINDS.find((k) => k === keys[0]) : undefined;
  if (kind === undefined) {
    throw new InvalidSchedule(name, `the specification takes exactly one of cron, every, at, crontab (got ${keys.length === 0 ? 'none' : keys.join(', ')})`);
  }
  switch (kind) {
    case 'every':
      return everyTimetable(name, spec['every']);
    case 'cron': {
      const c = spec['cron'];
      if (typeof c !== 'string' || c.trim().length === 0) throw new InvalidSchedule(name, `'cron' must be a pattern of 5 fields (6 with seconds), not ${JSON.stringify(c)}`);
      return cronTimetable(name, c.trim(), timezone, false);
    }
    case 'at':
      return cronTimetable(name, atPattern(name, spec['at']), timezone, false);
    case 'crontab': {
      const fields = spec['crontab'];
      const both = isRecord(fields) && fields['day'] !== undefined && fields['weekday'] !== undefined;
      return cronTimetable(name, crontabPattern(name, fields), timezone, both);
    }
    default: {
      const never: never = kind;
      throw new InvalidSchedule(name, `unknown kind ${String(never)}`);
    }
  }
}

interface Resolved {
  readonly board: ScheduleBoard | undefined;
  readonly load: { backend?: Backend; engine?: EngineKind; maxWorkers?: number; store?: Readonly<Record<string, unknown>> };
  readonly store: Readonly<Record<string, unknown>> | undefined;
  readonly priority: number | undefined;
  readonly timezone: string | undefined;
  readonly clock: Clock;
  readonly missed: 'skip' | 'latest';
}

function resolve(name: string, options: unknown): Resolved {
  if (!isRecord(options)) throw new InvalidSchedule(name, 'options must be an object');
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw new InvalidSchedule(name, `unknown option '${k}' (known: ${[...OPTION_KEYS].join(', ')})`);
  const o = options as ScheduleOptions;
  if (o.board !== undefined && typeof (o.board as { post?: unknown })?.post !== 'function') throw new InvalidSchedule(name, "'board' must be a jobboard (with post())");
  if (o.board !== undefined) {
    const local = LOCAL_ONLY.find((k) => o[k] !== undefined);
    if (local !== undefined) throw new InvalidSchedule(name, `option '${local}' is for local runs; with a board, the conductors choose it`);
  } else if (o.priority !== undefined) {
    throw new InvalidSchedule(name, "option 'priority' is for posted jobs; give a board");
  }
  if (o.timezone !== undefined) {
    try {
      if (typeof o.timezone !== 'string') throw new TypeError('not a string');
      new Intl.DateTimeFormat('en-US', { timeZone: o.timezone });
    } catch (e) {
      throw new InvalidSchedule(name, `'timezone' must be an IANA time zone name (e.g. 'Europe/Lisbon'), not ${JSON.stringify(o.timezone)}`, { cause: e });
    }
  }
  const clock = o.clock ?? systemClock;
  if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') throw new InvalidSchedule(name, "'clock' must have now() and setTimer()");
  const missed = o.missed ?? 'skip';
  if (missed !== 'skip' && missed !== 'latest') throw new InvalidSchedule(name, `'missed' must be 'skip' or 'latest', not ${JSON.stringify(missed)}`);
  if (o.store !== undefined && !isRecord(o.store)) throw new InvalidSchedule(name, "'store' must be an object of values keyed by name");
  const load: Resolved['load'] = {};
  if (o.backend !== undefined) load.backend = o.backend;
  if (o.engine !== undefined) load.engine = o.engine;
  if (o.maxWorkers !== undefined) load.maxWorkers = o.maxWorkers;
  if (o.store !== undefined) load.store = o.store;
  try {
    resolveOptions(load);
  } catch (e) {
    throw new InvalidSchedule(name, e instanceof Error ? e.message : String(e), { cause: e });
  }
  return Object.freeze({ board: o.board, load: Object.freeze(load), store: o.store, priority: o.priority, timezone: o.timezone, clock, missed });
}

/** A running schedule: `next()`, `stop()`, events `run` / `posted` / `error`. */
export class Schedule {
  readonly name: string;
  readonly #factory: ScheduleFactory;
  readonly #times: Timetable;
  readonly #o: Resolved;
  readonly #events = new Emitter<ScheduleEvents>();
  readonly #inFlight = new Set<Promise<void>>();
  #next: number | undefined;
  #cancel: (() => void) | undefined;
  #stopped = false;

  constructor(name: string, factory: ScheduleFactory, spec: ScheduleSpec, options: ScheduleOptions = {}) {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidSchedule(String(name), 'a schedule needs a non-empty name');
    if (typeof factory !== 'function') throw new InvalidSchedule(name, 'the factory must be a function that builds the flow');
    this.name = name;
    this.#factory = factory;
    this.#o = resolve(name, options);
    this.#times = timetable(name, spec, this.#o.timezone);
    const now = this.#o.clock.now();
    this.#next = this.#times.after(now);
    if (this.#next === undefined) throw new InvalidSchedule(name, 'the specification has no future occurrence');
    if (this.#o.missed === 'latest') {
      const latest = this.#times.latest(now);
      if (latest !== undefined) this.#occur(latest);
    }
    this.#arm();
  }

  /** The next occurrence (undefined once stopped). */
  next(): Date | undefined {
    return this.#stopped || this.#next === undefined ? undefined : new Date(this.#next);
  }

  /** The next `count` occurrences from now (empty once stopped); nothing is run. */
  upcoming(count: number): Date[] {
    if (!Number.isInteger(count) || count < 0) throw new InvalidSchedule(this.name, `upcoming() takes a whole number, not ${JSON.stringify(count)}`);
    const out: Date[] = [];
    for (let t = this.#stopped ? undefined : this.#next; t !== undefined && out.length < count; t = this.#times.after(t)) out.push(new Date(t));
    return out;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  on<K extends keyof ScheduleEvents>(event: K, listener: Listener<ScheduleEvents[K]>): () => void {
    return this.#events.on(event, listener);
  }

  /** No more occurrences; resolves once the runs (or posts) in progress have settled. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
    return this.idle();
  }

  /** Resolves when no occurrence is being run or posted. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  #arm(): void {
    if (this.#stopped || this.#next === undefined) return;
    const at = this.#next;
    const wait = at - this.#o.clock.now();
    this.#cancel = this.#o.clock.setTimer(Math.min(Math.max(0, wait), MAX_TIMER_MS), () => {
      this.#cancel = undefined;
      if (this.#stopped) return;
      const now = this.#o.clock.now();
      if (now >= at) {
        this.#next = this.#times.after(Math.max(now, at));
        this.#occur(at);
      }
      this.#arm();
    });
  }

  #occur(at: number): void {
    const p = this.#fire(new Date(at)).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  async #fire(occurrence: Date): Promise<void> {
    const iso = occurrence.toISOString();
    const details: OccurrenceDetails = { schedule: this.name, occurrence: iso };
    await undefined; // never inside the caller's turn: listeners attached after schedule() see every event
    try {
      const board = this.#o.board;
      if (board !== undefined) {
        const key = `${this.name}@${iso}`;
        const job = await board.post(this.name, {
          key,
          details,
          ...(this.#o.store === undefined ? {} : { store: this.#o.store }),
          ...(this.#o.priority === undefined ? {} : { priority: this.#o.priority }),
        });
        log('%s: posted %s', this.name, key);
        this.#events.emit('posted', { occurrence, key, job });
        return;
      }
      const engine = load(await this.#factory(details), this.#o.load);
      log('%s: running the %s occurrence (flow detail %s)', this.name, iso, engine.flowDetail.uuid);
      await engine.run();
      this.#events.emit('run', { occurrence, flowUuid: engine.flowDetail.uuid, results: engine.storage.fetchAll() });
    } catch (error) {
      log('%s: the %s occurrence failed: %O', this.name, iso, error);
      this.#events.emit('error', { occurrence, error });
    }
  }
}

/**
 * Runs `factory`'s flow on a timetable: `{ cron }` (5 fields, 6 with seconds), `{ every: ms }`,
 * `{ at: 'HH:MM' }` or `{ crontab: { month, day, weekday, hour, minute } }`. A bad specification
 * or option is refused with `InvalidSchedule`. See the module comment for boards, DST and missed
 * occurrences.
 */
export function schedule(name: string, factory: ScheduleFactory, spec: ScheduleSpec, options: ScheduleOptions = {}): Schedule {
  return new Schedule(name, factory, spec, options);
}
