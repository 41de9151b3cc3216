/**
 * The persisted model: LogBook ⊃ FlowDetail ⊃ AtomDetail (TaskFlow's `persistence/models.py`).
 * Every record is an immutable value (frozen), one record per atom, carrying a format version, and
 * round-trips through JSON (`toJSON`/`fromJSON` functions below). Updates make a new record.
 */
import { nanoid } from 'nanoid';
import { describeValue } from '../lib/describe.js';
import { AtomflowError, InvariantViolation, StorageFailure, WrappedFailure } from '../lib/errors.js';
import { Failure, type FailureData } from '../lib/failure.js';
import type { AtomKind, AtomState, FlowState, Intention } from '../lib/states.js';

export const MODEL_FORMAT = 1;

/** Ids: injectable for tests. */
export type IdGenerator = () => string;

/**
 * A new random id (nanoid: 21 url-safe characters, 126 random bits) for logbooks, flow details and
 * jobs (never starting with '-'). Atom details do not take one each: theirs derive from their flow detail's id (see the
 * engine's prepare step), which keeps random ids off the per-atom path.
 */
export const newId: IdGenerator = () => {
  const id = nanoid();
  // Never a leading '-': an id is typed on command lines, where it would read as an option.
  return id.charCodeAt(0) === 45 ? `_${id.slice(1)}` : id;
};

/**
 * Where and when one execute or revert ran (the TaPS `ExecutionInfo` idea). Times are epoch
 * milliseconds (fractional: `performance.timeOrigin + performance.now()`), in this order:
 *
 *   submittedAt ≤ startedAt ≤ argsStartedAt ≤ argsEndedAt ≤ taskStartedAt ≤ taskEndedAt
 *     ≤ resultStartedAt ≤ resultEndedAt ≤ endedAt ≤ receivedAt
 *
 * - submittedAt: the engine resolved the arguments and handed the job to its executor (the engine
 *   reads its clock once per stretch of synchronous work, so outcomes received and the jobs they
 *   make ready in one step carry the same time);
 * - startedAt / endedAt: the executor's hold of the job, where it runs (a thread, a worker);
 * - argsStartedAt..argsEndedAt: the arguments unpacked where it runs (deserialised on a thread or
 *   worker; in process they are passed as they are, so the phase is empty);
 * - taskStartedAt..taskEndedAt: the atom's own `execute`/`revert`, until its promise settled;
 * - resultStartedAt..resultEndedAt: the outcome packed to travel back (serialised on a thread or
 *   worker; empty in process);
 * - receivedAt: the engine took the outcome in.
 *
 * The record is written when the outcome is received (an atom in flight, or one a crash left
 * RUNNING, still shows the info of its previous run, if any). A time is null when that point was
 * never reached: a thread stopped by a timeout or an abort reports none of its own.
 * `parents` are the atoms whose results the atom was given as arguments.
 */
export interface ExecutionRecord {
  readonly hostname: string;
  readonly pid: number;
  /** The worker thread it ran on (`worker_threads.threadId`; 0 = the process's main thread). */
  readonly threadId: number;
  readonly submittedAt: number;
  readonly startedAt: number | null;
  readonly argsStartedAt: number | null;
  readonly argsEndedAt: number | null;
  readonly taskStartedAt: number | null;
  readonly taskEndedAt: number | null;
  readonly resultStartedAt: number | null;
  readonly resultEndedAt: number | null;
  readonly endedAt: number | null;
  readonly receivedAt: number | null;
  /** Whether it returned (false: it threw, timed out, or has no outcome yet). */
  readonly success: boolean;
  readonly parents: readonly string[];
}

/** An atom's latest execute and revert; `earlier` keeps the ones before a re-run (oldest first, at most EXECUTION_HISTORY). */
export interface ExecutionInfo {
  readonly execute?: ExecutionRecord | undefined;
  readonly revert?: ExecutionRecord | undefined;
  readonly earlier?: readonly ExecutionAttempt[] | undefined;
}

/** One earlier execute (and its revert) of an atom that ran again (a retry, a resume). */
export interface ExecutionAttempt {
  readonly execute?: ExecutionRecord | undefined;
  readonly revert?: ExecutionRecord | undefined;
}

/** How many earlier attempts `ExecutionInfo.earlier` keeps. */
export const EXECUTION_HISTORY = 20;

