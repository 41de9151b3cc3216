/** Jobboards and conductors: post runs, claim and run them in any number of processes. */
export { JobBoard, openJobBoard, type PostOptions, type JobBoardOptions, type JobsQuery } from './board.js';
export { Job, type ResultOptions } from './job.js';
export { Conductor, type ConductorOptions, type ConductorEvents, type ConductorJobEvent, type ConductorEventKind, type FlowFactory } from './conductor.js';
export { JobState, JOB_STATES, type JobOutcome } from '../persistence/board-store.js';
