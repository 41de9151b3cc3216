/**
 * Schedules (jobs/schedule.ts) on a ManualClock: next dates of every / at / cron / crontab (time
 * zones, DST transitions, month ends), local runs, posting to a board once per occurrence however
 * many schedulers hold it, missed occurrences, stop(), and refused specifications.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidSchedule, LinearFlow, ManualClock, schedule, task, type OccurrenceDetails, type ScheduleBoard, type ScheduleOptions, type ScheduleSpec } from '../../index.js';

const T = (iso: string): number => Date.parse(iso);
const isos = (ds: readonly Date[]): string[] => ds.map((d) => d.toISOString());
const noFlow = (): never => {
  throw new Error('not run in these tests');
};

/** The next `n` occurrences of a spec, seen from `from`. */
function upcoming(spec: ScheduleSpec, from: string, n: number, options: ScheduleOptions = {}): string[] {
  const s = schedule('s', noFlow, spec, { clock: new ManualClock(T(from)), board: new FakeBoard(), ...options });
  try {
    return isos(s.upcoming(n));
  } finally {
    void s.stop();
  }
}

/** A jobboard that keeps one job per key, as the real one does. */
class FakeBoard implements ScheduleBoard {
  readonly jobs = new Map<string, { name: string; details: unknown; store: unknown }>();
  calls = 0;
  async post(name: string, options: { key?: string; details?: Readonly<Record<string, unknown>>; store?: Readonly<Record<string, unknown>> }): Promise<unknown> {
    this.calls++;
    await null;
    const key = options.key ?? `#${this.calls}`;
    if (!this.jobs.has(key)) this.jobs.set(key, { name, details: options.details, store: options.store });
    return this.jobs.get(key);
  }
}

