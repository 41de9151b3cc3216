export { Atom, type AtomOptions, type InvokeOptions, type AtomContext, type RevertContext, type ArgBinding, type ProvidesSpec, type Redeliver } from './atom.js';
export { Task, task, importableOf, type TaskOptions, type TaskSpec, type TaskArgs, type ImportableAtom } from './task.js';
export {
  Retry,
  History,
  Times,
  ForEach,
  ParameterizedForEach,
  AlwaysRevert,
  AlwaysRevertAll,
  type Attempt,
  type BackoffOptions,
  type RetryOptions,
  type TimesOptions,
  type ForEachOptions,
  type ParameterizedForEachOptions,
} from './retry.js';
export { Flow, isFlow, type FlowItem, type FlowOptions, type Link, type LinkMeta, type Decider, type PatternKind } from './flow.js';
export { Failure, type FailureData, type ErrorMatcher } from './failure.js';
export {
  AtomflowError,
  MissingDependencies,
  DuplicateNameError,
  CycleError,
  AmbiguousDependency,
  InvariantViolation,
  UnstorableValue,
  NotFound,
  WrappedFailure,
  StorageFailure,
  StorageBusy,
  InvalidStateTransition,
  EngineLocked,
  IncompatibleVersion,
  FlowClaimed,
  ClaimLost,
  InvalidSchedule,
  AtomTimeout,
  AtomNotImportable,
  JobTrashed,
  WorkerLost,
  type ErrorCode,
} from './errors.js';
export { AtomState, FlowState, EngineState, Intention, Decision, Depth, type AtomKind, type TerminalEngineState } from './states.js';
