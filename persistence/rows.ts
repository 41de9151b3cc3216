/**
 * The row codec shared by the SQL backends (SQLite, PostgreSQL): model record ⇄ column values.
 * No driver import here. JSON columns hold JSON text for a defined value and SQL NULL for
 * `undefined`, so a `null` result (`'null'`) and no result (NULL) stay apart; timestamps are
 * epoch milliseconds.
 */
import { InvariantViolation } from '../lib/errors.js';
import { Failure, type FailureData } from '../lib/failure.js';
import type { AtomKind, AtomState, FlowState, Intention } from '../lib/states.js';
import {
  atomFieldsProblem,
  atomRecord,
  checkFormat,
  readRecord,
  recordName,
  unreadable,
  flowDetailFromJSON,
  resultsFromJSON,
  logBookFromJSON,
  resultsToJSON,
  type AtomDetail,
  metaFromJSON,
  type FlowDetail,
  type LogBook,
} from './models.js';

export interface BookRow {
  uuid: string;
  format: number;
  name: string;
  meta: string;
  created_at: number;
  updated_at: number | null;
}

export interface FlowRow extends BookRow {
  parent_uuid: string;
  state: string | null;
}


export type Params = Array<string | number | null>;

/** JSON text for a defined value; refuses what JSON cannot hold (BigInt, cycles, functions). */
function toText(value: unknown, what: string, subject: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new InvariantViolation(`${subject}: ${what} cannot be stored as JSON: ${(err as Error).message}`, { subject, cause: err });
  }
  if (text === undefined) throw new InvariantViolation(`${subject}: ${what} cannot be stored as JSON (a ${typeof value})`, { subject });
  return text;
}

/** An atom field's JSON text (the error message naming the atom is made only when it fails). */
function atomText(value: unknown, what: string, atomName: string): string {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch {
    // toText below says what went wrong.
  }
  return toText(value, what, `atom '${atomName}'`);
}

function optText(value: unknown, what: string, atomName: string): string | null {
  return value === undefined ? null : atomText(value, what, atomName);
}

function parse(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

export function bookParams(b: LogBook): Params {
  return [b.uuid, b.format, b.name, toText(b.meta, 'meta', `logbook '${b.name}'`), b.createdAt, b.updatedAt];
}

export function flowParams(bookUuid: string, f: FlowDetail): Params {
  return [f.uuid, bookUuid, f.format, f.name, f.state, toText(f.meta, 'meta', `flow detail '${f.name}'`), f.createdAt, f.updatedAt];
}

/** For `SQL.updateFlow` (the commit path). */
export function flowUpdateParams(f: FlowDetail): Params {
  return [f.format, f.name, f.state, toText(f.meta, 'meta', `flow detail '${f.name}'`), f.updatedAt, f.uuid];
}

export function atomParams(flowUuid: string, a: AtomDetail): Params {
  return [
    a.uuid,
    flowUuid,
    a.format,
    a.name,
    a.kind,
    a.version,
    a.state,
    a.intention,
    optText(resultsToJSON(a.kind, a.results), 'results', a.name),
    a.failure === null ? null : atomText(a.failure.toJSON(), 'failure', a.name),
    optText(a.revertResults, 'revert results', a.name),
    a.revertFailure === null ? null : atomText(a.revertFailure.toJSON(), 'revert failure', a.name),
    atomText(a.meta, 'meta', a.name),
    a.createdAt,
    a.updatedAt,
  ];
}

/** The parameters of `SQL.updateAtom` made from `atomParams` (same values, the key last). */
const UPDATE_ORDER = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 0, 1] as const;
export function atomUpdateParams(p: Params): Params {
  const out: Params = new Array(UPDATE_ORDER.length);
  for (let k = 0; k < UPDATE_ORDER.length; k++) out[k] = p[UPDATE_ORDER[k]!] as Params[number];
  return out;
}