describe('schedule: next dates', () => {
  test('every: multiples of the period since the epoch, whatever the start', () => {
    assert.deepEqual(upcoming({ every: 60_000 }, '2026-01-01T00:00:30.500Z', 3), ['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z']);
    assert.deepEqual(upcoming({ every: 60_000 }, '2026-01-01T00:01:00.000Z', 1), ['2026-01-01T00:02:00.000Z'], 'strictly after now');
    assert.deepEqual(upcoming({ every: 250 }, '2026-01-01T00:00:00.100Z', 2), ['2026-01-01T00:00:00.250Z', '2026-01-01T00:00:00.500Z']);
  });

  test('at: a time of day in the given time zone', () => {
    assert.deepEqual(upcoming({ at: '03:00' }, '2026-01-10T12:00:00Z', 2, { timezone: 'UTC' }), ['2026-01-11T03:00:00.000Z', '2026-01-12T03:00:00.000Z']);
    assert.deepEqual(upcoming({ at: '09:15:30' }, '2026-01-10T12:00:00Z', 1, { timezone: 'Asia/Tokyo' }), ['2026-01-11T00:15:30.000Z']);
  });

  test('DST in Europe/Lisbon: a fixed time in the spring gap runs at the first valid time after it, and once in the repeated autumn hour', () => {
    // 2026-03-29 01:00 WET → 02:00 WEST: 01:30 does not exist that day.
    assert.deepEqual(upcoming({ at: '01:30' }, '2026-03-27T12:00:00Z', 3, { timezone: 'Europe/Lisbon' }), [
      '2026-03-28T01:30:00.000Z', // 01:30 WET
      '2026-03-29T01:00:00.000Z', // 02:00 WEST, right after the gap
      '2026-03-30T00:30:00.000Z', // 01:30 WEST
    ]);
    // 2026-10-25 02:00 WEST → 01:00 WET: 01:30 happens twice; the fixed time runs at the first only.
    assert.deepEqual(upcoming({ at: '01:30' }, '2026-10-24T12:00:00Z', 2, { timezone: 'Europe/Lisbon' }), ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // An interval pattern runs in both occurrences of the repeated hour...
    assert.deepEqual(upcoming({ cron: '*/30 * * * *' }, '2026-10-25T00:00:00Z', 4, { timezone: 'Europe/Lisbon' }), [
      '2026-10-25T00:30:00.000Z', // 01:30 WEST
      '2026-10-25T01:00:00.000Z', // 01:00 WET (again)
      '2026-10-25T01:30:00.000Z', // 01:30 WET (again)
      '2026-10-25T02:00:00.000Z',
    ]);
    // ...and skips the times the spring gap removes.
    assert.deepEqual(upcoming({ cron: '*/30 * * * *' }, '2026-03-29T00:00:00Z', 3, { timezone: 'Europe/Lisbon' }), [
      '2026-03-29T00:30:00.000Z', // 00:30 WET
      '2026-03-29T01:00:00.000Z', // 02:00 WEST (01:00 and 01:30 never happen)
      '2026-03-29T01:30:00.000Z',
    ]);
  });

  test('DST in America/New_York', () => {
    // 2026-03-08 02:00 EST → 03:00 EDT.
    assert.deepEqual(upcoming({ at: '02:30' }, '2026-03-07T12:00:00Z', 3, { timezone: 'America/New_York' }), [
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z',
    ]);
    // 2026-11-01 02:00 EDT → 01:00 EST: 01:30 once, in EDT.
    assert.deepEqual(upcoming({ crontab: { hour: 1, minute: 30 } }, '2026-10-31T12:00:00Z', 2, { timezone: 'America/New_York' }), ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });

  test('cron: five fields, six with seconds; Sunday is 0 or 7', () => {
    assert.deepEqual(upcoming({ cron: '0 3 * * 1' }, '2026-01-05T03:00:00Z', 2, { timezone: 'UTC' }), ['2026-01-12T03:00:00.000Z', '2026-01-19T03:00:00.000Z']);
    assert.deepEqual(upcoming({ cron: '*/20 * * * * *' }, '2026-01-05T10:00:05Z', 3, { timezone: 'UTC' }), ['2026-01-05T10:00:20.000Z', '2026-01-05T10:00:40.000Z', '2026-01-05T10:01:00.000Z']);
    const sun0 = upcoming({ cron: '0 12 * * 0' }, '2026-01-05T00:00:00Z', 2, { timezone: 'UTC' });
    assert.deepEqual(upcoming({ cron: '0 12 * * 7' }, '2026-01-05T00:00:00Z', 2, { timezone: 'UTC' }), sun0);
    assert.deepEqual(sun0, ['2026-01-11T12:00:00.000Z', '2026-01-18T12:00:00.000Z']);
  });

  test('crontab: absent = every, lists, weekday in cron numbering, day AND weekday', () => {
    // Mon, Wed, Fri at 09:00.
    assert.deepEqual(upcoming({ crontab: { weekday: [1, 3, 5], hour: 9, minute: 0 } }, '2026-01-05T10:00:00Z', 4, { timezone: 'UTC' }), [
      '2026-01-07T09:00:00.000Z',
      '2026-01-09T09:00:00.000Z',
      '2026-01-12T09:00:00.000Z',
      '2026-01-14T09:00:00.000Z',
    ]);
    assert.deepEqual(
      upcoming({ crontab: { weekday: 7, hour: 0, minute: 0 } }, '2026-01-05T00:00:00Z', 1, { timezone: 'UTC' }),
      upcoming({ crontab: { weekday: 0, hour: 0, minute: 0 } }, '2026-01-05T00:00:00Z', 1, { timezone: 'UTC' }),
    );
    // Friday the 13th: both fields must match (unlike a cron string's "either").
    assert.deepEqual(upcoming({ crontab: { day: 13, weekday: 5, hour: 9, minute: 0 } }, '2026-01-01T00:00:00Z', 3, { timezone: 'UTC' }), [
      '2026-02-13T09:00:00.000Z',
      '2026-03-13T09:00:00.000Z',
      '2026-11-13T09:00:00.000Z',
    ]);
    // No minute given: every minute of the hour.
    assert.deepEqual(upcoming({ crontab: { hour: 9 } }, '2026-01-05T09:58:30Z', 3, { timezone: 'UTC' }), ['2026-01-05T09:59:00.000Z', '2026-01-06T09:00:00.000Z', '2026-01-06T09:01:00.000Z']);
  });

  test('month ends: the 31st skips short months, L is the last day, Feb 29 waits for a leap year', () => {
    assert.deepEqual(upcoming({ crontab: { day: 31, hour: 0, minute: 0 } }, '2026-01-15T00:00:00Z', 4, { timezone: 'UTC' }), [
      '2026-01-31T00:00:00.000Z',
      '2026-03-31T00:00:00.000Z',
      '2026-05-31T00:00:00.000Z',
      '2026-07-31T00:00:00.000Z',
    ]);
    assert.deepEqual(upcoming({ cron: '0 0 L * *' }, '2026-01-15T00:00:00Z', 3, { timezone: 'UTC' }), ['2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z', '2026-03-31T00:00:00.000Z']);
    assert.deepEqual(upcoming({ crontab: { month: 2, day: 29, hour: 12, minute: 0 } }, '2026-01-01T00:00:00Z', 2, { timezone: 'UTC' }), ['2028-02-29T12:00:00.000Z', '2032-02-29T12:00:00.000Z']);
  });
});

describe('schedule: firing', () => {
  test('without a board each occurrence runs here; stop() ends it', async () => {
    const clock = new ManualClock(T('2026-01-01T00:00:00Z'));
    const seen: OccurrenceDetails[] = [];
    const s = schedule(
      'tick',
      (details) => {
        seen.push(details);
        return new LinearFlow('tick').add(task({ name: 'stamp', requires: ['base'], provides: 'out', execute: ({ base }: { base: number }) => base + seen.length }));
      },
      { every: 1000 },
      { clock, store: { base: 100 }, engine: 'parallel' },
    );
    const runs: Array<{ at: string; out: unknown }> = [];
    s.on('run', (e) => runs.push({ at: e.occurrence.toISOString(), out: e.results['out'] }));
    assert.equal(s.next()?.toISOString(), '2026-01-01T00:00:01.000Z');
    clock.advance(999);
    await s.idle();
    assert.equal(runs.length, 0);
    clock.advance(1);
    await s.idle();
    clock.advance(1000);
    await s.idle();
    assert.deepEqual(runs, [
      { at: '2026-01-01T00:00:01.000Z', out: 101 },
      { at: '2026-01-01T00:00:02.000Z', out: 102 },
    ]);
    assert.deepEqual(seen[0], { schedule: 'tick', occurrence: '2026-01-01T00:00:01.000Z' });
    assert.equal(s.next()?.toISOString(), '2026-01-01T00:00:03.000Z');
    await s.stop();
    assert.equal(s.next(), undefined);
    assert.equal(clock.pending, 0, 'no timer left armed');
    clock.advance(10_000);
    await s.idle();
    assert.equal(runs.length, 2);
  });

  test('a failing run (or factory) is an error event; the schedule goes on', async () => {
    const clock = new ManualClock(T('2026-01-01T00:00:00Z'));
    let n = 0;
    const s = schedule(
      'flaky',
      () => {
        if (++n === 1) throw new Error('factory broke');
        return task({ name: 'boom', execute: () => { throw new Error('run broke'); } });
      },
      { every: 10 },
      { clock },
    );
    const errors: string[] = [];
    s.on('error', (e) => errors.push(`${e.occurrence.toISOString()} ${(e.error as Error).message}`));
    clock.advance(10);
    await s.idle();
    clock.advance(10);
    await s.idle();
    await s.stop();
    assert.deepEqual(errors, ['2026-01-01T00:00:00.010Z factory broke', '2026-01-01T00:00:00.020Z run broke']);
  });

  test('with a board two schedulers post each occurrence once, keyed name@occurrence', async () => {
    const clock = new ManualClock(T('2026-01-01T08:59:00Z'));
    const board = new FakeBoard();
    const options: ScheduleOptions = { clock, board, timezone: 'UTC', store: { region: 'eu' } };
    const factory = () => {
      throw new Error('with a board, conductors build the flow');
    };
    const a = schedule('report', factory, { cron: '*/30 9 * * *' }, options);
    const b = schedule('report', factory, { cron: '*/30 9 * * *' }, options);
    const posted: string[] = [];
    a.on('posted', (e) => posted.push(`a ${e.key}`));
    b.on('posted', (e) => posted.push(`b ${e.key}`));
    clock.advance(60 * 60_000);
    await Promise.all([a.idle(), b.idle()]);
    assert.deepEqual([...board.jobs.keys()], ['report@2026-01-01T09:00:00.000Z', 'report@2026-01-01T09:30:00.000Z']);
    assert.equal(board.calls, 4, 'both schedulers posted; the board kept one job per key');
    assert.equal(posted.length, 4);
    assert.deepEqual(board.jobs.get('report@2026-01-01T09:00:00.000Z'), { name: 'report', details: { schedule: 'report', occurrence: '2026-01-01T09:00:00.000Z' }, store: { region: 'eu' } });
    await Promise.all([a.stop(), b.stop()]);
  });

  test("missed: 'skip' (default) runs nothing on start; 'latest' posts the most recent past occurrence once", async () => {
    const clock = new ManualClock(T('2026-01-01T10:15:00Z'));
    const board = new FakeBoard();
    const skip = schedule('hourly', noFlow, { cron: '0 * * * *' }, { clock, board });
    await skip.idle();
    assert.equal(board.jobs.size, 0);
    const first = schedule('hourly', noFlow, { cron: '0 * * * *' }, { clock, board, missed: 'latest' });
    const second = schedule('hourly', noFlow, { cron: '0 * * * *' }, { clock, board, missed: 'latest' });
    await Promise.all([first.idle(), second.idle()]);
    assert.deepEqual([...board.jobs.keys()], ['hourly@2026-01-01T10:00:00.000Z']);
    await Promise.all([skip.stop(), first.stop(), second.stop()]);
  });

  test('a late timer runs its occurrence once and skips the ones it slept through', async () => {
    // A clock whose timers fire only when told to, however late (a suspended laptop).
    let now = T('2026-01-01T00:00:00Z');
    const armed: Array<() => void> = [];
    const clock = { now: () => now, setTimer: (_ms: number, fn: () => void) => (armed.push(fn), () => undefined) };
    const board = new FakeBoard();
    const s = schedule('m', noFlow, { every: 60_000 }, { clock, board });
    now = T('2026-01-01T00:05:30Z');
    armed.shift()!();
    await s.idle();
    assert.deepEqual([...board.jobs.keys()], ['m@2026-01-01T00:01:00.000Z']);
    assert.equal(s.next()?.toISOString(), '2026-01-01T00:06:00.000Z');
    await s.stop();
  });

  test('waits longer than a timer allows are chained (a yearly schedule)', async () => {
    const clock = new ManualClock(T('2026-01-01T00:00:00Z'));
    const board = new FakeBoard();
    const s = schedule('yearly', noFlow, { crontab: { month: 1, day: 1, hour: 0, minute: 0 } }, { clock, board, timezone: 'UTC' });
    assert.equal(s.next()?.toISOString(), '2027-01-01T00:00:00.000Z');
    clock.advance(T('2027-01-01T00:00:00Z') - T('2026-01-01T00:00:00Z'));
    await s.idle();
    assert.deepEqual([...board.jobs.keys()], ['yearly@2027-01-01T00:00:00.000Z']);
    await s.stop();
  });
});

describe('schedule: refused specifications', () => {
  const refused: Array<[string, ScheduleSpec, ScheduleOptions, RegExp]> = [
    ['a cron value out of range', { cron: '61 * * * *' }, {}, /cannot use the pattern '61 \* \* \* \*'.*minute/],
    ['a cron of four fields', { cron: '* * * *' }, {}, /cannot use the pattern/],
    ['a cron of seven fields', { cron: '* * * * * * *' }, {}, /cannot use the pattern/],
    ['an empty cron', { cron: ' ' }, {}, /'cron' must be a pattern/],
    ['every 0', { every: 0 }, {}, /'every' must be a whole number of milliseconds >= 1/],
    ['every 1.5', { every: 1.5 }, {}, /'every'/],
    ['at 25:00', { at: '25:00' }, {}, /'at' must be a time of day/],
    ['at 9am', { at: '9am' }, {}, /'at' must be a time of day/],
    ['crontab hour 24', { crontab: { hour: 24 } }, {}, /crontab field 'hour' takes whole numbers from 0 to 23, not 24/],
    ['crontab weekday 8', { crontab: { weekday: [1, 8] } }, {}, /'weekday' takes whole numbers from 0 to 7/],
    ['crontab unknown field', { crontab: { second: 1 } as never }, {}, /unknown crontab field 'second'/],
    ['crontab empty list', { crontab: { minute: [] } }, {}, /empty list/],
    ['crontab that never occurs', { crontab: { month: 2, day: 30 } }, {}, /no future occurrence/],
    ['two kinds at once', { every: 1000, at: '01:00' } as never, {}, /exactly one of cron, every, at, crontab \(got every, at\)/],
    ['no kind', {} as never, {}, /exactly one of/],
    ['an unknown time zone', { at: '01:00' }, { timezone: 'Mars/Olympus' }, /'timezone' must be an IANA time zone name/],
    ['an unknown option', { every: 1000 }, { tz: 'UTC' } as never, /unknown option 'tz'/],
    ['a local option with a board', { every: 1000 }, { board: new FakeBoard(), engine: 'parallel' }, /option 'engine' is for local runs/],
    ['priority without a board', { every: 1000 }, { priority: 1 }, /'priority' is for posted jobs/],
    ['bad engine options', { every: 1000 }, { engine: 'warp' as never }, /engine option 'engine' must be/],
    ['bad missed', { every: 1000 }, { missed: 'all' as never }, /'missed' must be 'skip' or 'latest'/],
  ];
  for (const [what, spec, options, message] of refused) {
    test(what, () => {
      assert.throws(
        () => schedule('bad', noFlow, spec, { clock: new ManualClock(T('2026-01-01T00:00:00Z')), ...options }),
        (e: unknown) => e instanceof InvalidSchedule && e.code === 'INVALID_SCHEDULE' && e.schedule === 'bad' && message.test(e.message),
      );
    });
  }
  test('a factory that is not a function, and an empty name', () => {
    assert.throws(() => schedule('x', 'nope' as never, { every: 1 }), InvalidSchedule);
    assert.throws(() => schedule('', noFlow, { every: 1 }), InvalidSchedule);
  });
});