/** The one constructor of execution records (positional: one shape, for the hot path and for workers). */
export function executionRecord(
  hostname: string,
  pid: number,
  threadId: number,
  submittedAt: number,
  startedAt: number | null,
  argsStartedAt: number | null,
  argsEndedAt: number | null,
  taskStartedAt: number | null,
  taskEndedAt: number | null,
  resultStartedAt: number | null,
  resultEndedAt: number | null,
  endedAt: number | null,
  receivedAt: number | null,
  success: boolean,
  parents: readonly string[],
): ExecutionRecord {
  return {
    hostname,
    pid,
    threadId,
    submittedAt,
    startedAt,
    argsStartedAt,
    argsEndedAt,
    taskStartedAt,
    taskEndedAt,
    resultStartedAt,
    resultEndedAt,
    endedAt,
    receivedAt,
    success,
    parents,
  };
}

// Times may be null (not reached): the shape's fields are made tagged from the start, so a record
// of numbers shares the numbers' boxes instead of allocating one per field.
executionRecord('', 0, 0, 0, null, null, null, null, null, null, null, null, null, false, []);

/** The one constructor of execution info (positional, one shape). */
export function executionInfo(
  execute: ExecutionRecord | undefined,
  revert: ExecutionRecord | undefined,
  earlier: readonly ExecutionAttempt[] | undefined,
): ExecutionInfo {
  return { execute, revert, earlier };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function recordFromJSON(v: unknown): ExecutionRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const submittedAt = num(r.submittedAt);
  if (submittedAt === null) return undefined;
  return executionRecord(
    typeof r.hostname === 'string' ? r.hostname : '',
    num(r.pid) ?? 0,
    num(r.threadId) ?? 0,
    submittedAt,
    num(r.startedAt),
    num(r.argsStartedAt),
    num(r.argsEndedAt),
    num(r.taskStartedAt),
    num(r.taskEndedAt),
    num(r.resultStartedAt),
    num(r.resultEndedAt),
    num(r.endedAt),
    num(r.receivedAt),
    r.success === true,
    Array.isArray(r.parents) ? Object.freeze(r.parents.filter((p): p is string => typeof p === 'string')) : Object.freeze([]),
  );
}

/** A record in the old stored shape (one start/end per action): every phase spans the whole call. */
function legacyRecord(host: string, pid: number, start: unknown, end: unknown, success: boolean): ExecutionRecord | undefined {
  const s = num(start);
  if (s === null) return undefined;
  const e = num(end);
  return executionRecord(host, pid, 0, s, s, s, s, s, e, e, e, e, e, e !== null && success, Object.freeze([]));
}

/**
 * Reads stored execution info: the current shape, or the one before it (`executeStartedAt`,
 * `executeEndedAt`, `revertStartedAt`, `revertEndedAt` beside `hostname` and `pid`), which is
 * converted. Anything else reads as undefined.
 */
export function executionInfoFromJSON(v: unknown): ExecutionInfo | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const x = v as Record<string, unknown>;
  if ('executeStartedAt' in x || 'revertStartedAt' in x) {
    const host = typeof x.hostname === 'string' ? x.hostname : '';
    const pid = num(x.pid) ?? 0;
    return executionInfo(
      legacyRecord(host, pid, x.executeStartedAt, x.executeEndedAt, true),
      legacyRecord(host, pid, x.revertStartedAt, x.revertEndedAt, true),
      undefined,
    );
  }
  const earlier = Array.isArray(x.earlier)
    ? Object.freeze(
        x.earlier
          .filter((a): a is Record<string, unknown> => typeof a === 'object' && a !== null)
          .map((a) => Object.freeze({ execute: recordFromJSON(a.execute), revert: recordFromJSON(a.revert) })),
      )
    : undefined;
  return executionInfo(recordFromJSON(x.execute), recordFromJSON(x.revert), earlier);
}

