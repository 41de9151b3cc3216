/**
 * Shared ground for the jobboard tests: the stores each suite runs on (a SQLite file in a temp
 * folder; a PostgreSQL schema of its own, dropped at the end), and conductor child processes
 * (the real CLI) whose output lines can be awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/atomflow.js', import.meta.url));
export const FLOWS = fileURLToPath(new URL('./fixtures/flows.js', import.meta.url));
export const PG_URL = process.env.ATOMFLOW_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly uri: string;
  /** A folder for ledgers and other files, removed by `cleanup`. */
  readonly dir: string;
  cleanup(): Promise<void>;
}

function pgUri(schema: string): string {
  return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
}

export async function makeStore(kind: 'sqlite' | 'postgres', purpose: string): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'atomflow-'));
  if (kind === 'sqlite') {
    return { kind, uri: `sqlite://${join(dir, 'flows.db')}`, dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `af_${purpose}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  return {
    kind,
    uri: pgUri(schema),
    dir,
    cleanup: async () => {
      rmSync(dir, { recursive: true, force: true });
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

export function ledgerDir(store: TestStore, name = 'ledger'): string {
  const dir = join(store.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A conductor child process (the CLI) with its output lines. */
export class ConductorProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<{ re: RegExp; from: number; resolve: (line: string) => void }> = [];

  constructor(args: readonly string[], env: Record<string, string>) {
    const e: Record<string, string | undefined> = { ...process.env, ...env };
    delete e.DEBUG;
    delete e.ATOMFLOW_ENGINE;
    this.child = spawn(process.execPath, [CLI, 'conductor', '--module', FLOWS, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        this.#check();
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      for (let i = w.from; i < this.lines.length; i++) {
        if (w.re.test(this.lines[i]!)) {
          w.resolve(this.lines[i]!);
          return false;
        }
      }
      return true;
    });
  }

  /** The first output line (from line `from` on) matching `re`, within `ms`. */
  waitFor(re: RegExp, ms = 30_000, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; got:\n${this.lines.join('\n')}\n${this.stderr}`)), ms);
      this.#waiters.push({
        re,
        from,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      this.#check();
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then waits for the exit (SIGKILL after `ms`). */
  async stop(ms = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function startConductor(store: TestStore, options: { name: string; leaseMs?: number; concurrency?: number; maxAttempts?: number; env?: Record<string, string> }): ConductorProcess {
  return new ConductorProcess(
    ['--board', store.uri, '--name', options.name, '--lease-ms', String(options.leaseMs ?? 1000), '--concurrency', String(options.concurrency ?? 1), '--poll-ms', '200', ...(options.maxAttempts === undefined ? [] : ['--max-attempts', String(options.maxAttempts)])],
    options.env ?? {},
  );
}

/** Polls `check` until it answers true, within `ms`. */
export async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  let wait = 20;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 250);
  }
}

/** The stores the suites run on: PostgreSQL once its backend is in the build (branch `postgres`). */
export const STORE_KINDS: ReadonlyArray<'sqlite' | 'postgres'> = existsSync(fileURLToPath(new URL('../../persistence/postgres.js', import.meta.url)))
  ? ['sqlite', 'postgres']
  : ['sqlite'];
