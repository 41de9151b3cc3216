/**
 * A child process for the ownership tests: prepares or resumes one flow (a → b → c) on any
 * backend URI (sqlite:///…, postgres://… once that backend lands), every atom's execute appended
 * to a ledger file as `<tag> <atom>` (synchronously), so the parent sees who ran what, how often.
 *
 *   node owner-child.js <backendUri> <ledger> prepare
 *       stores the flow (PENDING, unclaimed) and prints its uuid
 *   node owner-child.js <backendUri> <ledger> run <flowUuid> <optionsJSON>
 *       options: { tag, owner?, host?, leaseMs?, engine?,
 *                  hold?: { atom, file }  — that atom waits until `file` exists,
 *                  killAt?: atom          — SIGKILL of itself inside that atom's execute }
 *
 * Prints one JSON line `{ "outcome": "SUCCESS" | "FlowClaimed" | "ClaimLost" | "error", ... }`
 * and exits 0 (SUCCESS), 3 (FlowClaimed), 4 (ClaimLost) or 1 (anything else).
 */
import fs from 'node:fs';
import { ClaimLost, FlowClaimed, LinearFlow, load, openBackend, task, type FlowItem, type LoadOptions } from '../../index.js';

export interface OwnerChildOptions {
  tag: string;
  owner?: string;
  host?: string;
  leaseMs?: number;
  engine?: 'serial' | 'parallel';
  hold?: { atom: string; file: string };
  killAt?: string;
}

export const EXIT = { SUCCESS: 0, FlowClaimed: 3, ClaimLost: 4, error: 1 } as const;

/** Resolves once `file` exists (polled: timers keep running after SIGSTOP/SIGCONT). */
function fileAppears(file: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!fs.existsSync(file)) return;
      clearInterval(timer);
      resolve();
    };
    const timer = setInterval(check, 10);
    check();
  });
}

export function buildOwnedFlow(ledger: string, o: Pick<OwnerChildOptions, 'tag' | 'hold' | 'killAt'>): FlowItem {
  const step = (name: string) =>
    task({
      name,
      provides: name,
      execute: async () => {
        fs.appendFileSync(ledger, `${o.tag} ${name}\n`);
        if (o.killAt === name) process.kill(process.pid, 'SIGKILL');
        if (o.hold?.atom === name) await fileAppears(o.hold.file);
        return `${name} by ${o.tag}`;
      },
    });
  return new LinearFlow('owned').add(step('a'), step('b'), step('c'));
}

async function main(): Promise<void> {
  const [uri, ledger, mode, uuid, json] = process.argv.slice(2) as [string, string, string, string | undefined, string | undefined];
  const backend = await openBackend(uri);
  try {
    if (mode === 'prepare') {
      const engine = load(buildOwnedFlow(ledger, { tag: 'prepare' }), { backend });
      await engine.prepare();
      process.stdout.write(`${engine.flowDetail.uuid}\n`);
      return;
    }
    const o = JSON.parse(json ?? '{}') as OwnerChildOptions;
    const options: LoadOptions = { backend, flowDetail: uuid!, engine: o.engine ?? 'serial' };
    if (o.owner !== undefined) options.owner = o.owner;
    if (o.host !== undefined) options.host = o.host;
    if (o.leaseMs !== undefined) options.leaseMs = o.leaseMs;
    const engine = load(buildOwnedFlow(ledger, o), options);
    try {
      await engine.run();
      process.stdout.write(`${JSON.stringify({ outcome: 'SUCCESS' })}\n`);
      process.exitCode = EXIT.SUCCESS;
    } catch (e) {
      if (e instanceof FlowClaimed) {
        process.stdout.write(`${JSON.stringify({ outcome: 'FlowClaimed', owner: e.owner, leaseUntil: e.leaseUntil.getTime() })}\n`);
        process.exitCode = EXIT.FlowClaimed;
      } else if (e instanceof ClaimLost) {
        process.stdout.write(`${JSON.stringify({ outcome: 'ClaimLost', message: e.message })}\n`);
        process.exitCode = EXIT.ClaimLost;
      } else {
        process.stdout.write(`${JSON.stringify({ outcome: 'error', message: String((e as Error)?.stack ?? e) })}\n`);
        process.exitCode = EXIT.error;
      }
    }
  } finally {
    await backend.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
