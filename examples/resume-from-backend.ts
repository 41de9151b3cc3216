/**
 * Suspending a run and resuming it from its stored state (TaskFlow's `resume_from_backend`, in
 * our words).
 *
 * A linear flow of three tasks; the middle one suspends the engine, so the run stops after it
 * with the last task never started. The engine is then thrown away and a new one, built from a
 * fresh copy of the flow and the stored FlowDetail's uuid, continues the run: only the task that
 * had not run yet executes. That second engine could as well live in another process (after the
 * first one crashed, say), since everything it needs is read from the SQLite file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinearFlow, Task, load, openBackend, type AtomContext, type Backend, type Engine } from '../index.js';
import { printWrapped, shown, sqliteUri } from './example-utils.js';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  // The engine currently running the flow, for the task that suspends it.
  let current: Engine | undefined;

  class Interrupt extends Task {
    execute(_args: object, _ctx: AtomContext): void {
      // Stops the engine from starting anything new; this task itself still completes.
      current?.suspend();
    }
  }

  class Work extends Task<object, string> {
    execute(_args: object, _ctx: AtomContext): string {
      log(`executing ${this.name}==${this.version}`);
      return 'ok';
    }
  }

  const flowFactory = (): LinearFlow =>
    new LinearFlow('resume from backend example').add(new Work({ name: 'first' }), new Interrupt({ name: 'boom' }), new Work({ name: 'second' }));

  /** The flow's and its atoms' states as stored in the backend (atoms sorted by name). */
  const printStates = async (backend: Backend, flowUuid: string | undefined, heading: string): Promise<void> => {
    printWrapped(log, heading);
    if (flowUuid === undefined) {
      log(`Flow 'resume from backend example' state: none (nothing stored yet)`);
      return;
    }
    const fd = await backend.getFlowDetail(flowUuid);
    log(`Flow '${fd.name}' state: ${fd.state ?? 'none'}`);
    const atoms = [...fd.atomDetails].sort((a, b) => a.name.localeCompare(b.name));
    for (const ad of atoms) log(` ${ad.name}==${ad.version}: ${ad.state}, result=${shown(ad.results)}`);
  };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-resume-'));
  const backend = await openBackend(sqliteUri(path.join(dir, 'resume.db')));
  try {
    // FIRST ATTEMPT: runs until `boom` suspends the engine.
    await printStates(backend, undefined, 'At the beginning, there is no state');
    const engine = load(flowFactory(), { backend });
    current = engine;
    printWrapped(log, 'Running');
    await engine.run(); // resolves on SUSPENDED as on SUCCESS
    const flowUuid = engine.flowDetail.uuid;
    await printStates(backend, flowUuid, 'After running');

    // RESUME: a new engine on a new copy of the flow, loaded from what the backend stored.
    printWrapped(log, 'Resuming and running again');
    const engine2 = load(flowFactory(), { backend, flowDetail: flowUuid });
    current = engine2;
    await engine2.run();
    await printStates(backend, flowUuid, 'At the end');
  } finally {
    await backend.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
