/**
 * A schedule: a flow built and run on a timetable. Here every 50 ms, three times, on the system
 * clock; `{ cron: '0 3 * * 1' }`, `{ at: '03:00' }` or `{ crontab: { weekday: [1, 3, 5], hour: 9, minute: 0 } }`
 * (with `timezone: 'Europe/Lisbon'`) work the same way. With `{ board }`, each occurrence would be
 * posted once as a job for conductors instead of running here.
 */
import { LinearFlow, schedule, task } from '../index.js';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  let runs = 0;
  const s = schedule(
    'heartbeat',
    ({ occurrence }) => new LinearFlow('heartbeat').add(task({ name: 'beat', provides: 'beat', execute: () => `beat at ${occurrence}` })),
    { every: 50 },
  );
  const done = new Promise<void>((resolve, reject) => {
    s.on('error', (e) => reject(e.error as Error));
    s.on('run', (e) => {
      if (runs === 3) return; // a fourth may have started before stop() (a slow machine)
      log(`run ${++runs}: ${typeof e.results['beat']} result, on a 50 ms boundary: ${e.occurrence.getTime() % 50 === 0}`);
      if (runs === 3) resolve();
    });
  });
  await done;
  await s.stop(); // no more occurrences; resolves once runs in progress have finished
  log(`stopped, next: ${String(s.next())}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
