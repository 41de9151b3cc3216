/** examples/postgres.ts runs against the test server, in a schema of its own (dropped at the end). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../examples/postgres.js';
import { freshUri } from '../support/postgres.js';

test('examples/postgres: a run stopped half-way is found, resumed to the end and purged', async () => {
  const lines: string[] = [];
  await main((line) => lines.push(line), freshUri('example'));
  assert.deepEqual(lines, [
    'Reserving a hotel in Lisbon.',
    'First run: SUSPENDED.',
    'Unfinished runs: 1.',
    'Charging for hotel-Lisbon (idempotency key: given).',
    'Resumed run: SUCCESS, receipt paid:hotel-Lisbon.',
    'Purged 1 finished run(s).',
  ]);
});
