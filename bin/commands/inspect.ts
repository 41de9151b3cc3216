/** `atomflow inspect <db>`: what a store holds — logbooks, flow details, atom details. */
import { NotFound, StorageFailure } from '../../lib/errors.js';
import { AtomState, FlowState } from '../../lib/states.js';
import type { Backend } from '../../persistence/backend.js';
import type { Failure } from '../../lib/failure.js';
import { resultsToJSON, type AtomDetail, type ExecutionInfo, type ExecutionRecord, type FlowDetail, type LogBook, type StoredAttempt } from '../../persistence/models.js';
import { EXIT, HELP, UsageError, widest, brief, describeFailure, durations, formatMs, input, oneLine, openStore, parseCommand, positionals, positiveInt, type Command, type Io } from './common.js';

const usage = `Usage: atomflow inspect <db> [options]

Shows the logbooks, flow details and atom details of a store: states, intentions, results,
failures and how long each execute and revert took.

Arguments:
  <db>                   a SQLite store (path), or a backend URI (sqlite:///abs/path.db)

Options:
  --flow <uuid>          only this flow detail
  --state <STATE,...>    only flows in these states (${Object.values(FlowState).join(', ')}, or NONE: never
                         run), found from the store's index without reading other flows' history
  --limit <n>            at most n flows (oldest first)
  --atom-state <STATE>   only atoms in this state (${Object.values(AtomState).join(', ')})
  --execution            under each atom, where and when its execute and revert ran: host, pid,
                         thread, the atoms it got results from, and each phase (queued, args,
                         task, result, back) in ms
  --json                 one JSON document: { store, logbooks: [{ ..., flows: [{ ..., atoms }] }] }
                         (each atom's 'execution' holds the full execution info)
  -h, --help             this help`;

const OPTIONS = {
  ...HELP,
  flow: { type: 'string' },
  state: { type: 'string' },
  limit: { type: 'string' },
  'atom-state': { type: 'string' },
  json: { type: 'boolean' },
  execution: { type: 'boolean' },
} as const;

export interface FailureView {
  readonly type: string;
  readonly types: readonly string[];
  readonly message: string;
  readonly stack: string;
  readonly cause?: FailureView;
}

export interface AtomView {
  readonly uuid: string;
  readonly name: string;
  readonly kind: string;
  readonly state: string;
  readonly intention: string;
  readonly version: string;
  readonly progress: number | null;
  readonly results: unknown;
  readonly failure: FailureView | null;
  readonly revertResults: unknown;
  readonly revertFailure: FailureView | null;
  readonly durationMs: number | null;
  readonly revertDurationMs: number | null;
  readonly startedAt: string | null;
  readonly host: string | null;
  readonly pid: number | null;
  /** Where and when its latest execute and revert ran (see ExecutionRecord), earlier attempts included. */
  readonly execution: ExecutionInfo | null;
}

export interface FlowView {
  readonly uuid: string;
  readonly name: string;
  readonly state: string | null;
  readonly createdAt: string;
  readonly updatedAt: string | null;
  readonly durationMs: number | null;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly atoms: AtomView[];
}

export interface BookView {
  readonly uuid: string;
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string | null;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly flows: FlowView[];
}

const iso = (ms: number | null | undefined): string | null => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

function failureView(f: Failure | null): FailureView | null {
  if (f === null) return null;
  const cause = f.cause === undefined ? undefined : failureView(f.cause);
  return { type: f.exceptionType, types: [...f.exceptionTypes], message: f.message, stack: f.stack, ...(cause ? { cause } : {}) };
}

