/**
 * Prepare: match the compiled atoms with their stored details (by name) or create new ones, and
 * make sure the LogBook and FlowDetail are stored. A fresh run is built without I/O (so `load()`
 * can stay synchronous); continuing a stored run reads it from the backend.
 */
import createDebug from 'debug';
import { IncompatibleVersion, NotFound } from '../lib/errors.js';
import type { Backend } from '../persistence/backend.js';
import {
  bookWithFlow,
  createAtomDetail,
  createFlowDetail,
  createLogBook,
  pendingTask,
  updateFlow,
  type AtomDetail,
  type FlowDetail,
  type IdGenerator,
  type LogBook,
} from '../persistence/models.js';
import type { Compilation } from './compiler/compile.js';
import { RULES_KEY, rulesFor, storedRules, type FailureRules } from './options.js';
import { Storage } from './runtime/storage.js';

const log = createDebug('atomflow:storage');

/**
 * PENDING details for every atom. Their ids are derived from the flow detail's (`<flow uuid>.<index>`),
 * so a 100,000-atom run makes no random ids; unique because flow uuids are, and the index is a
 * number (a `.` in a flow uuid cannot make two of them meet). Given an `ids` generator, it is used.
 */
function freshDetails(c: Compilation, flowUuid: string, ids: IdGenerator | undefined): AtomDetail[] {
  const now = Date.now();
  const prefix = `${flowUuid}.`;
  const out: AtomDetail[] = new Array(c.atoms.length);
  for (let i = 0; i < out.length; i++) {
    const a = c.atoms[i]!;
    const uuid = ids === undefined ? prefix + i : ids();
    out[i] = a.kind === 'task' ? pendingTask(uuid, a.name, a.atom.version, now) : createAtomDetail({ name: a.name, kind: a.kind, version: a.atom.version, now, uuid });
  }
  return out;
}

export interface FreshRun {
  readonly storage: Storage;
  /** Whether the book itself must be created (not just the flow detail added to it). */
  readonly bookUuid: string;
}

/** A new run: a FlowDetail (in the given or a new LogBook) with every atom PENDING. */
export function freshStorage(
  c: Compilation,
  backend: Backend,
  fields: {
    book: LogBook | string | undefined;
    store: Readonly<Record<string, unknown>> | undefined;
    meta: Readonly<Record<string, unknown>>;
    ids: IdGenerator | undefined;
    rules: FailureRules;
    flowUuid: string | undefined;
  },
): Storage {
  const idOpt = fields.ids ? { uuid: fields.ids() } : {};
  const book =
    typeof fields.book === 'object'
      ? fields.book
      : createLogBook({ name: c.rootName, ...(typeof fields.book === 'string' ? { uuid: fields.book } : idOpt) });
  const flow = createFlowDetail({
    name: c.rootName,
    meta: { ...fields.meta, store: { ...(fields.store ?? {}) }, [RULES_KEY]: { ...fields.rules } },
    ...(fields.flowUuid !== undefined ? { uuid: fields.flowUuid } : fields.ids ? { uuid: fields.ids() } : {}),
  });
  return new Storage(c, backend, book, flow, freshDetails(c, flow.uuid, fields.ids));
}

/** Stores the run's LogBook, FlowDetail and atom details (merging with what is stored). */
export async function persistFresh(storage: Storage): Promise<void> {
  const fd = updateFlow(storage.flow, { atomDetails: Object.freeze([...storage.details]) });
  storage.book = bookWithFlow(storage.book, fd);
  await storage.backend.saveLogBook(storage.book);
}

