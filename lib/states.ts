/**
 * States, intentions, decisions and depths as `as const` objects with literal-union types,
 * and the transition tables as data (TaskFlow's `states.py`).
 */

export const AtomState = {
  PENDING: 'PENDING',
  RUNNING: 'RUNNING',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVERTING: 'REVERTING',
  REVERTED: 'REVERTED',
  REVERT_FAILURE: 'REVERT_FAILURE',
  RETRYING: 'RETRYING',
  IGNORE: 'IGNORE',
} as const;
export type AtomState = (typeof AtomState)[keyof typeof AtomState];

export const FlowState = {
  PENDING: 'PENDING',
  RUNNING: 'RUNNING',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVERTING: 'REVERTING',
  REVERTED: 'REVERTED',
  RESUMING: 'RESUMING',
  SUSPENDING: 'SUSPENDING',
  SUSPENDED: 'SUSPENDED',
} as const;
export type FlowState = (typeof FlowState)[keyof typeof FlowState];

/** The states `runIter()` yields. */
export const EngineState = {
  RESUMING: 'RESUMING',
  SCHEDULING: 'SCHEDULING',
  WAITING: 'WAITING',
  ANALYZING: 'ANALYZING',
  SUCCESS: 'SUCCESS',
  REVERTED: 'REVERTED',
  FAILURE: 'FAILURE',
  SUSPENDED: 'SUSPENDED',
} as const;
export type EngineState = (typeof EngineState)[keyof typeof EngineState];
export type TerminalEngineState = 'SUCCESS' | 'REVERTED' | 'FAILURE' | 'SUSPENDED';

/** What the runtime decided to do next with an atom (persisted, so resume continues the plan). */
export const Intention = {
  EXECUTE: 'EXECUTE',
  REVERT: 'REVERT',
  RETRY: 'RETRY',
  IGNORE: 'IGNORE',
} as const;
export type Intention = (typeof Intention)[keyof typeof Intention];

/** What a retry controller answers when an atom it governs fails. */
export const Decision = {
  RETRY: 'RETRY',
  REVERT: 'REVERT',
  REVERT_ALL: 'REVERT_ALL',
} as const;
export type Decision = (typeof Decision)[keyof typeof Decision];

/** How far a "no" from a graph link decider reaches. */
export const Depth = {
  ALL: 'ALL',
  FLOW: 'FLOW',
  NEIGHBORS: 'NEIGHBORS',
  ATOM: 'ATOM',
} as const;
export type Depth = (typeof Depth)[keyof typeof Depth];

export type AtomKind = 'task' | 'retry';

type Table<S extends string> = Readonly<Record<S, readonly S[]>>;

const TASK_TRANSITIONS: Table<AtomState> = {
  PENDING: ['RUNNING', 'IGNORE'],
  // RUNNING → REVERTING is not in TaskFlow's table (its resume schedules such an atom by its
  // intention directly): an execute cut short (crash, abort) in a run that has since turned to
  // reverting is reverted, since it may have done part of its work.
  RUNNING: ['SUCCESS', 'FAILURE', 'REVERTING'],
  SUCCESS: ['REVERTING'],
  FAILURE: ['REVERTING'],
  REVERTING: ['REVERTED', 'REVERT_FAILURE'],
  REVERTED: ['PENDING'],
  // Not in TaskFlow: running a FAILURE'd engine again retries its failed reverts.
  REVERT_FAILURE: ['REVERTING'],
  RETRYING: [],
  IGNORE: ['PENDING'],
};

const RETRY_TRANSITIONS: Table<AtomState> = {
  ...TASK_TRANSITIONS,
  SUCCESS: ['REVERTING', 'RETRYING'],
  RETRYING: ['RUNNING'],
};

function lookup(table: Table<AtomState>): Readonly<Record<string, Readonly<Record<string, true>>>> {
  return Object.fromEntries(Object.entries(table).map(([from, tos]) => [from, Object.fromEntries(tos.map((t) => [t, true as const]))]));
}
const TASK_LOOKUP = lookup(TASK_TRANSITIONS);
const RETRY_LOOKUP = lookup(RETRY_TRANSITIONS);

/**
 * Atom transitions: TaskFlow's table, plus the resets our engine performs itself
 * (`reset()` and a retry's subflow reset bring any settled state back to PENDING).
 */
export function atomTransitionAllowed(kind: AtomKind, from: AtomState, to: AtomState): boolean {
  if (from === to) return true;
  if (to === 'PENDING') return from !== 'RUNNING' && from !== 'REVERTING';
  return (kind === 'retry' ? RETRY_LOOKUP : TASK_LOOKUP)[from]?.[to] === true;
}

const FLOW_TRANSITIONS: Table<FlowState> = {
  PENDING: ['RUNNING'],
  RUNNING: ['SUCCESS', 'FAILURE', 'REVERTED', 'SUSPENDING', 'RESUMING'],
  SUCCESS: ['RUNNING', 'PENDING'],
  FAILURE: ['RUNNING', 'PENDING'],
  REVERTING: [],
  REVERTED: ['PENDING', 'RUNNING'],
  RESUMING: ['SUSPENDED'],
  SUSPENDING: ['SUSPENDED', 'SUCCESS', 'FAILURE', 'REVERTED', 'RESUMING'],
  SUSPENDED: ['RUNNING', 'PENDING'],
};

const QUIET_FLOW_SOURCES: readonly FlowState[] = ['PENDING', 'FAILURE', 'SUCCESS', 'SUSPENDED', 'REVERTED'];
const QUIET_FLOW_TARGETS: readonly FlowState[] = ['SUSPENDING', 'SUSPENDED', 'RESUMING'];

/** 'move' (a real change), 'ignore' (silently no change, as TaskFlow) or 'invalid'. */
export function flowTransition(from: FlowState, to: FlowState): 'move' | 'ignore' | 'invalid' {
  if (from === to) return 'ignore';
  if (QUIET_FLOW_SOURCES.includes(from) && QUIET_FLOW_TARGETS.includes(to)) return 'ignore';
  return FLOW_TRANSITIONS[from].includes(to) ? 'move' : 'invalid';
}

export function isDecision(value: unknown): value is Decision {
  return value === 'RETRY' || value === 'REVERT' || value === 'REVERT_ALL';
}

export function parseDepth(value: unknown): Depth {
  if (typeof value !== 'string') throw new TypeError(`decider depth must be a string, got ${typeof value}`);
  const upper = value.toUpperCase();
  if (upper === 'ALL' || upper === 'FLOW' || upper === 'NEIGHBORS' || upper === 'ATOM') return upper;
  throw new RangeError(`unexpected decider depth '${value}': one of ALL, FLOW, NEIGHBORS, ATOM is expected`);
}