function atomView(d: AtomDetail): AtomView {
  const { executeMs, revertMs } = durations(d);
  const x = d.meta.execution;
  return {
    uuid: d.uuid,
    name: d.name,
    kind: d.kind,
    state: d.state,
    intention: d.intention,
    version: d.version,
    progress: typeof d.meta.progress === 'number' ? d.meta.progress : null,
    results: d.results === undefined ? null : resultsToJSON(d.kind, d.results),
    failure: failureView(d.failure),
    revertResults: d.revertResults === undefined ? null : d.revertResults,
    revertFailure: failureView(d.revertFailure),
    durationMs: executeMs ?? null,
    revertDurationMs: revertMs ?? null,
    startedAt: iso(x?.execute?.startedAt ?? x?.execute?.submittedAt),
    host: x?.execute?.hostname ?? null,
    pid: x?.execute?.pid ?? null,
    execution: x ?? null,
  };
}

/** From the first start to the last end any atom recorded. */
function flowSpan(fd: FlowDetail): number | null {
  let first = Infinity;
  let last = -Infinity;
  for (const d of fd.atomDetails) {
    const x = d.meta.execution;
    for (const r of [x?.execute, x?.revert]) {
      if (r === undefined) continue;
      first = Math.min(first, r.startedAt ?? r.submittedAt);
      if (typeof r.endedAt === 'number') last = Math.max(last, r.endedAt);
    }
  }
  return last >= first ? last - first : null;
}

function flowView(fd: FlowDetail, atomState: string | undefined): FlowView {
  return {
    uuid: fd.uuid,
    name: fd.name,
    state: fd.state,
    createdAt: iso(fd.createdAt)!,
    updatedAt: iso(fd.updatedAt),
    durationMs: flowSpan(fd),
    meta: fd.meta,
    atoms: fd.atomDetails.filter((d) => atomState === undefined || d.state === atomState).map(atomView),
  };
}

function pickState(option: string, value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  const v = value.toUpperCase();
  if (!allowed.includes(v)) throw new UsageError(`--${option} must be one of ${allowed.join(', ')}, not '${value}'`);
  return v;
}

/** What a row shows after its columns. */
function note(d: AtomDetail): string {
  if (d.kind === 'retry') {
    const attempts = Array.isArray(d.results) ? (d.results as StoredAttempt[]) : [];
    const failed = attempts.flatMap((a) => Object.entries(a.failures).map(([n, f]) => `${n}: ${f.exceptionType}`));
    const head = attempts.length === 0 ? 'no attempts' : `${attempts.length} attempt${attempts.length === 1 ? '' : 's'}, last value ${brief(attempts.at(-1)!.value, 20)}`;
    return failed.length > 0 ? `${head}; failed: ${failed.join(', ')}` : head;
  }
  const parts: string[] = [];
  if (d.failure !== null) parts.push(`failed: ${describeFailure(d.failure)}`);
  else if (d.results !== undefined && d.state !== 'PENDING') parts.push(brief(d.results, 60));
  if (d.revertFailure !== null) parts.push(`revert failed: ${describeFailure(d.revertFailure)}`);
  else if (d.state === 'REVERTED') parts.push(`undone: ${d.revertResults === undefined ? '-' : brief(d.revertResults, 50)}`);
  return parts.join('; ');
}

const ms = (a: number | null, b: number | null): string => (a === null || b === null ? '-' : (b - a).toFixed(3));

/** One line about an execute or revert: where, from whom, and the phases (ms). */
export function describeRecord(action: string, r: ExecutionRecord): string {
  const where = `${r.hostname} pid ${r.pid}${r.threadId !== 0 ? ` thread ${r.threadId}` : ''}`;
  const from = r.parents.length > 0 ? ` from [${r.parents.join(', ')}]` : '';
  if (r.receivedAt === null) return `${action}: on ${where}${from}, submitted ${iso(r.submittedAt)}, no outcome received`;
  const phases = `queued ${ms(r.submittedAt, r.startedAt)}, args ${ms(r.argsStartedAt, r.argsEndedAt)}, task ${ms(r.taskStartedAt, r.taskEndedAt)}, result ${ms(r.resultStartedAt, r.resultEndedAt)}, back ${ms(r.endedAt, r.receivedAt)}`;
  return `${action}: ${r.success ? 'ok' : 'failed'} on ${where}${from}, started ${iso(r.startedAt)}; ${phases} ms`;
}

