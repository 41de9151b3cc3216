/**
 * The live display of a run: every atom's state and the overall progress.
 *
 * - `live` (stdout is a terminal): a block of one line per atom and a progress bar, redrawn in
 *   place; what must stay (failures, retry decisions, the rollback, the flow's states) is printed
 *   above the block as it happens.
 * - `plain` (a pipe or a file): one line per transition, `+0.123s  flight  SUCCESS  …  [2/6]`.
 *
 * It is an `EngineListener`, so it only reads events; start it after `engine.prepare()` so it
 * can show where a resumed run stands.
 */
import type { AtomEvent, FlowEvent, ProgressEvent, RetryEvent } from '../lib/events.js';
import type { AtomKind, AtomState, FlowState } from '../lib/states.js';
import type { Engine } from '../engines/engine.js';
import { EngineListener } from '../engines/listeners/base.js';
import { brief, describeFailure, formatMs, widest, type Sink } from './commands/common.js';

export interface DisplayOptions {
  readonly out: Sink;
  readonly mode: 'live' | 'plain';
  readonly color: boolean;
  /** ms clock (default `performance.now`). */
  readonly now?: () => number;
}

export interface AtomRow {
  readonly name: string;
  readonly kind: AtomKind;
  state: AtomState;
  progress: number;
  since: number | undefined;
  ms: number | undefined;
  note: string;
}

const SYMBOL: Readonly<Record<AtomState, string>> = {
  PENDING: '·',
  RUNNING: '▶',
  SUCCESS: '✔',
  FAILURE: '✖',
  REVERTING: '↩',
  REVERTED: '↩',
  REVERT_FAILURE: '✖',
  RETRYING: '↻',
  IGNORE: '-',
};
const COLOR: Readonly<Record<AtomState | FlowState, string>> = {
  PENDING: '2',
  RUNNING: '36',
  SUCCESS: '32',
  FAILURE: '31',
  REVERTING: '33',
  REVERTED: '33',
  REVERT_FAILURE: '1;31',
  RETRYING: '35',
  IGNORE: '2',
  RESUMING: '36',
  SUSPENDING: '35',
  SUSPENDED: '35',
};
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const DONE: ReadonlySet<AtomState> = new Set(['SUCCESS', 'IGNORE']);

export class LiveDisplay extends EngineListener {
  readonly #out: Sink;
  readonly #mode: 'live' | 'plain';
  readonly #color: boolean;
  readonly #now: () => number;
  readonly #rows = new Map<string, AtomRow>();
  readonly #tally = new Map<AtomState, number>();
  readonly #running = new Set<AtomRow>();
  readonly #t0: number;
  #flowName: string;
  #flowState: FlowState = 'PENDING';
  #drawn = 0;
  #drawnAt = -Infinity;
  #dirty = false;
  #tick = 0;
  #timer: NodeJS.Timeout | undefined;
  #width = 0;
  /** Every task revert, in order (including those a retry does before trying again). */
  readonly #reverted: string[] = [];
  /** Whether the run is undoing its work (not just a retry's subflow before another attempt). */
  #rollingBack = false;
  /** Which atoms a retry governs (their failures do not start a rollback by themselves). */
  readonly #governed = new Set<string>();

  constructor(engine: Engine, options: DisplayOptions) {
    super(engine);
    this.#out = options.out;
    this.#mode = options.mode;
    this.#color = options.color;
    this.#now = options.now ?? (() => performance.now());
    this.#t0 = this.#now();
    const c = engine.compile();
    this.#flowName = c.rootName;
    const stored = new Map<string, AtomState>();
    let flowState: FlowState | null = null;
    try {
      const fd = engine.flowDetail;
      flowState = fd.state ?? null;
      for (const d of fd.atomDetails ?? []) stored.set(d.name, d.state);
    } catch {
      // not prepared: everything is PENDING
    }
    if (flowState !== null) this.#flowState = flowState;
    for (const a of c.atoms) {
      if (a.retry >= 0) this.#governed.add(a.name);
      const state = stored.get(a.name) ?? 'PENDING';
      // Stored as running: it was cut short (a crash) and runs again, with no new RUNNING event.
      const since = state === 'RUNNING' || state === 'REVERTING' ? this.#t0 : undefined;
      const row: AtomRow = { name: a.name, kind: a.kind, state, progress: DONE.has(state) ? 1 : 0, since, ms: undefined, note: '' };
      this.#rows.set(a.name, row);
      this.#tally.set(state, (this.#tally.get(state) ?? 0) + 1);
      if (state === 'RUNNING') this.#running.add(row);
    }
    this.#width = widest(c.atoms, (a) => a.name.length, 8);
  }

