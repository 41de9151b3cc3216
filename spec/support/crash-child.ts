/**
 * A child process for the crash tests: runs (or resumes) one of a few flows on a store (a SQLite
 * file path, or any backend URI such as postgres://…) and,
 * when told, kills itself with SIGKILL at a chosen point. Every atom appends what it does to a
 * side-effect journal file (synchronously), so the parent can see what ran, and how often.
 *
 *   node crash-child.js <db path | backend URI> <journal> <flow> <killAt|-> [<flowUuid>]
 *
 * killAt is `<atom>:execute` (inside execute, after journaling), `<atom>:revert` (inside revert)
 * or `<atom>:after` (right after the atom's SUCCESS was committed, before the next starts).
 * Prints the flow detail uuid on stdout as its first line.
 *
 * Exit codes: 0 when the run ended (SUCCESS, REVERTED or FAILURE, read from the store by the parent),
 * 3 when anything else escaped (a lock held too long, a store that cannot be opened...): one line on
 * stderr `crash-child: <ErrorName> <code>: <message>` names the cause, so a harness under load never
 * sees a bare exit 1. ATOMFLOW_CRASH_BUSY_MS sets the store's busyTimeout (default 5000).
 */
import fs from 'node:fs';
import { AtomflowError, StorageFailure, GraphFlow, LinearFlow, Times, UnorderedFlow, load, openBackend, task, type Engine, type FlowItem } from '../../index.js';

export type CrashFlowKind = 'linear' | 'graph' | 'retry' | 'revert' | 'batch' | 'batch-revert' | 'batch-fail';

/** True the first time it is called for `marker` in this journal's folder (remembered on disk). */
function firstTime(journal: string, marker: string): boolean {
  const file = `${journal}.${marker}`;
  if (fs.existsSync(file)) return false;
  fs.writeFileSync(file, '1');
  return true;
}

export function buildCrashFlow(kind: CrashFlowKind, journal: string, killAt: string): FlowItem {
  const kill = (point: string) => {
    if (point === killAt) process.kill(process.pid, 'SIGKILL');
  };
  const step = (name: string, opts: { requires?: string[]; fail?: () => boolean } = {}) =>
    task({
      name,
      provides: name,
      requires: opts.requires ?? [],
      execute: async (args: Record<string, unknown>) => {
        fs.appendFileSync(journal, `execute:${name}\n`);
        kill(`${name}:execute`);
        await new Promise((r) => setImmediate(r));
        if (opts.fail?.()) throw new Error(`${name} failed`);
        return `${name}(${Object.values(args).join(',')})`;
      },
      revert: async () => {
        fs.appendFileSync(journal, `revert:${name}\n`);
        kill(`${name}:revert`);
        await new Promise((r) => setImmediate(r));
      },
    });
  switch (kind) {
    case 'linear':
      return new LinearFlow('linear').add(step('a'), step('b'), step('c'), step('d'), step('e'));
    case 'graph':
      return new GraphFlow('graph').add(step('a'), step('b', { requires: ['a'] }), step('c', { requires: ['a'] }), step('d', { requires: ['b', 'c'] }));
    case 'retry':
      // `flaky` fails the first time it gets to fail (remembered on disk), so the retry runs twice.
      return new LinearFlow('retry').add(
        step('a'),
        new LinearFlow('sub', { retry: new Times({ attempts: 3, name: 'r' }) }).add(step('b'), step('flaky', { fail: () => firstTime(journal, 'flaky-failed') })),
        step('c'),
      );
    case 'revert':
      return new LinearFlow('revert').add(step('a'), new UnorderedFlow('u').add(step('b'), step('c')), step('d'), step('boom', { fail: () => true }));
    case 'batch':
      // On the serial engine u is one batch (b, c, d, e run in that order before any is analysed).
      return new LinearFlow('batch').add(step('a'), new UnorderedFlow('u').add(step('b'), step('c'), step('d'), step('e')), step('f'));
    case 'batch-revert':
      // u is reverted as one batch: e, d, c, b.
      return new LinearFlow('batch-revert').add(step('a'), new UnorderedFlow('u').add(step('b'), step('c'), step('d'), step('e')), step('boom', { fail: () => true }));
    case 'batch-fail':
      // x fails inside the batch; the members after it still run before the batch is analysed.
      return new LinearFlow('batch-fail').add(step('a'), new UnorderedFlow('u').add(step('b'), step('x', { fail: () => true }), step('c'), step('d')));
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** One line naming what escaped, then exit 3. */
function escaped(err: unknown): never {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  const typed = err instanceof AtomflowError ? '' : ' (untyped)';
  process.stderr.write(`crash-child: ${String(e?.name ?? typeof err)} ${String(e?.code ?? '-')}${typed}: ${String(e?.message ?? err)}\n`);
  process.exit(3);
}

async function main(): Promise<void> {
  const [db, journal, kind, killAt, uuid] = process.argv.slice(2) as [string, string, CrashFlowKind, string, string | undefined];
  const busy = process.env['ATOMFLOW_CRASH_BUSY_MS'];
  const uri = db.includes('://') ? db : `sqlite://${db}`;
  const backend = await openBackend(busy ? `${uri}${uri.includes('?') ? '&' : '?'}busyTimeout=${busy}` : uri);
  const flow = buildCrashFlow(kind, journal, killAt);
  const engine: Engine = load(flow, uuid ? { backend, flowDetail: uuid, engine: 'serial' } : { backend, engine: 'serial' });
  process.stdout.write(`${engine.flowDetail.uuid}\n`);
  engine.on('atom', (e) => {
    if (e.state === 'SUCCESS' && `${e.name}:after` === killAt) process.kill(process.pid, 'SIGKILL');
  });
  try {
    await engine.run();
  } catch (err) {
    // A reverted (or failed) run rejects; the parent reads the outcome from the database. Anything
    // else (the store failing, a lock held too long) is reported.
    const state = engine.storage.getFlowState();
    if (err instanceof StorageFailure || (state !== 'REVERTED' && state !== 'FAILURE')) escaped(err);
  }
  await backend.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.on('unhandledRejection', escaped);
  process.on('uncaughtException', escaped);
  await main().catch(escaped);
}
