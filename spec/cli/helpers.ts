/**
 * Runs the built CLI as a user would: `node dist/bin/atomflow.js ...` in a child process, in a
 * temporary directory, with colours and debug output off.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/atomflow.js', import.meta.url));
export const DEMO_MODULE = fileURLToPath(new URL('../../bin/demo-flow.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/flows.js', import.meta.url));
export const NO_FLOW = fileURLToPath(new URL('./fixtures/no-flow.js', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly pid: number;
}

export function cli(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): CliResult {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', ...options.env };
  if (options.env?.['DEBUG'] === undefined) delete env['DEBUG'];
  if (options.env?.['ATOMFLOW_ENGINE'] === undefined) delete env['ATOMFLOW_ENGINE'];
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd, env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'atomflow-cli-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Splits a command line we printed (simple quoting only) into arguments. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  for (const m of line.trim().matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  return out;
}
