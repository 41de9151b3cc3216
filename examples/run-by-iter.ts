/**
 * Driving engines step by step (TaskFlow's `run_by_iter` example, in our words).
 *
 * `engine.runIter()` yields each state the engine's loop passes through, so one caller can drive
 * several engines in turn from a single loop, each one advancing by one state per turn. Every flow
 * here echoes the letters A to Z: each task prints its letter and provides the next one.
 */
import { LinearFlow, Task, load, type AtomContext, type EngineState } from '../index.js';

const FIRST = 'A'.charCodeAt(0);
const LAST = 'Z'.charCodeAt(0);

export async function main(log: (line: string) => void = console.log, flowCount = 1): Promise<void> {
  class Echo extends Task<{ value: string }, string> {
    static override requires = ['value'];
    execute({ value }: { value: string }, _ctx: AtomContext): string {
      log(value);
      return String.fromCharCode(value.charCodeAt(0) + 1);
    }
  }

  const alphabetFlow = (i: number): LinearFlow => {
    const flow = new LinearFlow(`alphabet_${i}`);
    for (let code = FIRST; code <= LAST; code++) {
      const letter = String.fromCharCode(code);
      // Each echoer reads the value stored under its own letter and stores the next letter.
      const provides = code < LAST ? { provides: String.fromCharCode(code + 1) } : {};
      flow.add(new Echo({ name: `echoer_${letter}`, rebind: { value: letter }, ...provides }));
    }
    return flow;
  };

  const iterators: Array<AsyncGenerator<EngineState, void, undefined>> = [];
  for (let i = 1; i <= flowCount; i++) {
    const engine = load(alphabetFlow(i));
    engine.compile();
    engine.storage.inject({ A: 'A' });
    await engine.prepare();
    iterators.push(engine.runIter());
  }

  // Round robin: one step of each engine per turn, until every engine has finished.
  while (iterators.length > 0) {
    for (const it of [...iterators]) {
      const step = await it.next();
      if (step.done) iterators.splice(iterators.indexOf(it), 1);
      else log(step.value);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
