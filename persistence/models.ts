/**
 * The persisted model: LogBook ⊃ FlowDetail ⊃ AtomDetail (TaskFlow's `persistence/models.py`).
 * Every record is an immutable value (frozen), one record per atom, carrying a format version, and
 * round-trips through JSON (`toJSON`/`fromJSON` functions below). Updates make a new record.
 */
import { nanoid } from 'nanoid';
import { InvariantViolation } from '../lib/errors.js';
import { Failure, type FailureData } from '../lib/failure.js';
import type { AtomKind, AtomState, FlowState, Intention } from '../lib/states.js';

export const MODEL_FORMAT = 1;

/** Ids: injectable for tests. */
export type IdGenerator = () => string;

/**
 * A new random id (nanoid: 21 url-safe characters, 126 random bits) for logbooks, flow details and
 * jobs. Atom details do not take one each: theirs derive from their flow detail's id (see the
 * engine's prepare step), which keeps random ids off the per-atom path.
 */
export const newId: IdGenerator = () => nanoid();

/** Where and when an atom's execute / revert ran (the TaPS `ExecutionInfo` idea). */
export interface ExecutionInfo {
  readonly hostname?: string;
  readonly pid?: number;
  readonly executeStartedAt?: number;
  readonly executeEndedAt?: number;
  readonly revertStartedAt?: number;
  readonly revertEndedAt?: number;
}

/** An atom's meta: the engine's fields (present, maybe undefined, on records the engine wrote) and any others. */
export interface AtomMeta {
  readonly progress?: number | undefined;
  readonly progressDetails?: { readonly atProgress: number; readonly details: Readonly<Record<string, unknown>> } | null | undefined;
  readonly execution?: ExecutionInfo | undefined;
  /** Which run of the atom this is (absent: the first); see `AtomContext.attempt`. */
  readonly attempt?: number | undefined;
  /** When a retry waiting between attempts may run again (epoch ms). */
  readonly retryAt?: number | undefined;
  readonly [key: string]: unknown;
}

/** One attempt of a retry as stored: the value provided and that attempt's failures. */
export interface StoredAttempt {
  readonly value: unknown;
  readonly failures: Readonly<Record<string, Failure>>;
}

export interface AtomDetail {
  readonly format: number;
  readonly uuid: string;
  readonly name: string;
  readonly kind: AtomKind;
  /** The atom's version when this was stored. */
  readonly version: string;
  readonly state: AtomState;
  readonly intention: Intention;
  /** A task's execute result; a retry's history of attempts (`StoredAttempt[]`). */
  readonly results: unknown;
  readonly failure: Failure | null;
  readonly revertResults: unknown;
  readonly revertFailure: Failure | null;
  readonly meta: AtomMeta;
  readonly createdAt: number;
  readonly updatedAt: number | null;
}

export interface FlowDetail {
  readonly format: number;
  readonly uuid: string;
  readonly name: string;
  /** null until a run starts. */
  readonly state: FlowState | null;
  /** `store` holds the engine store; `factory` how to rebuild the flow; listeners add more. */
  readonly meta: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly updatedAt: number | null;
  readonly atomDetails: readonly AtomDetail[];
}

export interface LogBook {
  readonly format: number;
  readonly uuid: string;
  readonly name: string;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly updatedAt: number | null;
  readonly flowDetails: readonly FlowDetail[];
}

export function createAtomDetail(fields: {
  name: string;
  kind: AtomKind;
  version: string;
  uuid?: string;
  now?: number;
}): AtomDetail {
  return atomRecord(
    fields.uuid ?? newId(),
    fields.name,
    fields.kind,
    fields.version,
    'PENDING',
    'EXECUTE',
    fields.kind === 'retry' ? Object.freeze([]) : undefined,
    null,
    undefined,
    null,
    EMPTY_META,
    fields.now ?? Date.now(),
    null,
  );
}

const EMPTY_META: AtomMeta = Object.freeze({});

/** A new task record, PENDING (what `createAtomDetail` makes for a task, without the options object). */
export function pendingTask(uuid: string, name: string, version: string, now: number): AtomDetail {
  return atomRecord(uuid, name, 'task', version, 'PENDING', 'EXECUTE', undefined, null, undefined, null, EMPTY_META, now, null);
}

/**
 * The one constructor of atom records: every record has the same fields in the same order, so
 * the engine's hot path stays monomorphic. Records are immutable by contract (readonly types);
 * they are not frozen, because freezing them costs more than the rest of a step.
 */