/** Continues a stored run: its details matched to the compiled atoms by name. */
export async function storedStorage(
  c: Compilation,
  backend: Backend,
  flowRef: FlowDetail | string,
  fields: {
    store: Readonly<Record<string, unknown>> | undefined;
    ids: IdGenerator | undefined;
    book: LogBook | string | undefined;
    /** The failure rules given to this load (undefined: keep the stored ones). */
    rules: { onFailure: FailureRules['onFailure'] | undefined; revertScope: FailureRules['revertScope'] | undefined };
    /** The run's fencing token, when it is claimed. */
    fence: number | undefined;
  },
): Promise<Storage> {
  const uuid = typeof flowRef === 'string' ? flowRef : flowRef.uuid;
  let stored: FlowDetail;
  let book: LogBook;
  try {
    stored = await backend.getFlowDetail(uuid);
    book = await backend.getLogBook(await backend.getBookUuidOfFlow(uuid), { lazy: true });
  } catch (e) {
    if (!(e instanceof NotFound) || typeof flowRef === 'string') {
      if (e instanceof NotFound) throw new NotFound(`no stored flow detail '${uuid}' in the ${backend.kind} backend`, uuid);
      throw e;
    }
    // A FlowDetail record that was never stored: store it (in its book) and continue from it.
    stored = flowRef;
    book = typeof fields.book === 'object' ? fields.book : createLogBook({ name: c.rootName, ...(typeof fields.book === 'string' ? { uuid: fields.book } : {}) });
    await backend.saveLogBook(bookWithFlow(book, stored));
  }
  // The stored atoms usually come in compile order (they were first stored by this flow): match
  // by position, and by name only for what does not line up (a changed flow).
  const storedAtoms = stored.atomDetails;
  const taken = new Uint8Array(storedAtoms.length);
  let byName: Map<string, number> | undefined;
  const fresh: AtomDetail[] = [];
  const details: AtomDetail[] = new Array(c.atoms.length);
  for (let i = 0; i < c.atoms.length; i++) {
    const a = c.atoms[i]!;
    let k = i < storedAtoms.length && storedAtoms[i]!.name === a.name ? i : -1;
    if (k < 0) {
      byName ??= new Map(storedAtoms.map((d, j) => [d.name, j]));
      k = byName.get(a.name) ?? -1;
    }
    const d = k >= 0 ? storedAtoms[k]! : undefined;
    if (d === undefined || d.kind !== a.kind) {
      const created = createAtomDetail({ name: a.name, kind: a.kind, version: a.atom.version, ...(fields.ids ? { uuid: fields.ids() } : {}) });
      fresh.push(created);
      details[i] = created;
      continue;
    }
    taken[k] = 1;
    if (d.version !== a.atom.version && d.state !== 'PENDING') throw new IncompatibleVersion(a.name, d.version, a.atom.version);
    details[i] = d;
  }
  const orphans = storedAtoms.filter((_, j) => taken[j] === 0);
  let flow = updateFlow(stored, { atomDetails: Object.freeze([]) });
  if (fields.store !== undefined) {
    const merged = { ...((flow.meta.store as Record<string, unknown> | undefined) ?? {}), ...fields.store };
    flow = updateFlow(flow, { meta: Object.freeze({ ...flow.meta, store: merged }) });
  }
  // The run's failure rules: given ones win (and are stored), else the stored ones, else the defaults.
  const rules = rulesFor(fields.rules, flow);
  const kept = storedRules(flow.meta);
  const rulesChanged = kept === undefined || kept.onFailure !== rules.onFailure || kept.revertScope !== rules.revertScope;
  if (rulesChanged) flow = updateFlow(flow, { meta: Object.freeze({ ...flow.meta, [RULES_KEY]: { ...rules } }) });
  const storage = new Storage(c, backend, book, flow, details);
  storage.orphans = orphans;
  if (storage.orphans.length > 0) log('flow %s: %d stored atoms are no longer in the flow: %o', uuid, storage.orphans.length, storage.orphans.map((d) => d.name));
  if (fresh.length > 0 || fields.store !== undefined || rulesChanged) await backend.commit(uuid, { flow, atoms: fresh, fence: fields.fence });
  return storage;
}
