/**
 * The runtime's decisions, as functions of (compilation, current records): readiness, what a
 * failure means (ask the retry controllers, then say which intentions to rewrite), and which atoms
 * a decider's "no" ignores. They change nothing themselves; the machine applies what they return.
 */
import { describeValue } from '../../lib/describe.js';
import { InvariantViolation } from '../../lib/errors.js';
import type { Failure } from '../../lib/failure.js';
import type { History } from '../../lib/retry.js';
import { isDecision, type Decision, type Depth } from '../../lib/states.js';
import type { AtomDetail } from '../../persistence/models.js';
import type { Compilation } from '../compiler/compile.js';

export interface ReadView {
  readonly c: Compilation;
  detail(i: number): AtomDetail;
  /** Every atom behind `i` (all ancestors, not only direct predecessors) is SUCCESS/IGNORE with intention EXECUTE/IGNORE. */
  predsDone(i: number): boolean;
  /** Every atom after `i` (all descendants, through ignored atoms too) is PENDING/REVERTED/IGNORE. */
  succsFree(i: number): boolean;
}

export type Readiness = 'execute' | 'revert' | 'retry' | 'none';

/**
 * What atom `i` is ready for. `inflight` atoms are never ready; `rerevert` lets a revert that
 * failed in an earlier run be tried again.
 */
export function readiness(v: ReadView, i: number, inflight: boolean, rerevert: boolean): Readiness {
  if (inflight) return 'none';
  const d = v.detail(i);
  switch (d.intention) {
    case 'EXECUTE':
      if ((d.state === 'PENDING' || d.state === 'RUNNING' || d.state === 'RETRYING') && v.predsDone(i)) return 'execute';
      return 'none';
    case 'REVERT':
      // RUNNING (and not in flight): its execute was cut short by a crash or an abort; revert it.
      if (
        (d.state === 'SUCCESS' || d.state === 'FAILURE' || d.state === 'REVERTING' || d.state === 'RUNNING' || (d.state === 'REVERT_FAILURE' && rerevert)) &&
        v.succsFree(i)
      ) {
        return 'revert';
      }
      return 'none';
    case 'RETRY':
      if ((d.state === 'SUCCESS' || d.state === 'RETRYING') && v.succsFree(i)) return 'retry';
      return 'none';
    case 'IGNORE':
      return 'none';
    default: {
      const never: never = d.intention;
      return never;
    }
  }
}

// ---- failure resolution (TaskFlow's completer) -----------------------------------------------

export type Strategy =
  | { readonly kind: 'default' } // no retry governs: revert everything
  | { readonly kind: 'revertAll' }
  | { readonly kind: 'retry'; readonly retry: number }
  | { readonly kind: 'revert'; readonly retry: number };

export interface DecisionRecord {
  readonly retry: number;
  readonly decision: Decision;
  readonly attempt: number;
  readonly failedAtom: number;
  readonly failure: Failure;
}

export interface ResolveHooks {
  /** Records `failure` under `atomName` in the retry's last attempt and returns the new history. */
  recordFailure(retry: number, atomName: string, failure: Failure): History;
  /** Calls the retry's `onFailure` with its arguments. */
  ask(retry: number, history: History): unknown;
  readonly deferToParent: boolean;
}


/** Decides what the failure of atom `failed` means, asking retry controllers outward. */
export function resolveFailure(c: Compilation, failed: number, failure: Failure, hooks: ResolveHooks, log: DecisionRecord[] = []): Strategy {
  const retry = c.atoms[failed]!.retry;
  if (retry < 0) return { kind: 'default' };
  const history = hooks.recordFailure(retry, c.atoms[failed]!.name, failure);
  const decision = hooks.ask(retry, history);
  if (!isDecision(decision)) {
    const name = c.atoms[retry]!.name;
    throw new InvariantViolation(`retry '${name}' answered ${describeValue(decision)}; onFailure must return one of RETRY, REVERT, REVERT_ALL`, {
      subject: name,
      option: 'onFailure',
    });
  }
  log.push({ retry, decision, attempt: history.length, failedAtom: failed, failure });
  switch (decision) {
    case 'RETRY':
      return { kind: 'retry', retry };
    case 'REVERT_ALL':
      return { kind: 'revertAll' };
    case 'REVERT': {
      const parent = resolveFailure(c, retry, failure, hooks, log);
      if (hooks.deferToParent) return parent;
      if (parent.kind !== 'default' && parent.kind !== 'revert') return parent;
      return { kind: 'revert', retry };
    }
    default: {
      const never: never = decision;
      return never;
    }
  }
}

/** The intention rewrites a strategy asks for: `[atom, intention]` pairs. */
export function intentionsFor(strategy: Strategy, v: ReadView, downstream: (i: number) => number[]): Array<[number, 'REVERT' | 'RETRY']> {
  switch (strategy.kind) {
    case 'default':
    case 'revertAll':
      return v.c.atoms.map((a) => [a.index, 'REVERT']);
    case 'revert':
      return [strategy.retry, ...downstream(strategy.retry)].map((i) => [i, 'REVERT']);
    case 'retry': {
      const out: Array<[number, 'REVERT' | 'RETRY']> = downstream(strategy.retry).map((i) => [i, 'REVERT']);
      // An atom already headed for REVERT is never switched to RETRY (TaskFlow 5.9.1's fix).
      if (v.detail(strategy.retry).intention !== 'REVERT') out.push([strategy.retry, 'RETRY']);
      return out;
    }
    default: {
      const never: never = strategy;
      return never;
    }
  }
}

// ---- deciders ---------------------------------------------------------------------------------

const DEPTH_RANK: Readonly<Record<Depth, number>> = { ATOM: 0, NEIGHBORS: 1, FLOW: 2, ALL: 3 };

/** Asks the deciders on links into `target`; returns the widest depth of a "no", or undefined to run. */
export function decide(v: ReadView, target: number, result: (i: number) => unknown): Depth | undefined {
  const edges = v.c.deciders.get(target);
  if (!edges || edges.length === 0) return undefined;
  const history: Record<string, unknown> = {};
  for (const e of edges) for (const s of e.sources) if (v.detail(s).state !== 'IGNORE') history[v.c.atoms[s]!.name] = result(s);
  let widest: Depth | undefined;
  for (const e of edges) {
    if (e.sources.every((s) => v.detail(s).state === 'IGNORE')) continue;
    if (!e.decider(Object.freeze({ ...history }))) {
      if (widest === undefined || DEPTH_RANK[e.depth] > DEPTH_RANK[widest]) widest = e.depth;
    }
  }
  return widest;
}

/** The atoms a "no" at `depth` on `target` ignores (target first). */
export function ignoredBy(c: Compilation, target: number, depth: Depth): number[] {
  const n = c.atoms.length;
  const flow = c.atoms[target]!.flow;
  const out = [target];
  if (depth === 'ATOM') return out;
  const seen = new Uint8Array(c.graph.nodeCount);
  seen[target] = 1;
  const stack = [target];
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (let k = c.graph.succStart[v]!; k < c.graph.succStart[v + 1]!; k++) {
      const s = c.graph.succList[k]!;
      if (seen[s]) continue;
      seen[s] = 1;
      if (s >= n) {
        stack.push(s); // barriers pass through
        continue;
      }
      const sameFlow = c.atoms[s]!.flow === flow;
      if (depth === 'ALL' || sameFlow) out.push(s);
      if (depth === 'ALL' || (depth === 'FLOW' && sameFlow)) stack.push(s);
    }
  }
  return out;
}