  /** The atoms as the display last saw them, in flow order. */
  rows(): readonly AtomRow[] {
    return [...this.#rows.values()];
  }

  /** The tasks the run rolled back, in the order it did (each once, as it ended REVERTED). */
  get rollback(): string[] {
    const seen = new Set<string>();
    const out: string[] = [];
    for (let i = this.#reverted.length - 1; i >= 0; i--) {
      const name = this.#reverted[i]!;
      if (seen.has(name) || this.#rows.get(name)?.state !== 'REVERTED') continue;
      seen.add(name);
      out.unshift(name);
    }
    return out;
  }

  #startRollback(why: string): void {
    if (this.#rollingBack) return;
    this.#rollingBack = true;
    this.log(`${this.#stamp()}  ${this.paint(COLOR.REVERTING, 'rolling back')}: ${why}; undoing what was done, most recent first`);
  }

  override start(): this {
    if (this.started) return this;
    super.start();
    if (this.#mode === 'live') {
      this.#out.write('\x1b[?25l');
      this.#timer = setInterval(() => {
        this.#tick++;
        if (this.#dirty || this.#running.size > 0) this.#draw();
      }, 100);
      this.#timer.unref();
      this.#draw();
    }
    return this;
  }

  /** Unsubscribes; in live mode leaves the last state of the block on screen and shows the cursor again. */
  override stop(): void {
    const was = this.started;
    if (was && this.#mode === 'live') this.#draw();
    super.stop();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (was && this.#mode === 'live') {
      this.#drawn = 0;
      this.#out.write('\x1b[?25h');
    }
  }

  /** A line that stays (above the live block). */
  log(line: string): void {
    if (this.#mode === 'live') {
      this.#clear();
      this.#out.write(`${line}\n`);
      this.#dirty = true;
      if (this.started) this.#drawSoon();
    } else {
      this.#out.write(`${line}\n`);
    }
  }

  paint(code: string, text: string): string {
    return this.#color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  #stamp(): string {
    return this.paint('2', `+${((this.#now() - this.#t0) / 1000).toFixed(3)}s`);
  }

  /** Counts kept as events arrive (so a big flow does not cost O(atoms) per event). */
  #counts(): { done: number; total: number; fraction: number; reverted: number; touched: number } {
    const n = (state: AtomState) => this.#tally.get(state) ?? 0;
    const done = n('SUCCESS') + n('IGNORE');
    let running = 0;
    for (const r of this.#running) running += r.progress;
    const total = this.#rows.size;
    return { done, total, fraction: total === 0 ? 1 : (done + running) / total, reverted: n('REVERTED'), touched: total - n('PENDING') - n('IGNORE') };
  }

  #setState(row: AtomRow, state: AtomState): void {
    this.#tally.set(row.state, (this.#tally.get(row.state) ?? 1) - 1);
    this.#tally.set(state, (this.#tally.get(state) ?? 0) + 1);
    row.state = state;
    if (state === 'RUNNING') this.#running.add(row);
    else this.#running.delete(row);
  }

  protected override onFlow(e: FlowEvent): void {
    this.#flowName = e.name;
    this.#flowState = e.state;
    if (e.state === 'RUNNING' || e.state === 'PENDING') this.#rollingBack = false;
    const extra = e.state === 'SUSPENDING' ? ': in-flight atoms finish, nothing new starts' : '';
    this.log(`${this.#stamp()}  flow '${e.name}' ${this.paint(COLOR[e.state], e.state)}${extra}`);
  }

  protected override onTask(e: AtomEvent): void {
    const row = this.#rows.get(e.name);
    if (row === undefined) return;
    const now = this.#now();
    if (e.state === 'RUNNING' || e.state === 'REVERTING') {
      row.since = now;
      row.progress = 0;
    } else if (row.since !== undefined && e.state !== 'PENDING' && e.state !== 'RETRYING') {
      row.ms = now - row.since;
      row.since = undefined;
    }
    this.#setState(row, e.state);
    if (e.state === 'SUCCESS') {
      row.progress = 1;
      row.note = brief(e.result, 60);
    } else if (e.failure !== undefined) {
      row.note = describeFailure(e.failure);
    } else if (e.state === 'REVERTED') {
      row.note = e.result === undefined ? 'nothing to undo' : brief(e.result, 60);
      if (e.kind === 'task') this.#reverted.push(e.name);
    } else if (e.state === 'PENDING' || e.state === 'RUNNING' || e.state === 'REVERTING' || e.state === 'RETRYING') {
      row.note = '';
    }
    if (e.state === 'FAILURE' && !this.#governed.has(e.name)) this.#startRollback(`'${e.name}' failed`);
    const loud = e.state === 'FAILURE' || e.state === 'REVERT_FAILURE' || e.state === 'REVERTING' || e.state === 'REVERTED' || e.state === 'RETRYING';
    if (this.#mode === 'plain') {
      if (e.state === 'PENDING') return;
      const c = this.#counts();
      const tail = e.state === 'SUCCESS' ? `  [${c.done}/${c.total}]` : '';
      const line = `${this.#stamp()}  ${SYMBOL[e.state]} ${e.name.padEnd(this.#width)}  ${e.state.padEnd(9)}${row.note ? `  ${row.note}` : ''}${tail}`;
      this.#out.write(`${line.trimEnd()}\n`);
    } else if (loud) {
      this.log(`${this.#stamp()}  ${this.paint(COLOR[e.state], `${SYMBOL[e.state]} ${e.name.padEnd(this.#width)}  ${e.state.padEnd(9)}`)}${row.note ? `  ${row.note}` : ''}`);
    } else {
      this.#drawSoon();
    }
  }

  protected override onRetry(e: AtomEvent): void {
    this.onTask(e);
  }

  protected override onProgress(e: ProgressEvent): void {
    const row = this.#rows.get(e.name);
    if (row === undefined || row.state !== 'RUNNING') return;
    row.progress = e.progress;
    if (this.#mode === 'live') this.#drawSoon();
  }

  protected override onRetryDecision(e: RetryEvent): void {
    const wait = e.delayMs !== undefined && e.delayMs > 0 ? ` in ${formatMs(e.delayMs)}` : '';
    const what = e.decision === 'RETRY' ? `retrying${wait} (attempt ${e.attempt + 1})` : e.decision === 'REVERT' ? 'giving up: reverting its subflow' : 'giving up: reverting everything';
    this.log(`${this.#stamp()}  ${this.paint(COLOR.RETRYING, `↻ ${e.name}`)}: '${e.failedAtom}' failed on attempt ${e.attempt} (${describeFailure(e.failure)}); ${what}`);
    if (e.decision !== 'RETRY') this.#startRollback(`'${e.name}' gave up`);
  }

  // ---- the live block ---------------------------------------------------------------------------

  /** Redraws now if the last draw is 50 ms old, else leaves it to the ticker (big flows send many events). */
  #drawSoon(): void {
    this.#dirty = true;
    if (this.#now() - this.#drawnAt >= 50) this.#draw();
  }

  #clear(): void {
    if (this.#drawn > 0) this.#out.write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }

  #bar(fraction: number, width: number, code: string): string {
    const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
    return `${this.paint(code, '█'.repeat(filled))}${this.paint('2', '░'.repeat(width - filled))}`;
  }

  #line(row: AtomRow): string {
    const running = row.state === 'RUNNING' || row.state === 'REVERTING';
    const symbol = running ? SPINNER[this.#tick % SPINNER.length]! : SYMBOL[row.state];
    const ms = row.since !== undefined ? this.#now() - row.since : row.ms;
    const head = `  ${symbol} ${row.name.padEnd(this.#width)}  `;
    const time = formatMs(ms).padStart(7);
    const tail = row.state === 'RUNNING' ? `  ${this.#bar(row.progress, 10, '36')} ${String(Math.round(row.progress * 100)).padStart(3)}%` : row.note ? `  ${row.note}` : '';
    const cols = (this.#out.columns !== undefined && this.#out.columns > 20 ? this.#out.columns : 100) - 1;
    const room = cols - head.length - 9 - time.length - 2;
    const visibleTail = row.state === 'RUNNING' ? tail : tail.length > room ? `${tail.slice(0, Math.max(0, room - 1))}…` : tail;
    return `${head}${this.paint(COLOR[row.state], row.state.padEnd(9))}${ms === undefined ? '' : time}${visibleTail}`;
  }

  #draw(): void {
    if (this.#mode !== 'live' || !this.started) return;
    const rows = [...this.#rows.values()];
    const maxRows = Math.max(3, (this.#out.rows !== undefined && this.#out.rows > 0 ? this.#out.rows : 24) - 4);
    let shown = rows;
    if (rows.length > maxRows) {
      const busy = rows.filter((r) => r.state !== 'PENDING' && !DONE.has(r.state));
      const rest = busy.length >= maxRows - 1 ? [] : rows.filter((r) => r.state === 'PENDING' || DONE.has(r.state));
      shown = [...busy, ...rest].slice(0, maxRows - 1);
    }
    const lines = shown.map((r) => this.#line(r));
    if (shown.length < rows.length) lines.push(this.paint('2', `  … and ${rows.length - shown.length} more`));
    const c = this.#counts();
    const rollingBack = this.#rollingBack || this.#flowState === 'REVERTED';
    const fraction = rollingBack ? (c.touched === 0 ? 1 : c.reverted / c.touched) : c.fraction;
    const label = rollingBack ? `rolled back ${c.reverted}/${c.touched}` : `${c.done}/${c.total} done`;
    const elapsed = formatMs(this.#now() - this.#t0);
    lines.push(`  ${this.#bar(fraction, 30, rollingBack ? '33' : '32')} ${String(Math.round(fraction * 100)).padStart(3)}%  ${label}  ${this.#flowName} ${this.paint(COLOR[this.#flowState], this.#flowState)} ${this.paint('2', elapsed)}`);
    this.#clear();
    this.#out.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
    this.#drawnAt = this.#now();
    this.#dirty = false;
  }
}
