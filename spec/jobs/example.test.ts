/** The "running in production" example: HTTP posts, a conductor runs, idempotent keys, a rolled-back trip. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../../examples/jobboard-service.js';

test('examples/jobboard-service: one job per key, results and rollbacks through HTTP', { timeout: 30_000 }, async () => {
  const lines: string[] = [];
  await main((l) => lines.push(l));
  assert.deepEqual(lines, [
    'order-1 posted twice -> one job',
    'order-1: COMPLETE {"trip":"Lisbon","reservation":"hotel in Lisbon for customer 7","receipt":"paid for Lisbon"}',
    'order-2: COMPLETE, rolled back: card declined',
  ]);
});
