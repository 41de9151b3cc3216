/**
 * Child process for the `peak_rss` case: runs an n-atom linear flow in memory (serial engine) and
 * prints one JSON line with its peak resident set size, in MB (process.resourceUsage().maxRSS is
 * in KiB), and the peak before the run (Node itself plus the loaded modules).
 * Usage: node dist/bench/child-rss.js N
 */
import { performance } from 'node:perf_hooks';
import { load } from '../index.js';
import { linear } from './cases.js';

const n = Number(process.argv[2] ?? 100_000);
if (!Number.isInteger(n) || n < 1) throw new Error(`child-rss: bad n ${process.argv[2]}`);

const mb = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
const startup = process.resourceUsage().maxRSS;
const t0 = performance.now();
const engine = load(linear(n), { engine: 'serial' });
await engine.run();
const seconds = (performance.now() - t0) / 1000;
if (engine.storage.getFlowState() !== 'SUCCESS') throw new Error('child-rss: the run did not succeed');
process.stdout.write(
  `${JSON.stringify({ maxrss_mb: mb(process.resourceUsage().maxRSS), startup_maxrss_mb: mb(startup), seconds: Math.round(seconds * 1e4) / 1e4 })}\n`,
);
