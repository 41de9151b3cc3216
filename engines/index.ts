export { Engine, type RunOptions } from './engine.js';
export { EngineStorage } from './storage-view.js';
export { load, run, resume, type ResumeOptions, type ResumeError } from './load.js';
export type { LoadOptions, EngineKind, ExecutorKind, WorkerOptions } from './options.js';
export { compile, type Compilation, type CompiledAtom, type CompiledFlow } from './compiler/compile.js';
export { systemClock, ManualClock, type Clock } from './runtime/clock.js';
export type { ExecutionGraph, ExecNodeLabel, ExecEdgeLabel, ExecGraphLabel } from './compiler/graph.js';
export { drawGraph, type DrawOptions, type DrawFormat } from './draw.js';
export { createWorker, type CreateWorkerOptions, type AtomflowWorker, type AtomSource } from './executors/worker-server.js';
