/**
 * Persisting a run (TaskFlow's `persistence_example`, in our words).
 *
 * Two tasks: one says hi (and, when reverted, takes it back), one says bye and can be told to
 * fail. Every state change of the run is written to a SQLite file, and after the run the example
 * reads the LogBook back from that file and prints what was stored.
 *
 * As in the original, whether `bye` fails depends on the file: if it does not exist yet, `bye`
 * fails and the run is reverted; if it exists (from an earlier run), the run succeeds and the file
 * is removed afterwards. `main()` runs both rounds, one after the other, in a temporary directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinearFlow, Task, createLogBook, load, openBackend, type AtomContext, type LogBook } from '../index.js';
import { printWrapped, shown, sqliteUri } from './example-utils.js';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  class HiTask extends Task {
    execute(_args: object, _ctx: AtomContext): void {
      log('Hi!');
    }
    override revert(): void {
      log('Whooops, said hi too early, take that back!');
    }
  }

  class ByeTask extends Task {
    readonly #blowup: boolean;
    constructor(blowup: boolean) {
      super();
      this.#blowup = blowup;
    }
    execute(_args: object, _ctx: AtomContext): void {
      if (this.#blowup) throw new Error('Fail!');
      log('Bye!');
    }
  }

  // The flow's shape; nothing runs yet.
  const makeFlow = (blowup: boolean): LinearFlow => new LinearFlow('hello-world').add(new HiTask(), new ByeTask(blowup));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomflow-persistence-'));
  const persistPath = path.join(dir, 'persisting.db');
  try {
    for (let round = 0; round < 2; round++) {
      // No file yet: make bye fail, to see the run reverted. A file from an earlier run: let it succeed.
      const blowup = !fs.existsSync(persistPath);
      const backend = await openBackend(sqliteUri(persistPath));
      try {
        const book = createLogBook({ name: 'my-test' });
        printWrapped(log, 'Running');
        try {
          const engine = load(makeFlow(blowup), { engine: 'serial', backend, book });
          await engine.run();
        } catch (err) {
          // Keep going, to show what the failed run left in the store.
          log(`Flow failed: ${String(err)}`);
        }
        printWrapped(log, 'Book contents');
        // Read back from the file, not from memory: this is what a later process would see.
        for (const line of describeBook(await backend.getLogBook(book.uuid))) log(line);
      } finally {
        await backend.close();
      }
      if (!blowup) removeStore(persistPath);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The stored book without ids or times (so the lines are the same on every run). */
function describeBook(book: LogBook): string[] {
  const lines = [`LogBook '${book.name}'`];
  for (const fd of book.flowDetails) {
    lines.push(`- FlowDetail '${fd.name}': state=${fd.state ?? 'none'}, store=${shown(fd.meta['store'])}`);
    for (const ad of fd.atomDetails) {
      let line = `  - AtomDetail '${ad.name}==${ad.version}' (${ad.kind}): state=${ad.state}, intention=${ad.intention}, results=${shown(ad.results)}`;
      if (ad.failure) line += `, failure=${ad.failure.toString()}`;
      if (ad.revertFailure) line += `, revertFailure=${ad.revertFailure.toString()}`;
      lines.push(line);
    }
  }
  return lines;
}

/** Removes a SQLite store with its WAL side files. */
function removeStore(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