/** Stored meta as the engine reads it: execution info in the current shape (see `executionInfoFromJSON`). */
export function metaFromJSON(meta: Record<string, unknown> | null | undefined): AtomMeta {
  if (meta === null || meta === undefined) return EMPTY_META;
  if (meta.execution === undefined) return Object.freeze(meta);
  return Object.freeze({ ...meta, execution: executionInfoFromJSON(meta.execution) });
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
    throw new InvariantViolation(`cannot read a ${kind} record of format ${describeValue(data.format)}; this version reads format ${MODEL_FORMAT}`, {
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
    results.map((a: { value: unknown; failures?: Record<string, FailureData> }) => {
      if (typeof a !== 'object' || a === null) throw new InvariantViolation(`a retry attempt must be an object, not ${describeValue(a)}`);
      const failures = a.failures ?? {};
      if (typeof failures !== 'object' || failures === null) throw new InvariantViolation(`a retry attempt's failures must be an object, not ${describeValue(failures)}`);
      return Object.freeze({
        value: a.value,
        failures: Object.freeze(Object.fromEntries(Object.entries(failures).map(([k, f]) => [k, Failure.fromJSON(f)]))),
      });
    }),
  );
}

// ---- reading stored records ----------------------------------------------------------------
// Every backend reads its rows through these, so one bad row is a StorageFailure naming its
// record (and its flow), never a raw TypeError, and never a silently misread state.

const ATOM_STATES: ReadonlySet<unknown> = new Set(['PENDING', 'RUNNING', 'SUCCESS', 'FAILURE', 'REVERTING', 'REVERTED', 'REVERT_FAILURE', 'RETRYING', 'IGNORE']);
const INTENTIONS: ReadonlySet<unknown> = new Set(['EXECUTE', 'REVERT', 'RETRY', 'IGNORE']);
const FLOW_STATES: ReadonlySet<unknown> = new Set(['PENDING', 'RUNNING', 'SUCCESS', 'FAILURE', 'REVERTING', 'REVERTED', 'RESUMING', 'SUSPENDING', 'SUSPENDED']);

export function isAtomState(value: unknown): value is AtomState {
  return ATOM_STATES.has(value);
}
export function isIntention(value: unknown): value is Intention {
  return INTENTIONS.has(value);
}
export function isFlowState(value: unknown): value is FlowState {
  return FLOW_STATES.has(value);
}

/** What is wrong with a stored atom's fixed fields, or undefined when nothing is. */
export function atomFieldsProblem(kind: unknown, state: unknown, intention: unknown, meta: unknown): string | undefined {
  if (kind !== 'task' && kind !== 'retry') return `unknown kind ${describeValue(kind)}`;
  if (!ATOM_STATES.has(state)) return `unknown state ${describeValue(state)}`;
  if (!INTENTIONS.has(intention)) return `unknown intention ${describeValue(intention)}`;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return `meta must be an object, not ${describeValue(meta)}`;
  return undefined;
}

/** Words naming a stored record: `atom detail 'a' ('uuid') of flow detail 'f'`. */
/**
 * What a finished run that did not succeed is answered with when its live error is gone (another
 * process ran it, or it is read back from the store): its revert failures when a revert failed,
 * else its execute failures.
 */
export function storedRunError(atoms: readonly AtomDetail[]): WrappedFailure {
  const reverts: Failure[] = [];
  const executes: Failure[] = [];
  for (const a of atoms) {
    if (a.revertFailure !== null) reverts.push(a.revertFailure);
    if (a.failure !== null) executes.push(a.failure);
  }
  return new WrappedFailure(reverts.length > 0 ? reverts : executes);
}

export function recordName(kind: 'logbook' | 'flow detail' | 'atom detail', name: unknown, uuid: unknown, flowUuid?: unknown): string {
  const n = typeof name === 'string' ? `'${name}'` : describeValue(name);
  const u = typeof uuid === 'string' ? ` ('${uuid}')` : '';
  const f = flowUuid === undefined ? '' : ` of flow detail '${typeof flowUuid === 'string' ? flowUuid : describeValue(flowUuid)}'`;
  return `${kind} ${n}${u}${f}`;
}

/**
 * Runs a stored record's reader; any error it raises (bad JSON, wrong format, unknown state,
 * malformed failure) becomes a `StorageFailure` naming the record. Backends wrap each row in this.
 */
export function readRecord<T>(record: () => string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw unreadable(record(), err);
  }
}

/** The `StorageFailure` for a stored record that cannot be read. */
export function unreadable(record: string, err: unknown): StorageFailure {
  if (err instanceof StorageFailure) return err;
  const why = err instanceof SyntaxError ? `its JSON is not valid (${err.message})` : err instanceof AtomflowError || err instanceof Error ? err.message : describeValue(err);
  return new StorageFailure(`stored ${record} cannot be read: ${why}`, { cause: err });
}

function checkAtomFields(data: { kind: unknown; state: unknown; intention: unknown; meta?: unknown }): void {
  const problem = atomFieldsProblem(data.kind, data.state, data.intention, data.meta ?? {});
  if (problem !== undefined) throw new InvariantViolation(problem);
}

