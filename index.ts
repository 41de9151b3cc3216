/**
 * atomflow: transactional workflows (sagas) in the style of OpenStack TaskFlow.
 * The whole public surface in one place; see README.md.
 */
export {
  Atom,
  Task,
  task,
  Retry,
  History,
  Times,
  ForEach,
  ParameterizedForEach,
  AlwaysRevert,
  AlwaysRevertAll,
  Flow,
  isFlow,
  Failure,
  AtomflowError,
  MissingDependencies,
  DuplicateNameError,
  CycleError,
  AmbiguousDependency,
  InvariantViolation,
  NotFound,
  WrappedFailure,
  StorageFailure,
  InvalidStateTransition,
  EngineLocked,
  IncompatibleVersion,
  FlowClaimed,
  ClaimLost,
  InvalidSchedule,
  AtomTimeout,
  AtomState,
  FlowState,
  EngineState,
  Intention,
  Decision,
  Depth,
} from './lib/index.js';
export type {
  AtomOptions,
  AtomContext,
  RevertContext,
  ArgBinding,
  ProvidesSpec,
  TaskOptions,
  TaskSpec,
  TaskArgs,
  Attempt,
  BackoffOptions,
  RetryOptions,
  TimesOptions,
  ForEachOptions,
  ParameterizedForEachOptions,
  FlowItem,
  FlowOptions,
  Link,
  LinkMeta,
  Decider,
  PatternKind,
  FailureData,
  ErrorMatcher,
  ErrorCode,
  AtomKind,
  TerminalEngineState,
} from './lib/index.js';
export type { AtomEvent, FlowEvent, ProgressEvent, RetryEvent, EngineEvents, Listener } from './lib/events.js';
export { LinearFlow, UnorderedFlow, GraphFlow, type LinkOptions } from './patterns/index.js';
export {
  Registry,
  getRegistry,
  useNamespace,
  clearRegistry,
  currentNamespace,
  type RegisteredTask,
  type RegistryFunction,
  type RegistryTaskOptions,
  type RegistryDecoratorOptions,
  type RegistryFlowOptions,
  type RegistryRunOptions,
  type VisualizeOptions,
  type StaticMethodDecorator,
} from './patterns/index.js';
export {
  Engine,
  EngineStorage,
  load,
  run,
  resume,
  compile,
  systemClock,
  ManualClock,
  type RunOptions,
  type ResumeOptions,
  type ResumeError,
  type LoadOptions,
  type EngineKind,
  type Compilation,
  type CompiledAtom,
  type CompiledFlow,
  type Clock,
  drawGraph,
  type DrawOptions,
  type DrawFormat,
  type ExecutionGraph,
  type ExecNodeLabel,
  type ExecEdgeLabel,
  type ExecGraphLabel,
} from './engines/index.js';
export {
  MemoryBackend,
  SqliteBackend,
  openBackend,
  createLogBook,
  createFlowDetail,
  createAtomDetail,
  atomDetailToJSON,
  atomDetailFromJSON,
  flowDetailToJSON,
  flowDetailFromJSON,
  logBookToJSON,
  logBookFromJSON,
  type Backend,
  type FlowChange,
  type BackendLoadOptions,
  type FlowQuery,
  type PurgeOptions,
  type OpenBackendOptions,
  type SqliteBackendOptions,
  type Durability,
  type Locking,
  type LogBook,
  type FlowDetail,
  type AtomDetail,
  type AtomMeta,
  type ExecutionInfo,
  type StoredAttempt,
} from './persistence/index.js';
export {
  EngineListener,
  PrintingListener,
  LoggingListener,
  TimingListener,
  CapturingListener,
  type ListenableEngine,
  type PrintingListenerOptions,
  type LoggingListenerOptions,
  type TimingListenerOptions,
  type CapturingListenerOptions,
  type CapturedEvent,
  type AtomTiming,
  type TextSink,
  type LogFunction,
} from './engines/listeners/index.js';
export {
  schedule,
  Schedule,
  type ScheduleSpec,
  type ScheduleOptions,
  type ScheduleFactory,
  type ScheduleBoard,
  type ScheduleEvents,
  type ScheduleRunEvent,
  type SchedulePostEvent,
  type ScheduleErrorEvent,
  type CrontabFields,
  type OccurrenceDetails,
} from './jobs/schedule.js';

// ---- the registry's engines ----------------------------------------------------------------------
// Patterns may not import the engines, so the registry builds flows and this root module lends it
// `run` and the drawing; its run options gain every load() option here.
import { connectRegistryEngine } from './patterns/registry.js';
import { run as runFlow } from './engines/load.js';
import { compile as compileFlow } from './engines/compiler/compile.js';
import { drawGraph } from './engines/draw.js';
import type { LoadOptions as EngineLoadOptions } from './engines/options.js';
import type { RunOptions as EngineRunOptions } from './engines/engine.js';

declare module './patterns/registry.js' {
  interface RegistryRunOptions extends EngineLoadOptions, EngineRunOptions {}
}

connectRegistryEngine({
  run: (flow, options) => runFlow(flow, options as EngineLoadOptions & EngineRunOptions),
  draw: (flow, format) => drawGraph(compileFlow(flow).toGraph(), { format }),
});
