/** Small record builders and a backend-per-test wrapper for the persistence specs. */
import type { Failure } from '../../lib/failure.js';
import type { Backend } from '../../persistence/backend.js';
import {
  bookWithFlow,
  createAtomDetail,
  createFlowDetail,
  createLogBook,
  updateBook,
  updateFlow,
  type AtomDetail,
  type FlowDetail,
  type LogBook,
  type StoredAttempt,
} from '../../persistence/models.js';

export const T0 = 1_700_000_000_000;

export type Use = (fn: (b: Backend) => Promise<void>) => () => Promise<void>;

export function useBackend(make: () => Promise<Backend>): Use {
  return (fn) => async () => {
    const b = await make();
    try {
      await fn(b);
    } finally {
      await b.close();
    }
  };
}

export function task(name: string, fields: { version?: string; now?: number } = {}): AtomDetail {
  return createAtomDetail({ name, kind: 'task', version: fields.version ?? '1.0', now: fields.now ?? T0 });
}

export function retry(name: string): AtomDetail {
  return createAtomDetail({ name, kind: 'retry', version: '1.0', now: T0 });
}

export function flowWith(name: string, atoms: readonly AtomDetail[] = [], now = T0): FlowDetail {
  return updateFlow(createFlowDetail({ name, now }), { atomDetails: Object.freeze([...atoms]) });
}

export function bookWith(name: string, flows: readonly FlowDetail[] = [], meta?: Record<string, unknown>): LogBook {
  let b = createLogBook({ name, now: T0, ...(meta ? { meta } : {}) });
  for (const f of flows) b = bookWithFlow(b, f, T0);
  // bookWithFlow stamps updatedAt; a fresh book keeps null.
  return updateBook(b, { updatedAt: null });
}

/** A backend holding one book, one flow and the given atoms. */
export async function seeded(b: Backend, atoms: readonly AtomDetail[] = []): Promise<{ book: LogBook; flow: FlowDetail }> {
  const flow = flowWith('wf', atoms);
  const book = bookWith('lb', [flow]);
  await b.saveLogBook(book);
  return { book, flow };
}

/** For tests that need a retry's stored history. */
export function attempt(value: unknown, failures: Record<string, Failure> = {}): StoredAttempt {
  return Object.freeze({ value, failures: Object.freeze({ ...failures }) });
}
