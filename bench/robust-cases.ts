/**
 * Stored values (issue #11 item 7): a linear flow whose atoms each return a small object (an
 * order line: 6 fields, a nested object and an array), so every result goes through the value
 * check and its frozen copy. Compare with linear_serial_mem (number results, no copy).
 */
import { LinearFlow, Task, load } from '../index.js';
import { check, now, secs, type Sample } from './cases.js';

class OrderLine extends Task {
  execute(): Record<string, unknown> {
    return { id: 7, sku: 'AF-1', qty: 2, price: 9.5, tags: ['a', 'b'], ship: { to: 'Lisbon', express: false } };
  }
}

export async function objectResultsSerialMem(n: number): Promise<Sample> {
  const flow = new LinearFlow('objects');
  const tasks: Task[] = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = new OrderLine({ name: `t${i}` });
  flow.add(...tasks);
  const t0 = now();
  const e = load(flow, { engine: 'serial' });
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'object-results flow did not succeed');
  return { seconds: s };
}
