/**
 * Child process of the `resume-many-flows` example: runs one new instance of the example flow on
 * a SQLite store. Usage: `node run-flow.js <absolute path of the store> <label>`, with the
 * environment variable `BOOM` set to 'kill' or 'suspend' to make the run end early (see
 * `my-flows.ts`). The label is stored in the run's FlowDetail meta so the parent can name runs
 * without printing ids. Lines are written synchronously, so none is lost when the process is killed.
 */
import fs from 'node:fs';
import { load, openBackend, type Engine } from '../../index.js';
import { sqliteUri } from '../example-utils.js';
import { flowFactory, isBoomMode } from './my-flows.js';

const say = (line: string): void => {
  fs.writeSync(1, `${line}\n`);
};

export async function runFlow(storePath: string, label: string, boomSetting: string | undefined): Promise<void> {
  const boom = isBoomMode(boomSetting) ? boomSetting : undefined;
  const backend = await openBackend(sqliteUri(storePath));
  try {
    let engine: Engine | undefined;
    engine = load(flowFactory({ say, boom, suspend: () => engine?.suspend() }), { backend, meta: { label } });
    say(`Running flow '${engine.flowDetail.name}' (${label})`);
    await engine.run();
    say(`Flow '${engine.flowDetail.name}' (${label}) is now ${engine.storage.getFlowState()}`);
  } finally {
    await backend.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [storePath, label] = process.argv.slice(2);
  if (storePath === undefined || label === undefined) {
    process.stderr.write('usage: node run-flow.js <absolute path of the SQLite store> <label>\n');
    process.exit(2);
  }
  await runFlow(storePath, label, process.env['BOOM']);
}
