/**
 * Crash resistance across processes (TaskFlow's `resume_many_flows`, in our words).
 *
 * Several child processes each run a new instance of the same flow on one shared SQLite file.
 * The first finishes; the second is killed (SIGKILL) in the middle of a task; the third has a task
 * suspend its engine and exits. The parent then looks through every stored run, and resumes each
 * one that did not finish, to completion: the killed run re-executes the task that was in flight
 * when the process died, the suspended one just carries on with the next task. Tasks that had
 * finished are never run twice.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBackend, resume, type FlowState } from '../index.js';
import { sqliteUri } from './example-utils.js';
import { flowFactory, type BoomMode } from './resume-many-flows/my-flows.js';

const CHILD = fileURLToPath(new URL('./resume-many-flows/run-flow.js', import.meta.url));

/** Runs that need nothing more. */
const FINISHED: ReadonlySet<FlowState | null> = new Set<FlowState | null>(['SUCCESS', 'FAILURE', 'REVERTED']);

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-resume-many-'));
  const storePath = path.join(dir, 'flows.db');

  /** Runs the flow in a child process and relays what it printed. */
  const runChild = (label: string, boom?: BoomMode): void => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (boom === undefined) delete env['BOOM'];
    else env['BOOM'] = boom;
    const child = spawnSync(process.execPath, [CHILD, storePath, label], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.error) throw child.error;
    for (const line of child.stdout.split('\n')) if (line !== '') log(line);
    const expectedSignal = boom === 'kill' ? 'SIGKILL' : null;
    if (child.signal !== expectedSignal || (expectedSignal === null && child.status !== 0)) {
      throw new Error(`child run ${label} ended with ${child.signal ?? `exit code ${child.status}`}:\n${child.stderr}`);
    }
    log(child.signal ? `(process killed by ${child.signal})` : `(process exited with code ${child.status})`);
  };

  try {
    log('Run flow:');
    runChild('run-1');

    log('');
    log('Run flow, the process gets killed:');
    runChild('run-2', 'kill');

    log('');
    log('Run flow, a task suspends the engine:');
    runChild('run-3', 'suspend');

    log('');
    log('Resuming all unfinished flows');
    const backend = await openBackend(sqliteUri(storePath));
    try {
      const books = await backend.getLogBooks({ lazy: false });
      // Oldest first (so in the order the children ran); the label breaks any tie of creation times.
      const runs = books
        .flatMap((b) => b.flowDetails)
        .filter((fd) => !FINISHED.has(fd.state))
        .sort((a, b) => a.createdAt - b.createdAt || String(a.meta['label']).localeCompare(String(b.meta['label'])));
      for (const fd of runs) {
        const label = String(fd.meta['label']);
        log(`Resuming flow '${fd.name}' (${label}), stored state ${fd.state ?? 'none'}`);
        // The same flow definition, rebuilt; what already ran is read from the store, not redone.
        const engine = await resume(fd.uuid, { backend, factory: () => flowFactory({ say: log }) });
        log(`Flow '${fd.name}' (${label}) is now ${engine.storage.getFlowState()}`);
      }
    } finally {
      await backend.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