export function atomRecord(
  uuid: string,
  name: string,
  kind: AtomKind,
  version: string,
  state: AtomState,
  intention: Intention,
  results: unknown,
  failure: Failure | null,
  revertResults: unknown,
  revertFailure: Failure | null,
  meta: AtomMeta,
  createdAt: number,
  updatedAt: number | null,
): AtomDetail {
  return { format: MODEL_FORMAT, uuid, name, kind, version, state, intention, results, failure, revertResults, revertFailure, meta, createdAt, updatedAt };
}

export function createFlowDetail(fields: { name: string; uuid?: string; meta?: Record<string, unknown>; now?: number }): FlowDetail {
  return Object.freeze({
    format: MODEL_FORMAT,
    uuid: fields.uuid ?? newId(),
    name: fields.name,
    state: null,
    meta: Object.freeze({ ...(fields.meta ?? {}) }),
    createdAt: fields.now ?? Date.now(),
    updatedAt: null,
    atomDetails: Object.freeze([]),
  });
}

export function createLogBook(fields: { name: string; uuid?: string; meta?: Record<string, unknown>; now?: number }): LogBook {
  return Object.freeze({
    format: MODEL_FORMAT,
    uuid: fields.uuid ?? newId(),
    name: fields.name,
    meta: Object.freeze({ ...(fields.meta ?? {}) }),
    createdAt: fields.now ?? Date.now(),
    updatedAt: null,
    flowDetails: Object.freeze([]),
  });
}

/** `d` with its state, intention, outcome fields and meta replaced (the engine's hot-path update). */
export function recordWith(
  d: AtomDetail,
  state: AtomState,
  intention: Intention,
  results: unknown,
  failure: Failure | null,
  revertResults: unknown,
  revertFailure: Failure | null,
  meta: AtomMeta,
): AtomDetail {
  return atomRecord(d.uuid, d.name, d.kind, d.version, state, intention, results, failure, revertResults, revertFailure, meta, d.createdAt, d.updatedAt);
}

export type AtomChanges = Partial<Omit<AtomDetail, 'format' | 'uuid' | 'name' | 'kind'>>;

/** A new atom record with `changes` applied (fields absent from `changes` are kept). */
export function updateAtom(d: AtomDetail, c: AtomChanges): AtomDetail {
  return atomRecord(
    d.uuid,
    d.name,
    d.kind,
    c.version ?? d.version,
    c.state ?? d.state,
    c.intention ?? d.intention,
    'results' in c ? c.results : d.results,
    c.failure !== undefined ? c.failure : d.failure,
    'revertResults' in c ? c.revertResults : d.revertResults,
    c.revertFailure !== undefined ? c.revertFailure : d.revertFailure,
    c.meta ?? d.meta,
    c.createdAt ?? d.createdAt,
    c.updatedAt !== undefined ? c.updatedAt : d.updatedAt,
  );
}

/**
 * A new meta object with `patch` applied to a copy (nested objects such as the execution info
 * included), frozen. Off the hot path (the engine builds its meta objects directly), so a deep
 * copy does: no copy-on-write library is needed for it.
 */