function printHuman(io: Io, label: string, books: ReadonlyArray<{ book: LogBook; flows: FlowDetail[] }>, atomState: string | undefined, execution: boolean): void {
  const out = (line = ''): void => void io.stdout.write(`${line}\n`);
  const flowCount = books.reduce((n, b) => n + b.flows.length, 0);
  out(`store ${label}: ${books.length} logbook${books.length === 1 ? '' : 's'}, ${flowCount} flow${flowCount === 1 ? '' : 's'}`);
  for (const { book, flows } of books) {
    out();
    out(`logbook '${book.name}' ${book.uuid}  created ${iso(book.createdAt)}`);
    for (const fd of flows) {
      const span = flowSpan(fd);
      out(`  flow '${fd.name}' ${fd.uuid}  ${fd.state ?? 'NONE (never run)'}${span === null ? '' : `  ${formatMs(span)}`}  updated ${iso(fd.updatedAt ?? fd.createdAt)}`);
      const atoms = fd.atomDetails.filter((d) => atomState === undefined || d.state === atomState);
      if (atoms.length === 0) {
        out(`    (no atoms${atomState ? ` in state ${atomState}` : ''})`);
        continue;
      }
      const w = widest(atoms, (d) => d.name.length, 4);
      out(`    ${'ATOM'.padEnd(w)}  KIND   STATE           INTENTION  EXECUTE   REVERT  RESULT / FAILURE`);
      for (const d of atoms) {
        const { executeMs, revertMs } = durations(d);
        out(`    ${d.name.padEnd(w)}  ${d.kind.padEnd(5)}  ${d.state.padEnd(14)}  ${d.intention.padEnd(9)}  ${formatMs(executeMs).padStart(7)}  ${formatMs(revertMs).padStart(7)}  ${note(d)}`);
        const x = d.meta.execution;
        if (execution && x !== undefined) {
          const pad = ' '.repeat(w + 6);
          for (const [k, a] of (x.earlier ?? []).entries()) {
            if (a.execute) out(`${pad}earlier #${k + 1} ${describeRecord('execute', a.execute)}`);
            if (a.revert) out(`${pad}earlier #${k + 1} ${describeRecord('revert', a.revert)}`);
          }
          if (x.execute) out(`${pad}${describeRecord('execute', x.execute)}`);
          if (x.revert) out(`${pad}${describeRecord('revert', x.revert)}`);
        }
      }
    }
  }
}

/**
 * The books and flows to show. With --flow or --state only those flows are read (found through
 * the backend's index), not the whole store's history.
 */
async function select(
  backend: Backend,
  wanted: string | undefined,
  states: readonly string[] | undefined,
  limit: number | undefined,
  problems: string[],
): Promise<Array<{ book: LogBook; flows: FlowDetail[] }>> {
  if (wanted === undefined && states === undefined) {
    let books: LogBook[];
    try {
      books = await backend.getLogBooks({ lazy: false });
    } catch (e) {
      // One unreadable record must not hide the rest of the store: read flow by flow.
      if (!(e instanceof StorageFailure)) throw e;
      return readEach(backend, limit, problems);
    }
    let left = limit ?? Infinity;
    return books.map((book) => {
      const flows = book.flowDetails.slice(0, Math.max(0, left));
      left -= flows.length;
      return { book, flows };
    });
  }
  let found: FlowDetail[];
  if (wanted !== undefined) {
    try {
      const one = await readable(() => backend.getFlowDetail(wanted, { lazy: true }), problems);
      found = one === undefined ? [] : [one];
    } catch (e) {
      if (e instanceof NotFound) return [];
      throw e;
    }
    if (states !== undefined && found.length > 0 && !states.includes(found[0]!.state ?? 'NONE')) found = [];
  } else {
    const asked = states!.map((s) => (s === 'NONE' ? 'PENDING' : s)) as FlowState[];
    // 'PENDING' also finds never-run flows (NONE); keep exactly what was asked for.
    found = (await backend.findFlows({ state: asked })).filter((f) => states!.includes(f.state ?? 'NONE'));
    if (limit !== undefined) found = found.slice(0, limit);
  }
  const byBook = new Map<string, { book: LogBook; flows: FlowDetail[] }>();
  for (const lazy of found) {
    const bookUuid = await backend.getBookUuidOfFlow(lazy.uuid);
    let entry = byBook.get(bookUuid);
    if (entry === undefined) {
      entry = { book: await backend.getLogBook(bookUuid, { lazy: true }), flows: [] };
      byBook.set(bookUuid, entry);
    }
    const full = await readable(() => backend.getFlowDetail(lazy.uuid), problems);
    if (full !== undefined) entry.flows.push(full);
  }
  return [...byBook.values()];
}

