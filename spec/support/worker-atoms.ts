/**
 * Fixture atoms for the worker-engine tests, importable by worker processes. Each appends what it
 * does to a ledger file (synchronously, one line per event, with the worker's pid) so the test can
 * count executions across processes; `Gated` also waits for a gate file before it finishes.
 */
import fs from 'node:fs';
import { Failure, Task, type AtomContext, type RevertContext, type TaskOptions } from '../../index.js';

interface LedgerParams {
  ledger: string;
  gate?: string;
  fail?: boolean;
}

function note(ledger: string, line: string): void {
  fs.appendFileSync(ledger, `${line} ${process.pid}\n`);
}

/** Appends `execute <name>` / `revert <name>` to the ledger; returns its name (or fails when told). */
export class Ledgered extends Task {
  readonly params: LedgerParams;
  constructor(name: string, params: LedgerParams, options: Omit<TaskOptions, 'name'> = {}) {
    super({ name, ...options });
    this.params = params;
  }
  workerParams(): LedgerParams {
    return this.params;
  }
  static fromWorkerParams(name: string, params: LedgerParams): Ledgered {
    return new this(name, params);
  }
  async execute(_args: Record<string, unknown>, ctx: AtomContext): Promise<unknown> {
    note(this.params.ledger, `execute ${this.name} ${ctx.idempotencyKey}`);
    await this.wait();
    if (this.params.fail) throw new Error(`fail-${this.name}`);
    note(this.params.ledger, `done ${this.name}`);
    return this.name;
  }
  override revert(_args: Record<string, unknown>, ctx: RevertContext): void {
    note(this.params.ledger, `revert ${this.name}`);
    // What the revert was given, as a worker sees it: its result (a Failure when execute failed) and the run's failures.
    const r = ctx.result instanceof Failure ? `Failure:${ctx.result.exceptionType}` : JSON.stringify(ctx.result ?? null);
    note(this.params.ledger, `given ${this.name} ${r} [${Object.entries(ctx.flowFailures).map(([k, f]) => `${k}:${f.exceptionType}`).join(',')}]`);
  }
  protected async wait(): Promise<void> {}
}

/** A `Ledgered` that, after noting its start, waits (bounded, 60 s) until its gate file exists. */
export class Gated extends Ledgered {
  static override fromWorkerParams(name: string, params: LedgerParams): Gated {
    return new Gated(name, params);
  }
  protected override async wait(): Promise<void> {
    const gate = this.params.gate;
    if (gate === undefined) return;
    const until = Date.now() + 60_000;
    while (!fs.existsSync(gate)) {
      if (Date.now() > until) throw new Error(`gate ${gate} never opened`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Reads a ledger as lines without the pids. */
export function readLedger(ledger: string): string[] {
  if (!fs.existsSync(ledger)) return [];
  return fs
    .readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/ \d+$/, ''));
}

/**
 * The flow of the engine-crash test: a, then g1 and g2 side by side (each waits for its gate),
 * then z. Built the same way in the engine process that is killed and in the one that resumes.
 */
export async function buildCrashFlow(ledger: string, gate1: string, gate2: string) {
  const { LinearFlow, UnorderedFlow } = await import('../../index.js');
  return new LinearFlow('crash').add(
    new Ledgered('a', { ledger }),
    new UnorderedFlow('mid').add(new Gated('g1', { ledger, gate: gate1 }), new Gated('g2', { ledger, gate: gate2 })),
    new Ledgered('z', { ledger }),
  );
}