export function withMeta(meta: AtomMeta, patch: (draft: { -readonly [K in keyof AtomMeta]: AtomMeta[K] }) => void): AtomMeta {
  const draft = structuredClone(meta) as { -readonly [K in keyof AtomMeta]: AtomMeta[K] };
  patch(draft);
  return deepFreeze(draft);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function updateFlow(detail: FlowDetail, changes: Partial<Omit<FlowDetail, 'format' | 'uuid'>>): FlowDetail {
  return Object.freeze({ ...detail, ...changes });
}

export function updateBook(book: LogBook, changes: Partial<Omit<LogBook, 'format' | 'uuid'>>): LogBook {
  return Object.freeze({ ...book, ...changes });
}

/** Adds or replaces (by uuid) a flow detail in a book. */
export function bookWithFlow(book: LogBook, fd: FlowDetail, now = Date.now()): LogBook {
  const rest = book.flowDetails.filter((f) => f.uuid !== fd.uuid);
  return updateBook(book, { flowDetails: Object.freeze([...rest, fd]), updatedAt: now });
}

// ---- JSON ----------------------------------------------------------------------------------

export interface AtomDetailJSON {
  format: number;
  uuid: string;
  name: string;
  kind: AtomKind;
  version: string;
  state: AtomState;
  intention: Intention;
  results?: unknown;
  failure: FailureData | null;
  revertResults?: unknown;
  revertFailure: FailureData | null;
  meta: Record<string, unknown>;
  createdAt: number;
  updatedAt: number | null;
}

/** Refuses a stored record of another format than this version reads. */
export function checkFormat(kind: string, data: { format?: unknown }): void {
  if (data.format !== MODEL_FORMAT) {
    throw new InvariantViolation(`cannot read a ${kind} record of format ${String(data.format)}; this version reads format ${MODEL_FORMAT}`, {
      option: 'format',
    });
  }
}

export function resultsToJSON(kind: AtomKind, results: unknown): unknown {
  if (kind !== 'retry' || !Array.isArray(results)) return results;
  return (results as StoredAttempt[]).map((a) => ({
    value: a.value,
    failures: Object.fromEntries(Object.entries(a.failures).map(([k, f]) => [k, f.toJSON()])),
  }));
}

export function resultsFromJSON(kind: AtomKind, results: unknown): unknown {
  if (kind !== 'retry') return results;
  if (!Array.isArray(results)) return Object.freeze([]);
  return Object.freeze(
    results.map((a: { value: unknown; failures?: Record<string, FailureData> }) =>
      Object.freeze({
        value: a.value,
        failures: Object.freeze(Object.fromEntries(Object.entries(a.failures ?? {}).map(([k, f]) => [k, Failure.fromJSON(f)]))),
      }),
    ),
  );
}

export function atomDetailToJSON(d: AtomDetail): AtomDetailJSON {
  const out: AtomDetailJSON = {
    format: d.format,
    uuid: d.uuid,
    name: d.name,
    kind: d.kind,
    version: d.version,
    state: d.state,
    intention: d.intention,
    failure: d.failure ? d.failure.toJSON() : null,
    revertFailure: d.revertFailure ? d.revertFailure.toJSON() : null,
    meta: { ...d.meta },
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
  if (d.results !== undefined) out.results = resultsToJSON(d.kind, d.results);
  if (d.revertResults !== undefined) out.revertResults = d.revertResults;
  return out;
}

export function atomDetailFromJSON(data: AtomDetailJSON): AtomDetail {
  checkFormat('atom detail', data);
  return atomRecord(
    data.uuid,
    data.name,
    data.kind,
    data.version,
    data.state,
    data.intention,
    resultsFromJSON(data.kind, data.results),
    data.failure ? Failure.fromJSON(data.failure) : null,
    data.revertResults,
    data.revertFailure ? Failure.fromJSON(data.revertFailure) : null,
    Object.freeze({ ...(data.meta ?? {}) }),
    data.createdAt,
    data.updatedAt ?? null,
  );
}

export interface FlowDetailJSON {
  format: number;
  uuid: string;
  name: string;
  state: FlowState | null;
  meta: Record<string, unknown>;
  createdAt: number;
  updatedAt: number | null;
  atomDetails: AtomDetailJSON[];
}

export function flowDetailToJSON(fd: FlowDetail): FlowDetailJSON {
  return {
    format: fd.format,
    uuid: fd.uuid,
    name: fd.name,
    state: fd.state,
    meta: { ...fd.meta },
    createdAt: fd.createdAt,
    updatedAt: fd.updatedAt,
    atomDetails: fd.atomDetails.map(atomDetailToJSON),
  };
}

export function flowDetailFromJSON(data: FlowDetailJSON): FlowDetail {
  checkFormat('flow detail', data);
  return Object.freeze({
    format: data.format,
    uuid: data.uuid,
    name: data.name,
    state: data.state ?? null,
    meta: Object.freeze({ ...(data.meta ?? {}) }),
    createdAt: data.createdAt,
    updatedAt: data.updatedAt ?? null,
    atomDetails: Object.freeze((data.atomDetails ?? []).map(atomDetailFromJSON)),
  });
}

export interface LogBookJSON {
  format: number;
  uuid: string;
  name: string;
  meta: Record<string, unknown>;
  createdAt: number;
  updatedAt: number | null;
  flowDetails: FlowDetailJSON[];
}

export function logBookToJSON(b: LogBook): LogBookJSON {
  return {
    format: b.format,
    uuid: b.uuid,
    name: b.name,
    meta: { ...b.meta },
    createdAt: b.createdAt,
    updatedAt: b.updatedAt,
    flowDetails: b.flowDetails.map(flowDetailToJSON),
  };
}

export function logBookFromJSON(data: LogBookJSON): LogBook {
  checkFormat('logbook', data);
  return Object.freeze({
    format: data.format,
    uuid: data.uuid,
    name: data.name,
    meta: Object.freeze({ ...(data.meta ?? {}) }),
    createdAt: data.createdAt,
    updatedAt: data.updatedAt ?? null,
    flowDetails: Object.freeze((data.flowDetails ?? []).map(flowDetailFromJSON)),
  });
}

/** A retry detail's last attempt, or NotFound-style undefined. */
export function lastAttempt(d: AtomDetail): StoredAttempt | undefined {
  return Array.isArray(d.results) ? (d.results as StoredAttempt[]).at(-1) : undefined;
}
