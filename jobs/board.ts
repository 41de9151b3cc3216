/**
 * The jobboard (TaskFlow's jobboards): posted runs that conductors in any number of processes
 * claim and run. It lives in the same store as the runs (`board.backend`), so that a post
 * stores the LogBook, the FlowDetail and the job in one transaction, and a claim raises the
 * flow's fence in the same step: the run's commits are fenced by the job's claim.
 */
import createDebug from 'debug';
import { InvariantViolation, NotFound } from '../lib/errors.js';
import type { Backend } from '../persistence/backend.js';
import { JOB_STATES, type BoardStore, type JobQuery, type JobRecord, type JobState } from '../persistence/board-store.js';
import { sleep } from '../persistence/board-store.js';
import { createFlowDetail, createLogBook, newId, type FlowDetail } from '../persistence/models.js';
import { openBoardStore } from '../persistence/open-board.js';
import { Job, type JobSource, type LocalOutcome } from './job.js';
import { checkInt, checkKeys, checkName, checkRecord, isRecord } from './validate.js';

const log = createDebug('atomflow:board');

export interface PostOptions {
  /** Initial values of the run (the engine `store`), persisted with it. */
  store?: Readonly<Record<string, unknown>>;
  /** What the conductor's factory receives (also kept in the FlowDetail's meta). */
  details?: Readonly<Record<string, unknown>>;
  /** Higher is claimed first (default 0); equal priorities in post order. */
  priority?: number;
  /** An idempotency key: posting a key that was already posted returns that job (nothing new is stored). */
  key?: string;
}

export interface JobBoardOptions {
  /** A job claimed this many times without completing is trashed at its next claim (default 5). */
  maxAttempts?: number;
}

export interface JobsQuery {
  state?: JobState | readonly JobState[];
  name?: string;
  limit?: number;
}

const POST_KEYS = ['store', 'details', 'priority', 'key'] as const;

/** The internal side conductors use (not exported from the package). */
export interface BoardInternals {
  readonly store: BoardStore;
  settle(uuid: string, outcome: LocalOutcome): void;
  job(record: JobRecord): Job;
}
const internals = new WeakMap<JobBoard, BoardInternals>();
export function boardInternals(board: JobBoard): BoardInternals {
  const i = internals.get(board);
  if (i === undefined) throw new InvariantViolation('not a jobboard (see openJobBoard())', { option: 'board' });
  return i;
}

/** How many finished runs' outcomes a process keeps for `job.result()` with the original error. */
const LOCAL_OUTCOMES = 1000;

export class JobBoard {
  readonly uri: string;
  readonly maxAttempts: number;
  /** The runs' backend, on the same store. */
  readonly backend: Backend;
  readonly #store: BoardStore;
  readonly #local = new Map<string, LocalOutcome>();
  readonly #settled = new EventTarget();
  readonly #source: JobSource;
  #closed = false;

