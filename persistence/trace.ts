/**
 * Execution info as a Chrome trace (the Trace Event Format's JSON object form, which Perfetto and
 * chrome://tracing open): one process track per host and pid, one thread track per thread it ran
 * on, each execute and revert a complete ('X') slice, earlier attempts (retries, re-runs after a
 * resume) slices of their own. Slices that overlap on one thread (async atoms running together)
 * are spread over lanes, so every track holds properly nested slices.
 */
import type { ExecutionRecord, FlowDetail } from './models.js';

/** One trace event (the fields this writer uses; times in microseconds). */
export interface TraceEvent {
  readonly name: string;
  readonly ph: 'X' | 'M';
  readonly pid: number;
  readonly tid: number;
  readonly ts: number;
  readonly dur?: number;
  readonly cat?: string;
  readonly args?: Readonly<Record<string, unknown>>;
}

export interface Trace {
  readonly traceEvents: readonly TraceEvent[];
  readonly displayTimeUnit: 'ms';
  /** `epochStartMs`: the epoch time of ts 0; the flows traced. */
  readonly otherData: Readonly<Record<string, unknown>>;
}

interface Slice {
  readonly flow: FlowDetail;
  readonly atom: string;
  readonly atomUuid: string;
  readonly action: 'execute' | 'revert';
  /** 1-based; the latest attempt has the highest. */
  readonly attempt: number;
  readonly latest: boolean;
  readonly r: ExecutionRecord;
  readonly start: number;
  readonly end: number;
}

const span = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round3(b - a));
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The slices of every atom of the flows, earlier attempts included. */
function slicesOf(flows: readonly FlowDetail[]): Slice[] {
  const out: Slice[] = [];
  for (const flow of flows) {
    for (const d of flow.atomDetails) {
      const x = d.meta.execution;
      if (x === undefined) continue;
      const attempts = [...(x.earlier ?? []), { execute: x.execute, revert: x.revert }];
      attempts.forEach((a, k) => {
        for (const action of ['execute', 'revert'] as const) {
          const r = a[action];
          if (r === undefined) continue;
          const start = r.startedAt ?? r.submittedAt;
          const end = Math.max(start, r.endedAt ?? r.receivedAt ?? start);
          out.push({ flow, atom: d.name, atomUuid: d.uuid, action, attempt: k + 1, latest: k === attempts.length - 1, r, start, end });
        }
      });
    }
  }
  return out.sort((a, b) => a.start - b.start || b.end - a.end);
}

/** Builds the trace of the given flow details (all their atoms' execution info). */
export function traceOf(flows: readonly FlowDetail[]): Trace {
  const slices = slicesOf(flows);
  const origin = slices.reduce((m, s) => Math.min(m, s.r.submittedAt, s.start), Infinity);
  const events: TraceEvent[] = [];
  // Process tracks: the real pid unless another host used the same one.
  const pids = new Map<string, number>();
  const usedPids = new Set<number>();
  const pidOf = (host: string, pid: number): number => {
    const key = `${host}\u0000${pid}`;
    let p = pids.get(key);
    if (p === undefined) {
      p = usedPids.has(pid) ? 10_000_000 + pids.size : pid;
      usedPids.add(p);
      pids.set(key, p);
      events.push({ name: 'process_name', ph: 'M', pid: p, tid: 0, ts: 0, args: { name: `${host} pid ${pid}` } });
    }
    return p;
  };
  // Thread tracks: per process, one per (thread, lane); lanes keep overlapping slices apart.
  const lanes = new Map<string, number[]>();
  const tids = new Map<string, number>();
  const tidOf = (p: number, thread: number, lane: number): number => {
    const key = `${p}/${thread}/${lane}`;
    let t = tids.get(key);
    if (t === undefined) {
      t = lane === 0 ? thread : thread + lane * 1000;
      tids.set(key, t);
      const label = thread === 0 ? 'main thread' : `thread ${thread}`;
      events.push({ name: 'thread_name', ph: 'M', pid: p, tid: t, ts: 0, args: { name: lane === 0 ? label : `${label} (overlap ${lane})` } });
      events.push({ name: 'thread_sort_index', ph: 'M', pid: p, tid: t, ts: 0, args: { sort_index: thread * 100 + lane } });
    }
    return t;
  };
  for (const s of slices) {
    const r = s.r;
    const p = pidOf(r.hostname, r.pid);
    const key = `${p}/${r.threadId}`;
    let ends = lanes.get(key);
    if (ends === undefined) lanes.set(key, (ends = []));
    let lane = ends.findIndex((end) => end <= s.start);
    if (lane < 0) lane = ends.push(s.end) - 1;
    else ends[lane] = s.end;
    events.push({
      name: s.action === 'execute' ? s.atom : `${s.atom} (revert)`,
      cat: s.action,
      ph: 'X',
      pid: p,
      tid: tidOf(p, r.threadId, lane),
      ts: round3((s.start - origin) * 1000),
      dur: round3((s.end - s.start) * 1000),
      args: {
        flow: s.flow.name,
        flowUuid: s.flow.uuid,
        atomUuid: s.atomUuid,
        attempt: s.attempt,
        latest: s.latest,
        success: r.success,
        finished: r.receivedAt !== null,
        parents: r.parents,
        queuedMs: span(r.submittedAt, r.startedAt),
        argsMs: span(r.argsStartedAt, r.argsEndedAt),
        taskMs: span(r.taskStartedAt, r.taskEndedAt),
        resultMs: span(r.resultStartedAt, r.resultEndedAt),
        returnMs: span(r.endedAt, r.receivedAt),
        submittedAt: new Date(r.submittedAt).toISOString(),
      },
    });
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { epochStartMs: Number.isFinite(origin) ? origin : null, flows: flows.map((f) => ({ uuid: f.uuid, name: f.name, state: f.state })) },
  };
}