export function bookFromRow(r: BookRow): LogBook {
  return readRecord(() => recordName('logbook', r.name, r.uuid), () => logBookFromJSON({
    format: r.format,
    uuid: r.uuid,
    name: r.name,
    meta: JSON.parse(r.meta) as Record<string, unknown>,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    flowDetails: [],
  }));
}

export function flowFromRow(r: FlowRow): FlowDetail {
  return readRecord(() => recordName('flow detail', r.name, r.uuid), () => flowDetailFromJSON({
    format: r.format,
    uuid: r.uuid,
    name: r.name,
    state: r.state as FlowState | null,
    meta: JSON.parse(r.meta) as Record<string, unknown>,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    atomDetails: [],
  }));
}

/**
 * An atom record from a raw row (an array in ATOM_RAW_COLS order; a resume reads every atom of its
 * flow). A row that cannot be read is a `StorageFailure` naming the atom and its flow.
 */
export function atomFromRaw(r: readonly unknown[], flowUuid?: string): AtomDetail {
  try {
    return atomFromRawUnchecked(r);
  } catch (err) {
    throw unreadable(recordName('atom detail', r[2], r[0], flowUuid ?? r[ATOM_PARENT]), err);
  }
}

function atomFromRawUnchecked(r: readonly unknown[]): AtomDetail {
  checkFormat('atom detail', { format: r[1] });
  const kind = r[3] as AtomKind;
  const results = r[7] as string | null;
  const failure = r[8] as string | null;
  const revertResults = r[9] as string | null;
  const revertFailure = r[10] as string | null;
  const meta = JSON.parse(r[11] as string) as Record<string, unknown> | null;
  const problem = atomFieldsProblem(kind, r[5], r[6], meta ?? {});
  if (problem !== undefined) throw new InvariantViolation(problem);
  return atomRecord(
    r[0] as string,
    r[2] as string,
    kind,
    r[4] as string,
    r[5] as AtomState,
    r[6] as Intention,
    resultsFromJSON(kind, parse(results)),
    failure === null ? null : Failure.fromJSON(JSON.parse(failure) as FailureData),
    parse(revertResults),
    revertFailure === null ? null : Failure.fromJSON(JSON.parse(revertFailure) as FailureData),
    metaFromJSON(meta),
    r[12] as number,
    (r[13] as number | null) ?? null,
  );
}

/** Frozen copies of `book`/`flow` holding the given contents. */
export function withFlows(book: LogBook, flows: readonly FlowDetail[]): LogBook {
  return Object.freeze({ ...book, flowDetails: Object.freeze(flows) });
}
export function withAtoms(flow: FlowDetail, atoms: readonly AtomDetail[]): FlowDetail {
  return Object.freeze({ ...flow, atomDetails: Object.freeze(atoms) });
}

/** Where atom reads spanning several flows put the parent uuid (after `atomFromRaw`'s columns). */
export const ATOM_PARENT = 14;

/** Groups atom rows under their flows (flow order kept). With `withParent`, each flow comes with its book uuid. */
export function assemble(flows: FlowRow[], atoms: unknown[][]): FlowDetail[];
export function assemble(flows: FlowRow[], atoms: unknown[][], withParent: true): Array<{ parent: string; flow: FlowDetail }>;
export function assemble(flows: FlowRow[], atoms: unknown[][], withParent?: true): FlowDetail[] | Array<{ parent: string; flow: FlowDetail }> {
  const byFlow = new Map<string, AtomDetail[]>();
  for (const r of atoms) {
    const parent = r[ATOM_PARENT] as string;
    const list = byFlow.get(parent);
    if (list === undefined) byFlow.set(parent, [atomFromRaw(r)]);
    else list.push(atomFromRaw(r));
  }
  const out = flows.map((r) => ({ parent: r.parent_uuid, flow: withAtoms(flowFromRow(r), byFlow.get(r.uuid) ?? []) }));
  return withParent ? out : out.map((x) => x.flow);
}
