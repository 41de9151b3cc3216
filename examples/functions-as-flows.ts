/**
 * Functions as flows: plain functions and what each depends on become a graph flow (a
 * `Registry`), registered by calls or as decorators on static methods. Each function receives its
 * dependencies' results by id and provides its own under its id; `retry` retries one task alone.
 */
import { Registry } from '../index.js';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const etl = new Registry('etl');
  let flaky = 1; // 'total' fails once, then its retry succeeds

  etl.task('extract', async () => [3, 1, 2]);
  etl.task('clean', { dependsOn: ['extract'], data: { min: 2 } }, ({ extract, min }: { extract: number[]; min: number }) => extract.filter((x) => x >= min));
  etl.task('total', { dependsOn: ['clean'], retry: 2 }, ({ clean }: { clean: number[] }) => {
    if (flaky-- > 0) throw new Error('database busy');
    return clean.reduce((a, b) => a + b, 0);
  });

  class Reports {
    static readonly currency = 'EUR';
    @etl.task({ dependsOn: ['total', 'clean'] })
    static report({ total, clean }: { total: number; clean: number[] }): string {
      return `${clean.length} rows, total ${total} ${this.currency}`;
    }
    @etl.task
    static heartbeat(): string {
      return 'alive';
    }
  }
  void Reports;

  // Only 'report' and what it needs ('heartbeat' does not run), on the parallel engine.
  const results = await etl.run({ targets: ['report'], engine: 'parallel' });
  log(`report: ${String(results['report'])}`);
  log(`ran: ${Object.keys(results).sort().join(', ')}`);
  log(etl.visualize({ targets: ['report'] }).split('\n')[0]!);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