function checkFlowFields(data: { state?: unknown; meta?: unknown }): void {
  if (data.state !== null && data.state !== undefined && !FLOW_STATES.has(data.state)) throw new InvariantViolation(`unknown state ${describeValue(data.state)}`);
  const meta = data.meta ?? {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new InvariantViolation(`meta must be an object, not ${describeValue(meta)}`);
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

/** An atom record from its JSON form; a record that cannot be read is a `StorageFailure` naming it. */
export function atomDetailFromJSON(data: AtomDetailJSON, flowUuid?: string): AtomDetail {
  return readRecord(() => recordName('atom detail', data?.name, data?.uuid, flowUuid), () => atomFromJSON(data));
}

function atomFromJSON(data: AtomDetailJSON): AtomDetail {
  if (typeof data !== 'object' || data === null) throw new InvariantViolation(`expected an object, not ${describeValue(data)}`);
  checkFormat('atom detail', data);
  checkAtomFields(data);
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
    metaFromJSON({ ...(data.meta ?? {}) }),
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

/** A flow record from its JSON form; a record that cannot be read is a `StorageFailure` naming it. */
export function flowDetailFromJSON(data: FlowDetailJSON): FlowDetail {
  return readRecord(() => recordName('flow detail', data?.name, data?.uuid), () => flowFromJSON(data));
}

function flowFromJSON(data: FlowDetailJSON): FlowDetail {
  if (typeof data !== 'object' || data === null) throw new InvariantViolation(`expected an object, not ${describeValue(data)}`);
  checkFormat('flow detail', data);
  checkFlowFields(data);
  return Object.freeze({
    format: data.format,
    uuid: data.uuid,
    name: data.name,
    state: data.state ?? null,
    meta: Object.freeze({ ...(data.meta ?? {}) }),
    createdAt: data.createdAt,
    updatedAt: data.updatedAt ?? null,
    atomDetails: Object.freeze((data.atomDetails ?? []).map((a) => atomDetailFromJSON(a, data.uuid))),
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

/** A book from its JSON form; a record that cannot be read is a `StorageFailure` naming it. */
export function logBookFromJSON(data: LogBookJSON): LogBook {
  return readRecord(() => recordName('logbook', data?.name, data?.uuid), () => bookFromJSON(data));
}

function bookFromJSON(data: LogBookJSON): LogBook {
  if (typeof data !== 'object' || data === null) throw new InvariantViolation(`expected an object, not ${describeValue(data)}`);
  checkFormat('logbook', data);
  checkFlowFields({ meta: data.meta });
  return Object.freeze({
    format: data.format,
    uuid: data.uuid,
    name: data.name,
    meta: Object.freeze({ ...(data.meta ?? {}) }),
    createdAt: data.createdAt,
    updatedAt: data.updatedAt ?? null,
    flowDetails: Object.freeze((data.flowDetails ?? []).map((f) => flowDetailFromJSON(f))),
  });
}

/** A retry detail's last attempt, or NotFound-style undefined. */
export function lastAttempt(d: AtomDetail): StoredAttempt | undefined {
  return Array.isArray(d.results) ? (d.results as StoredAttempt[]).at(-1) : undefined;
}

// ---- checking records handed to a backend ----------------------------------------------------
// Every backend checks what it is asked to store with these (cheap: a few typeof checks and set
// lookups per record), so a malformed record is an InvariantViolation naming what is wrong, never
// a raw TypeError from deep inside a backend, and never a row that cannot be read back.

function bad(what: string, why: string): never {
  throw new InvariantViolation(`${what}: ${why}`, { option: what.split(' ')[0] ?? what });
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An atom detail to store: the fields every backend relies on. */
export function checkAtom(a: unknown, what = 'atom detail'): asserts a is AtomDetail {
  if (!isPlainRecord(a)) bad(what, `must be an atom detail record, not ${describeValue(a)}`);
  if (typeof a.uuid !== 'string' || a.uuid === '') bad(what, `needs a string uuid, not ${describeValue(a.uuid)}`);
  if (typeof a.name !== 'string') bad(`${what} '${a.uuid}'`, `needs a string name, not ${describeValue(a.name)}`);
  const problem = atomFieldsProblem(a.kind, a.state, a.intention, a.meta);
  if (problem !== undefined) bad(`${what} '${a.name}'`, problem);
  if (typeof a.version !== 'string') bad(`${what} '${a.name}'`, `needs a string version, not ${describeValue(a.version)}`);
  if (a.failure !== null && !(a.failure instanceof Failure)) bad(`${what} '${a.name}'`, `failure must be a Failure or null, not ${describeValue(a.failure)}`);
  if (a.revertFailure !== null && !(a.revertFailure instanceof Failure)) bad(`${what} '${a.name}'`, `revertFailure must be a Failure or null, not ${describeValue(a.revertFailure)}`);
  if (typeof a.createdAt !== 'number') bad(`${what} '${a.name}'`, `needs a numeric createdAt, not ${describeValue(a.createdAt)}`);
}

export function checkAtoms(atoms: unknown): asserts atoms is readonly AtomDetail[] {
  if (!Array.isArray(atoms)) bad('atoms', `must be an array of atom details, not ${describeValue(atoms)}`);
  for (const a of atoms) checkAtom(a);
}

/** A flow detail to store (with `withAtoms`, its atom details too). */
export function checkFlow(f: unknown, withAtoms = true): asserts f is FlowDetail {
  if (!isPlainRecord(f)) bad('flow detail', `must be a flow detail record, not ${describeValue(f)}`);
  if (typeof f.uuid !== 'string' || f.uuid === '') bad('flow detail', `needs a string uuid, not ${describeValue(f.uuid)}`);
  if (typeof f.name !== 'string') bad(`flow detail '${f.uuid}'`, `needs a string name, not ${describeValue(f.name)}`);
  if (f.state !== null && !FLOW_STATES.has(f.state)) bad(`flow detail '${f.name}'`, `unknown state ${describeValue(f.state)}`);
  if (!isPlainRecord(f.meta)) bad(`flow detail '${f.name}'`, `meta must be an object, not ${describeValue(f.meta)}`);
  if (typeof f.createdAt !== 'number') bad(`flow detail '${f.name}'`, `needs a numeric createdAt, not ${describeValue(f.createdAt)}`);
  if (withAtoms) checkAtoms(f.atomDetails);
}

/** A logbook to store, with its flow details and their atom details. */
export function checkBook(b: unknown): asserts b is LogBook {
  if (!isPlainRecord(b)) bad('logbook', `must be a logbook record, not ${describeValue(b)}`);
  if (typeof b.uuid !== 'string' || b.uuid === '') bad('logbook', `needs a string uuid, not ${describeValue(b.uuid)}`);
  if (typeof b.name !== 'string') bad(`logbook '${b.uuid}'`, `needs a string name, not ${describeValue(b.name)}`);
  if (!isPlainRecord(b.meta)) bad(`logbook '${b.name}'`, `meta must be an object, not ${describeValue(b.meta)}`);
  if (typeof b.createdAt !== 'number') bad(`logbook '${b.name}'`, `needs a numeric createdAt, not ${describeValue(b.createdAt)}`);
  if (!Array.isArray(b.flowDetails)) bad(`logbook '${b.name}'`, `flowDetails must be an array, not ${describeValue(b.flowDetails)}`);
  for (const f of b.flowDetails) checkFlow(f);
}

/** A commit's change: the flow's own fields (its atom details are ignored) and atom details. */
export function checkChange(c: unknown): void {
  if (!isPlainRecord(c)) bad('change', `must be an object ({ flow?, atoms?, positions? }), not ${describeValue(c)}`);
  if (c.flow !== undefined) checkFlow(c.flow, false);
  if (c.atoms !== undefined) checkAtoms(c.atoms);
  if (c.positions !== undefined && !Array.isArray(c.positions)) bad('change', `positions must be an array, not ${describeValue(c.positions)}`);
}

/** A uuid argument of a backend call: a non-empty string (InvariantViolation naming `option` otherwise). */
export function checkUuid(uuid: unknown, option: string): asserts uuid is string {
  if (typeof uuid !== 'string' || uuid === '') throw new InvariantViolation(`${option} must be a non-empty string uuid, not ${describeValue(uuid)}`, { option });
}

/**
 * The commit hot path's check (memory backend): the change's shape and, per atom, what the backend
 * itself relies on (an object with a string uuid, a known state and intention). A few typeof and
 * set lookups; `checkChange` does the whole record check where a commit costs far more anyway.
 */
export function checkChangeFast(c: unknown): void {
  if (typeof c !== 'object' || c === null) bad('change', `must be an object ({ flow?, atoms?, positions? }), not ${describeValue(c)}`);
  const { flow, atoms } = c as { flow?: unknown; atoms?: unknown };
  if (flow !== undefined && (typeof flow !== 'object' || flow === null || typeof (flow as { uuid?: unknown }).uuid !== 'string')) checkFlow(flow, false);
  if (flow !== undefined && (flow as { state?: unknown }).state !== null && !FLOW_STATES.has((flow as { state?: unknown }).state)) checkFlow(flow, false);
  if (atoms === undefined) return;
  if (!Array.isArray(atoms)) bad('atoms', `must be an array of atom details, not ${describeValue(atoms)}`);
  for (let k = 0; k < atoms.length; k++) {
    const a = atoms[k] as { uuid?: unknown; state?: unknown; intention?: unknown } | null;
    if (typeof a !== 'object' || a === null || typeof a.uuid !== 'string' || !ATOM_STATES.has(a.state) || !INTENTIONS.has(a.intention)) checkAtom(a);
  }
}
