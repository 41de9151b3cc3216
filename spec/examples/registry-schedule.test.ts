/** The "functions as flows" and "schedules" examples, run as the README shows them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main as functionsAsFlows } from '../../examples/functions-as-flows.js';
import { main as scheduleEvery } from '../../examples/schedule-every.js';

async function linesOf(main: (log: (line: string) => void) => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  await main((line) => lines.push(line));
  return lines;
}

test('functions-as-flows: dependencies by id, data, a retried task, decorators, targets', async () => {
  assert.deepEqual(await linesOf(functionsAsFlows), ['report: 2 rows, total 5 EUR', 'ran: clean, extract, report, total', 'flowchart TD']);
});

test('schedule-every: three runs on the period, then stopped', async () => {
  assert.deepEqual(await linesOf(scheduleEvery), [
    'run 1: string result, on a 50 ms boundary: true',
    'run 2: string result, on a 50 ms boundary: true',
    'run 3: string result, on a 50 ms boundary: true',
    'stopped, next: undefined',
  ]);
});
