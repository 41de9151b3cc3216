/**
 * Running in production: a service whose HTTP handler posts runs to a jobboard, and a conductor
 * in the same process (each replica of the service runs one) that claims and runs them.
 *
 *   POST /trips {"trip":"Lisbon"}   (header Idempotency-Key: …) → 202 {"job": uuid}
 *   GET  /trips/<job>                                          → {"state": …, "result"?: …, "error"?: …}
 *
 * Run it: `node dist/examples/jobboard-service.js` (a SQLite store in a temp folder; set
 * ATOMFLOW_BOARD to a `postgres://…?schema=…` or `sqlite:///…` URI to share one between
 * replicas). The example starts the service on a free port, books three trips through HTTP (one
 * of them twice with the same key, one that fails and is rolled back), prints what the client
 * sees, and stops: `conductor.stop()` lets running trips finish before the process leaves.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Conductor, LinearFlow, openJobBoard, task, type JobBoard } from '../index.js';
import { sqliteUri } from './example-utils.js';

/** The flow a job named 'book-trip' runs: reserve a hotel, then pay (payment fails for 'Atlantis'). */
export function buildTripFlow(details: Readonly<Record<string, unknown>>): LinearFlow {
  return new LinearFlow('book-trip').add(
    task({
      name: 'hotel',
      requires: ['trip'],
      provides: 'reservation',
      execute: ({ trip }: { trip: string }) => `hotel in ${trip} for customer ${String(details.customer)}`,
      revert: () => 'hotel released',
    }),
    task({
      name: 'pay',
      requires: ['trip', 'reservation'],
      provides: 'receipt',
      execute: ({ trip }: { trip: string }) => {
        if (trip === 'Atlantis') throw new Error('card declined');
        return `paid for ${trip}`;
      },
    }),
  );
}

/** The HTTP side of one replica: it only posts and reads; conductors run the trips. */
function service(board: JobBoard): http.Server {
  return http.createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const handle = async (): Promise<void> => {
      if (req.method === 'POST' && req.url === '/trips') {
        let text = '';
        for await (const chunk of req) text += String(chunk);
        const { trip, customer } = JSON.parse(text) as { trip: string; customer?: number };
        const key = req.headers['idempotency-key'];
        // One transaction: the run's LogBook + FlowDetail and the job. A retried request with the
        // same key gets the same job back instead of booking twice.
        const job = await board.post('book-trip', {
          store: { trip },
          details: { customer: customer ?? 0 },
          ...(typeof key === 'string' ? { key } : {}),
        });
        return reply(202, { job: job.uuid });
      }
      const m = /^\/trips\/([\w-]+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && m) {
        const job = await board.job(m[1]!);
        const state = await job.state();
        if (state !== 'COMPLETE' && state !== 'TRASHED') return reply(200, { state });
        try {
          return reply(200, { state, result: await job.result() });
        } catch (e) {
          return reply(200, { state, error: (e as Error).message });
        }
      }
      reply(404, { error: 'not found' });
    };
    handle().catch((e: unknown) => reply(400, { error: (e as Error).message }));
  });
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-service-'));
  const board = await openJobBoard(process.env.ATOMFLOW_BOARD ?? sqliteUri(path.join(dir, 'flows.db')));
  // Each replica runs a conductor beside its HTTP server; any replica may run any posted trip.
  const conductor = new Conductor(board, { flows: { 'book-trip': buildTripFlow }, concurrency: 4, leaseMs: 10_000 });
  const server = service(board);
  try {
    await conductor.start();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const book = async (trip: string, key: string): Promise<string> => {
      const r = await fetch(`${base}/trips`, { method: 'POST', headers: { 'idempotency-key': key }, body: JSON.stringify({ trip, customer: 7 }) });
      return ((await r.json()) as { job: string }).job;
    };
    const outcome = async (job: string): Promise<Record<string, unknown>> => {
      for (;;) {
        const body = (await (await fetch(`${base}/trips/${job}`)).json()) as Record<string, unknown>;
        if (body.state === 'COMPLETE' || body.state === 'TRASHED') return body;
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    const lisbon = await book('Lisbon', 'order-1');
    const again = await book('Lisbon', 'order-1'); // the client retried: same key, same job
    const atlantis = await book('Atlantis', 'order-2');
    log(`order-1 posted twice -> ${lisbon === again ? 'one job' : 'two jobs'}`);
    const ok = await outcome(lisbon);
    log(`order-1: ${String(ok.state)} ${JSON.stringify(ok.result)}`);
    const failed = await outcome(atlantis);
    log(`order-2: ${String(failed.state)}, rolled back: ${String(failed.error)}`);
  } finally {
    server.close();
    await conductor.stop(); // no new claims; running trips finish
    await board.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
