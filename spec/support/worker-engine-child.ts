/**
 * An engine process for the worker-engine crash test: runs the crash flow on engine 'worker',
 * persisting to a SQLite file; prints the flow detail uuid on its first line. The test kills it
 * with SIGKILL while atoms are in flight.
 *
 *   node worker-engine-child.js <db> <queue> <connection> <ledger> <gate1> <gate2>
 */
import { SqliteBackend, load } from '../../index.js';
import { buildCrashFlow } from './worker-atoms.js';

const [db, queue, connection, ledger, gate1, gate2] = process.argv.slice(2) as [string, string, string, string, string, string];
const backend = new SqliteBackend(db);
const engine = load(await buildCrashFlow(ledger, gate1, gate2), { backend, engine: 'worker', worker: { connection, queue, checkMs: 500 } });
process.stdout.write(`${engine.flowDetail.uuid}\n`);
await engine.run();
await backend.close();
