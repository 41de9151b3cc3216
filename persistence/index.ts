/** The persistence layer's public surface: the model records, the backend contract and its backends. */
export {
  MODEL_FORMAT,
  newId,
  createAtomDetail,
  createFlowDetail,
  createLogBook,
  updateAtom,
  atomRecord,
  withMeta,
  updateFlow,
  updateBook,
  bookWithFlow,
  resultsToJSON,
  resultsFromJSON,
  atomDetailToJSON,
  atomDetailFromJSON,
  flowDetailToJSON,
  flowDetailFromJSON,
  logBookToJSON,
  logBookFromJSON,
  lastAttempt,
  executionRecord,
  executionInfo,
  executionInfoFromJSON,
  EXECUTION_HISTORY,
} from './models.js';
export type {
  IdGenerator,
  ExecutionInfo,
  ExecutionRecord,
  ExecutionAttempt,
  AtomMeta,
  StoredAttempt,
  AtomDetail,
  AtomChanges,
  FlowDetail,
  LogBook,
  AtomDetailJSON,
  FlowDetailJSON,
  LogBookJSON,
} from './models.js';
export type { Backend, Claim, ClaimRequest, FlowChange, FlowQuery, PurgeOptions, LoadOptions as BackendLoadOptions } from './backend.js';
export { claimVerdict, defaultOwner, isPidAlive, type ClaimVerdict, type StoredHolder } from './ownership.js';
export { traceOf, type Trace, type TraceEvent } from './trace.js';
export { MemoryBackend } from './memory.js';
export { SqliteBackend } from './sqlite.js';
export { PostgresBackend, type PostgresBackendConfig } from './postgres.js';
export type { PostgresBackendOptions } from './postgres-options.js';
export type { Durability, Locking, SqliteBackendOptions } from './sqlite-options.js';
export { openBackend, type OpenBackendOptions } from './open.js';
export { openBoardStore } from './open-board.js';
export { JobState, JOB_STATES } from './board-store.js';
export type { BoardStore, JobRecord, JobClaim, ClaimInput, ClaimResult, JobEnd, JobQuery, JobOutcome, PostInput } from './board-store.js';