  constructor(uri: string, store: BoardStore, options: { maxAttempts: number }) {
    this.uri = uri;
    this.#store = store;
    this.backend = store.backend;
    this.maxAttempts = options.maxAttempts;
    this.#source = {
      read: async (uuid) => {
        const r = await this.#store.get(uuid);
        if (r === undefined) throw new NotFound(`job '${uuid}' not found`, uuid);
        return r;
      },
      flowDetail: (flowUuid) => this.backend.getFlowDetail(flowUuid),
      localOutcome: (uuid) => this.#local.get(uuid),
      waitLocal: (ms, signal) => {
        const local = new AbortController();
        const wake = (): void => local.abort();
        this.#settled.addEventListener('settled', wake, { once: true });
        signal?.addEventListener('abort', wake, { once: true });
        return sleep(ms, local.signal).finally(() => {
          this.#settled.removeEventListener('settled', wake);
          signal?.removeEventListener('abort', wake);
        });
      },
    };
    internals.set(this, {
      store,
      settle: (uuid, outcome) => {
        this.#local.set(uuid, outcome);
        if (this.#local.size > LOCAL_OUTCOMES) this.#local.delete(this.#local.keys().next().value!);
        this.#settled.dispatchEvent(new Event('settled'));
      },
      job: (record) => new Job(record, this.#source),
    });
  }

  /**
   * Posts a run: its LogBook, FlowDetail (holding `store` and `details`) and the job, in one
   * transaction. Bad input is refused with `InvariantViolation` before anything is stored.
   */
  async post(name: string, options: PostOptions = {}): Promise<Job> {
    const where = 'board.post()';
    checkName(name, 'name', where);
    if (!isRecord(options)) throw new InvariantViolation(`${where}: options must be an object`, { option: 'options' });
    checkKeys(options, POST_KEYS, where);
    const store = checkRecord(options.store, 'store', where);
    const details = checkRecord(options.details, 'details', where);
    const priority = checkInt(options.priority, 'priority', where, Number.MIN_SAFE_INTEGER, 0);
    const key = options.key === undefined ? null : checkName(options.key, 'key', where);
    this.#check('post');
    const now = Date.now();
    const uuid = newId();
    const flow: FlowDetail = createFlowDetail({ name, now, meta: { store, details, job: { uuid, name } } });
    const book = createLogBook({ name, now, meta: { job: uuid } });
    const { job, created } = await this.#store.post({ uuid, name, key, details, priority, book, flow, now });
    log(created ? 'posted %s (%s)' : 'key %s already posted as %s', created ? name : key, job.uuid);
    return new Job(job, this.#source);
  }

  /** Jobs, highest priority first, then in post order. */
  async jobs(query: JobsQuery = {}): Promise<Job[]> {
    const where = 'board.jobs()';
    if (!isRecord(query)) throw new InvariantViolation(`${where}: the query must be an object`, { option: 'query' });
    checkKeys(query, ['state', 'name', 'limit'], where);
    const states = query.state === undefined ? undefined : typeof query.state === 'string' ? [query.state] : query.state;
    if (states !== undefined) {
      if (!Array.isArray(states)) throw new InvariantViolation(`${where}: 'state' must be a job state or a list of them`, { option: 'state' });
      for (const s of states) {
        if (!JOB_STATES.includes(s)) throw new InvariantViolation(`${where}: unknown job state ${JSON.stringify(s)} (${JOB_STATES.join(', ')})`, { option: 'state' });
      }
    }
    const q: { -readonly [K in keyof JobQuery]: JobQuery[K] } = {};
    if (states !== undefined) q.state = states;
    if (query.name !== undefined) q.name = checkName(query.name, 'name', where);
    if (query.limit !== undefined) q.limit = checkInt(query.limit, 'limit', where, 1, 0);
    this.#check('list jobs');
    return (await this.#store.list(q)).map((r) => new Job(r, this.#source));
  }

  /** One job by uuid (NotFound when unknown). */
  async job(uuid: string): Promise<Job> {
    checkName(uuid, 'uuid', 'board.job()');
    this.#check('read a job');
    return new Job(await this.#source.read(uuid), this.#source);
  }

  /** Closes the store (and the runs' backend it holds). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#settled.dispatchEvent(new Event('settled'));
    await this.#store.close();
  }

  #check(what: string): void {
    if (this.#closed) throw new InvariantViolation(`cannot ${what}: the jobboard '${this.uri}' is closed`, { option: 'board' });
  }
}

/**
 * Opens a jobboard in the store at `uri` (the same URIs as `openBackend`: `sqlite:///…`,
 * `postgres://…?schema=…`); its runs live in `board.backend`.
 */
export async function openJobBoard(uri: string, options: JobBoardOptions = {}): Promise<JobBoard> {
  if (!isRecord(options)) throw new InvariantViolation('openJobBoard() options must be an object', { option: 'options' });
  checkKeys(options, ['maxAttempts'], 'openJobBoard()');
  const maxAttempts = checkInt(options.maxAttempts, 'maxAttempts', 'openJobBoard()', 1, 5);
  const store = await openBoardStore(uri);
  return new JobBoard(uri, store, { maxAttempts });
}
