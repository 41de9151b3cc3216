export type { Between, Executor, Job, JobDescription, Completion, Post } from './executor.js';
export { runJob } from './executor.js';
export { SerialExecutor } from './serial.js';
export { ParallelExecutor } from './parallel.js';
export { WorkerExecutor } from './worker.js';
