/** Jobboards and conductors: post runs, claim and run them in any number of processes; schedules. */
export { JobBoard, openJobBoard, type PostOptions, type JobBoardOptions, type JobsQuery } from './board.js';
export { Job, type ResultOptions } from './job.js';
export { Conductor, type ConductorOptions, type ConductorEvents, type ConductorJobEvent, type ConductorEventKind, type FlowFactory } from './conductor.js';
export { JobState, JOB_STATES, type JobOutcome } from '../persistence/board-store.js';
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
} from './schedule.js';
