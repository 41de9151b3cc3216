/**
 * `executor: 'threads'`: a CPU-bound flow's wall time on 1 and on 2 pool threads (the ratio is
 * what the second thread buys; on a machine with fewer free cores it buys less), and what a job
 * costs on the pool (trivial atoms). The atoms are declared importable: the threads import this
 * module.
 */
import { Task, UnorderedFlow, load } from '../index.js';
import { check, now, round, secs } from './cases.js';

/** CPU work of a fixed size (not a wait on the clock: it takes longer when the thread gets less CPU). */
export class Burn extends Task<{ rounds: number }, number> {
  static override module = import.meta.url;
  static override requires = ['rounds'];
  execute({ rounds }: { rounds: number }): number {
    let x = 0;
    for (let i = 0; i < rounds; i++) x += Math.sqrt(i) * Math.sin(i);
    return x;
  }
}

/** Does nothing (the pool's own cost per job). */
export class Tiny extends Task<Record<string, never>, number> {
  static override module = import.meta.url;
  execute(): number {
    return 1;
  }
}

const ATOMS = 8;
/** About 120 ms of CPU per atom on an idle machine of this kind (well above the pool start). */
const ROUNDS = 6_000_000;

async function wall(threads: number, atoms: readonly Task[], store: Record<string, unknown>): Promise<number> {
  const e = load(new UnorderedFlow('threads').add(...atoms), { engine: 'parallel', executor: 'threads', maxWorkers: threads, store });
  const t0 = now();
  await e.run();
  const s = secs(t0);
  check(e.storage.getFlowState() === 'SUCCESS', 'the threads run did not succeed');
  return s;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;

/** Wall time of ATOMS CPU-bound atoms on 1 and on 2 threads (median of 3 runs each, pool start included). */
export async function threadsCpu(): Promise<{ one: number; two: number; jobUs: number; startMs: number }> {
  const burn = (): Task[] => Array.from({ length: ATOMS }, (_, k) => new Burn({ name: `burn${k}` }));
  const store = { rounds: ROUNDS };
  await wall(2, burn(), store); // warm-up (module loading, JIT)
  const one: number[] = [];
  const two: number[] = [];
  for (let r = 0; r < 3; r++) {
    one.push(await wall(1, burn(), store));
    two.push(await wall(2, burn(), store));
  }
  // A flow of one trivial atom: mostly the pool's start; 200 trivial atoms: per-job cost on top.
  const start: number[] = [];
  const many: number[] = [];
  for (let r = 0; r < 3; r++) {
    start.push(await wall(2, [new Tiny({ name: 'tiny' })], {}));
    many.push(await wall(2, Array.from({ length: 200 }, (_, k) => new Tiny({ name: `tiny${k}` })), {}));
  }
  const jobUs = ((median(many) - median(start)) / 199) * 1e6;
  return { one: median(one), two: median(two), jobUs: round(jobUs, 1), startMs: round(median(start) * 1000, 1) };
}
