/**
 * Run ownership on the SQLite linear run: `linear_serial_sqlite` is owned and fenced (every run
 * claims, renews on a timer and releases; every commit carries the token). Beside it the same run
 * with the fence stripped from each commit (the claim is still made), so the row shows what the
 * fence itself costs per engine step: budget fenced ≤ 1.05 × unfenced. Both are measured in the
 * same process, run by run alternately, and each reports the median of its timed runs, in wall time
 * and in CPU time (user + system: on a shared machine the wall-time ratio mostly measures the
 * neighbours, so the budget is judged on CPU time).
 */
import { load } from '../index.js';
import type { FlowChange } from '../persistence/backend.js';
import { SqliteBackend } from '../persistence/index.js';
import { gc, linear, type Measured, type Sample } from './cases.js';
import { linearSerialSqlite, timedSqliteRun } from './sqlite-cases.js';

/** The engine's commits without their fence (what they were before ownership). */
class UnfencedSqlite extends SqliteBackend {
  override commitSync(flowUuid: string, change: FlowChange): void {
    if (change.fence === undefined) return super.commitSync(flowUuid, change);
    const { fence: _fence, ...unfenced } = change;
    super.commitSync(flowUuid, unfenced);
  }
}

function linearSerialSqliteUnfenced(n: number): Promise<Sample> {
  return timedSqliteRun(n, linear, (path) => new UnfencedSqlite(path, { durability: 'normal' }));
}

/** Wall and CPU (user + system) seconds of one run. */
async function timed(work: (n: number) => Promise<Sample>, n: number): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const { seconds } = await work(n);
  const c = process.cpuUsage(c0);
  return { wall: seconds, cpu: (c.user + c.system) / 1e6 };
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1]!;
}

export interface FenceFigures {
  readonly fenced: Measured;
  readonly unfenced: Measured;
  /** Median CPU seconds (user + system) of each: what the fence costs, whatever else runs on the machine. */
  readonly fencedCpu: number;
  readonly unfencedCpu: number;
}

/**
 * Warm-up as `measure` does (runs of min(n, 20,000), at least 5 and 100,000 atoms, of each), then
 * `runs` timed runs of each, alternating, so drift and neighbours' load hit both alike.
 */
export async function fencedAndUnfenced(n: number, runs = 10): Promise<FenceFigures> {
  const owned = linearSerialSqlite('normal');
  const warmN = Math.min(n, 20_000);
  const warmRuns = Math.max(5, Math.ceil(100_000 / warmN));
  for (let w = 0; w < warmRuns; w++) {
    await owned(warmN);
    await linearSerialSqliteUnfenced(warmN);
  }
  gc();
  const f: Array<{ wall: number; cpu: number }> = [];
  const u: Array<{ wall: number; cpu: number }> = [];
  for (let k = 0; k < runs; k++) {
    // Alternate which goes first, too.
    if (k % 2 === 0) {
      f.push(await timed(owned, n));
      u.push(await timed(linearSerialSqliteUnfenced, n));
    } else {
      u.push(await timed(linearSerialSqliteUnfenced, n));
      f.push(await timed(owned, n));
    }
  }
  const measured = (xs: typeof f): Measured => ({ seconds: median(xs.map((x) => x.wall)), n, runs: xs.map((x) => x.wall) });
  return {
    fenced: measured(f),
    unfenced: measured(u),
    fencedCpu: median(f.map((x) => x.cpu)),
    unfencedCpu: median(u.map((x) => x.cpu)),
  };
}
