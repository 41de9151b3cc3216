/**
 * Runs a prepared engine with the live display (or TaskFlow-style printed lines), turns Ctrl-C
 * into `engine.suspend()`, and prints the summary with the commands to inspect or resume the run.
 * Shared by `demo`, `run` and `resume`.
 */
import type { Engine } from '../../engines/engine.js';
import { PrintingListener } from '../../engines/listeners/printing.js';
import type { FlowState } from '../../lib/states.js';
import { LiveDisplay } from '../display.js';
import { EXIT, brief, describeFailure, durations, formatMs, oneLine, widest, type Io } from './common.js';

export interface DriveOptions {
  readonly engine: Engine;
  readonly io: Io;
  /** Plain lines even on a terminal. */
  readonly plain?: boolean;
  /** TaskFlow's PrintingListener lines instead of the display. */
  readonly print?: boolean;
  /** Commands shown after the run (`inspect`, and `resume` when it can go on). */
  readonly hints?: { readonly inspect?: string; readonly resume?: string; readonly more?: readonly string[] };
  /** Called with the display once it is up (the demo prints through it). */
  readonly onDisplay?: (display: LiveDisplay) => void;
}

export interface DriveResult {
  readonly code: number;
  readonly state: FlowState;
  readonly display: LiveDisplay;
}

export function displayMode(io: Io, plain: boolean | undefined): { mode: 'live' | 'plain'; color: boolean } {
  const live = plain !== true && io.stdout.isTTY === true && io.env['TERM'] !== 'dumb';
  return { mode: live ? 'live' : 'plain', color: live && io.env['NO_COLOR'] === undefined };
}

export async function drive(o: DriveOptions): Promise<DriveResult> {
  const { engine, io } = o;
  const { mode, color } = displayMode(io, o.plain || o.print);
  const display = new LiveDisplay(engine, { out: o.print ? { write: () => true } : io.stdout, mode, color });
  const printer = o.print ? new PrintingListener(engine, { stream: io.stdout, stacks: false }).start() : undefined;
  display.start();
  o.onDisplay?.(display);

  let interrupts = 0;
  const onInt = (): void => {
    interrupts++;
    if (interrupts === 1) {
      display.log('Ctrl-C: suspending (in-flight atoms finish, nothing new starts); Ctrl-C again to quit now');
      engine.suspend();
    } else {
      display.stop();
      io.stderr.write('interrupted\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', onInt);
  const t0 = performance.now();
  let error: unknown;
  try {
    await engine.run();
  } catch (e) {
    error = e;
  } finally {
    process.off('SIGINT', onInt);
    display.stop();
    printer?.stop();
  }
  const elapsed = performance.now() - t0;
  const state = engine.storage.getFlowState() as FlowState;
  summary(o, display, state, elapsed, error);
  if (state === 'SUCCESS') return { code: EXIT.OK, state, display };
  if (state === 'SUSPENDED') return { code: EXIT.SUSPENDED, state, display };
  return { code: EXIT.FAILED, state, display };
}

function summary(o: DriveOptions, display: LiveDisplay, state: FlowState, elapsed: number, error: unknown): void {
  const { engine, io } = o;
  const out = (line = ''): void => void io.stdout.write(`${line}\n`);
  const paint = (code: string, s: string) => display.paint(code, s);
  const fd = engine.flowDetail;
  const colour = state === 'SUCCESS' ? '32' : state === 'SUSPENDED' ? '35' : state === 'REVERTED' ? '33' : '31';
  out();
  out(`${paint('1', fd.name)}: ${paint(colour, state)} in ${formatMs(elapsed)} (${engine.kind} engine)`);

  const width = widest(fd.atomDetails, (d) => d.name.length, 8);
  const rows = fd.atomDetails.map((d) => {
    const { executeMs, revertMs } = durations(d);
    const ranBy = d.meta.execution?.execute?.pid;
    const earlier = ranBy !== undefined && ranBy !== process.pid && d.state !== 'PENDING';
    const value = d.state === 'REVERTED' ? d.revertResults : d.state === 'SUCCESS' ? d.results : undefined;
    const failure = d.revertFailure ?? d.failure;
    const note = failure !== null && d.state !== 'SUCCESS' && d.state !== 'PENDING' ? describeFailure(failure) : d.kind === 'retry' ? '' : brief(value, 60);
    const time = d.state === 'REVERTED' || d.state === 'REVERT_FAILURE' ? `${formatMs(executeMs)} + ${formatMs(revertMs)} undo` : formatMs(executeMs);
    return { d, note, time, earlier };
  });
  const timeWidth = widest(rows, (r) => r.time.length);
  for (const { d, note, time, earlier } of rows) {
    const line = `  ${d.name.padEnd(width)}  ${d.state.padEnd(9)} ${time.padEnd(timeWidth)}  ${note}`.trimEnd();
    out(`${line}${earlier ? paint('2', '  (ran in an earlier process)') : ''}`);
  }

  if (state === 'REVERTED' || state === 'FAILURE') {
    const failures = engine.storage.getExecuteFailures();
    for (const [name, f] of Object.entries(failures)) out(`'${name}' failed: ${describeFailure(f)}`);
    const revertFailures = engine.storage.getRevertFailures();
    for (const [name, f] of Object.entries(revertFailures)) out(`'${name}' could not be reverted: ${describeFailure(f)}`);
    if (display.rollback.length > 0) out(`rolled back, most recent first: ${display.rollback.join(' → ')}`);
  } else if (state === 'SUCCESS') {
    const results = engine.storage.fetchAll();
    const inputs = (fd.meta['store'] ?? {}) as Record<string, unknown>;
    const names = Object.keys(results).filter((n) => !Object.hasOwn(inputs, n) || results[n] !== inputs[n]);
    if (names.length > 0) {
      out('results:');
      const w = widest(names, (n) => n.length);
      for (const n of names) out(`  ${n.padEnd(w)}  ${brief(results[n], 100)}`);
    }
  } else if (error !== undefined) {
    out(`the run stopped: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  }
  const hints = o.hints ?? {};
  const lines: string[] = [];
  if (hints.inspect) lines.push(`  inspect it:  ${hints.inspect}`);
  if (hints.resume && state !== 'SUCCESS' && state !== 'REVERTED') lines.push(`  resume it:   ${hints.resume}`);
  for (const m of hints.more ?? []) lines.push(`  ${m}`);
  if (lines.length > 0) {
    out(`flow ${fd.uuid}`);
    for (const l of lines) out(l);
  }
}