/** `fn()`, or undefined with its message noted when the record cannot be read (StorageFailure). */
async function readable<T>(fn: () => Promise<T>, problems: string[]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof StorageFailure)) throw e;
    problems.push(e.message);
    return undefined;
  }
}

/** Every book and flow that can be read, one flow at a time; what cannot is noted in `problems`. */
async function readEach(backend: Backend, limit: number | undefined, problems: string[]): Promise<Array<{ book: LogBook; flows: FlowDetail[] }>> {
  const out: Array<{ book: LogBook; flows: FlowDetail[] }> = [];
  let left = limit ?? Infinity;
  for (const book of await backend.getLogBooks({ lazy: true })) {
    const lazies = (await readable(() => backend.findFlows({ bookUuid: book.uuid }), problems)) ?? [];
    const flows: FlowDetail[] = [];
    for (const lazy of lazies) {
      if (left <= 0) break;
      const full = await readable(() => backend.getFlowDetail(lazy.uuid), problems);
      if (full !== undefined) {
        flows.push(full);
        left--;
      }
    }
    out.push({ book, flows });
  }
  return out;
}

async function run(args: string[], io: Io): Promise<number> {
  const { values, positionals: given } = parseCommand('inspect', args, OPTIONS);
  if (values.help) {
    io.stdout.write(`${usage}\n`);
    return EXIT.OK;
  }
  const [db] = positionals('inspect', given, ['db']);
  const states = values.state === undefined ? undefined : values.state.split(',').map((v) => pickState('state', v.trim(), [...Object.values(FlowState), 'NONE'])!);
  const limit = positiveInt('limit', values.limit);
  const atomState = pickState('atom-state', values['atom-state'], Object.values(AtomState));
  const { backend, label } = await openStore(db!, io, true);
  try {
    const wanted = values.flow;
    const problems: string[] = [];
    const selected = await input(() => select(backend, wanted, states, limit, problems));
    // Unreadable records are named on stderr (and make the exit code 1); the rest is shown.
    for (const p of problems) io.stderr.write(`atomflow inspect: cannot read: ${oneLine(p)}\n`);
    if (wanted !== undefined && selected.length === 0 && problems.length === 0) {
      throw new UsageError(`no flow '${wanted}' in ${label} ('atomflow inspect ${db}' lists them)`);
    }
    if (values.json) {
      const doc = {
        store: label,
        logbooks: selected.map(
          ({ book, flows }): BookView => ({
            uuid: book.uuid,
            name: book.name,
            createdAt: iso(book.createdAt)!,
            updatedAt: iso(book.updatedAt),
            meta: book.meta,
            flows: flows.map((f) => flowView(f, atomState)),
          }),
        ),
      };
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      printHuman(io, label, selected, atomState, values.execution === true);
    }
    return problems.length > 0 ? EXIT.FAILED : EXIT.OK;
  } finally {
    await backend.close();
  }
}

export const inspect: Command = { name: 'inspect', summary: 'show the logbooks, flows and atoms of a store (--json)', usage, run };
