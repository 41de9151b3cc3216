/**
 * The transition messages shared by the printing and logging listeners, in TaskFlow's words:
 *
 *   <SerialEngine> has moved flow 'pf' (<uuid>) into state 'RUNNING' from state 'PENDING'
 *   <SerialEngine> has moved task 'prog' (<uuid>) into state 'SUCCESS' from state 'RUNNING' with result 'p' (failure=false)
 *
 * The "with result" suffix appears for SUCCESS, FAILURE, REVERTED and REVERT_FAILURE only.
 */
import type { AtomEvent, FlowEvent } from '../../lib/events.js';
import { describeValue } from '../../lib/describe.js';
import { Failure } from '../../lib/failure.js';
import type { ListenableEngine } from './base.js';

const FINISH_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVERTED', 'REVERT_FAILURE']);

/** A value as a message shows it: strings as they are, failures as `Failure: Type: message`, the rest as JSON. */
export function formatValue(value: unknown, maxLength = Infinity): string {
  let s: string;
  if (value instanceof Failure) s = value.toString();
  else if (typeof value === 'string') s = value;
  else if (value === undefined) s = 'undefined';
  else if (typeof value === 'bigint') s = `${value}n`;
  else if (typeof value === 'function') s = `[function ${value.name || 'anonymous'}]`;
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = describeValue(value, maxLength === Infinity ? 2000 : maxLength);
    }
  }
  return s.length > maxLength ? `${s.slice(0, Math.max(0, maxLength - 1))}…` : s;
}

/** `<SerialEngine>` / `<ParallelEngine>`, or `<Engine>` for an engine that does not say. */
export function enginePrefix(engine: ListenableEngine): string {
  const kind = engine.kind;
  if (typeof kind !== 'string' || kind.length === 0) return '<Engine>';
  return `<${kind[0]!.toUpperCase()}${kind.slice(1)}Engine>`;
}

export function flowMessage(prefix: string, e: FlowEvent): string {
  return `${prefix} has moved flow '${e.name}' (${e.flowUuid}) into state '${e.state}' from state '${e.previousState}'`;
}

/** The value an atom event reports: the failure for FAILURE/REVERT_FAILURE, else the result. */
export function eventValue(e: AtomEvent): unknown {
  return e.failure ?? e.result;
}

export function atomMessage(prefix: string, e: AtomEvent): string {
  const what = e.kind === 'retry' ? 'retry' : 'task';
  const base = `${prefix} has moved ${what} '${e.name}' (${e.atomUuid}) into state '${e.state}' from state '${e.previousState}'`;
  if (!FINISH_STATES.has(e.state)) return base;
  const failed = e.failure !== undefined;
  return `${base} with result '${formatValue(eventValue(e))}' (failure=${failed})`;
}

/** A failure's stack, indented, for printing under its message (empty when it has none). */
export function failureDetails(failure: Failure | undefined, indent = '    '): string {
  if (failure === undefined || failure.stack === '') return '';
  return failure.stack
    .split('\n')
    .map((line) => indent + line)
    .join('\n');
}
