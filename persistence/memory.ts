/**
 * The in-memory backend: three maps (books, flow details, atom details) holding the immutable model
 * records by reference. Nothing is copied on write, so `commit()` is a few map sets; reads assemble
 * fresh frozen values (a book with its flow details, a flow detail with its atom details), so a
 * caller never sees later writes through a value it already holds.
 *
 * Used by tests and by engines run without persistence. Everything is lost when the process ends.
 */
import { InvariantViolation, NotFound, StorageFailure } from '../lib/errors.js';
import { resolveFlowQuery, resolvePurge, stateIn, type Backend, type Claim, type ClaimRequest, type FlowChange, type FlowQuery, type LoadOptions, type PurgeOptions } from './backend.js';
import { checkAtoms, checkBook, checkChangeFast, checkFlow, checkUuid, updateAtom, type AtomDetail, type FlowDetail, type LogBook } from './models.js';
import { FREE, checkClaimRequest, checkLeaseMs, checkToken, claimOf, claimVerdict, claimedError, lostClaim, staleFence, type StoredHolder } from './ownership.js';

interface AtomEntry {
  readonly flowUuid: string;
  detail: AtomDetail;
}

interface FlowEntry {
  readonly bookUuid: string;
  detail: FlowDetail;
  /** This flow's atoms in first-stored order (found by uuid through the backend's one map). */
  readonly atoms: AtomEntry[];
  /** Who holds the flow detail (all null when nobody does). */
  holder: StoredHolder;
  /** The fencing token: raised by every claim, checked by fenced commits. */
  fence: number;
}

interface BookEntry {
  book: LogBook;
  /** This book's flow uuids in first-stored order. */
  readonly flows: Set<string>;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** Keeps the first stored `createdAt` of a book or flow (like a SQL row's insert time); allocates only when it differs. */
function keepCreatedAt<T extends { readonly createdAt: number }>(prev: T | undefined, next: T): T {
  return prev === undefined || prev.createdAt === next.createdAt ? next : Object.freeze({ ...next, createdAt: prev.createdAt });
}

export class MemoryBackend implements Backend {
  readonly kind = 'memory';
  readonly #books = new Map<string, BookEntry>();
  readonly #flows = new Map<string, FlowEntry>();
  readonly #atoms = new Map<string, AtomEntry>();
  #closed = false;
  /** Entries found by `commitSync` (reused between commits). */
  readonly #scratch: Array<AtomEntry | undefined> = [];

  async saveLogBook(book: LogBook): Promise<void> {
    this.#check();
    checkBook(book);
    const existing = this.#books.get(book.uuid);
    // Validate everything first: a failed call changes nothing.
    for (const fd of book.flowDetails) {
      this.#checkFlowOwner(fd.uuid, book.uuid);
      this.#checkAtomOwners(fd.uuid, fd.atomDetails);
    }
    let entry = existing;
    if (entry === undefined) {
      entry = { book, flows: new Set() };
      this.#books.set(book.uuid, entry);
    } else {
      entry.book = keepCreatedAt(entry.book, book);
    }
    for (const fd of book.flowDetails) this.#putFlow(entry, fd);
  }

  async getLogBook(uuid: string, options?: LoadOptions): Promise<LogBook> {
    checkUuid(uuid, 'uuid');
    this.#check();
    const entry = this.#books.get(uuid);
    if (entry === undefined) throw new NotFound(`logbook '${uuid}' not found`, uuid);
    return this.#assembleBook(entry, options?.lazy === true);
  }

  async getLogBooks(options?: LoadOptions): Promise<LogBook[]> {
    this.#check();
    const lazy = options?.lazy !== false;
    return sortByCreation([...this.#books.values()].map((e) => this.#assembleBook(e, lazy)));
  }

  async destroyLogBook(uuid: string): Promise<void> {
    checkUuid(uuid, 'uuid');
    this.#check();
    const entry = this.#books.get(uuid);
    if (entry === undefined) throw new NotFound(`logbook '${uuid}' not found (nothing to destroy)`, uuid);
    for (const flowUuid of entry.flows) {
      const fe = this.#flows.get(flowUuid);
      if (fe !== undefined) for (const ae of fe.atoms) this.#atoms.delete(ae.detail.uuid);
      this.#flows.delete(flowUuid);
    }
    this.#books.delete(uuid);
  }

  async saveFlowDetail(bookUuid: string, flow: FlowDetail): Promise<void> {
    checkUuid(bookUuid, 'bookUuid');
    this.#check();
    checkFlow(flow);
    const entry = this.#books.get(bookUuid);
    if (entry === undefined) throw new NotFound(`cannot save flow detail '${flow.uuid}': logbook '${bookUuid}' is not stored`, bookUuid);
    this.#checkFlowOwner(flow.uuid, bookUuid);
    this.#checkAtomOwners(flow.uuid, flow.atomDetails);
    this.#putFlow(entry, flow);
  }

  async getFlowDetail(uuid: string, options?: LoadOptions): Promise<FlowDetail> {
    checkUuid(uuid, 'uuid');
    this.#check();
    const fe = this.#flows.get(uuid);
    if (fe === undefined) throw new NotFound(`flow detail '${uuid}' not found`, uuid);
    return this.#assembleFlow(fe, options?.lazy === true);
  }

  async getBookUuidOfFlow(flowUuid: string): Promise<string> {
    checkUuid(flowUuid, 'flowUuid');
    this.#check();
    const fe = this.#flows.get(flowUuid);
    if (fe === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
    return fe.bookUuid;
  }

  async saveAtomDetails(flowUuid: string, atoms: readonly AtomDetail[]): Promise<void> {
    checkUuid(flowUuid, 'flowUuid');
    this.#check();
    checkAtoms(atoms);
    const fe = this.#flows.get(flowUuid);
    if (fe === undefined) throw new NotFound(`cannot save atom details: flow detail '${flowUuid}' is not stored`, flowUuid);
    this.#checkAtomOwners(flowUuid, atoms);
    for (const a of atoms) this.#putAtom(fe, a);
  }

  async getAtomDetails(flowUuid: string): Promise<AtomDetail[]> {
    checkUuid(flowUuid, 'flowUuid');
    this.#check();
    const fe = this.#flows.get(flowUuid);
    if (fe === undefined) throw new NotFound(`flow detail '${flowUuid}' not found`, flowUuid);
    return atomsOf(fe);
  }

  async commit(flowUuid: string, change: FlowChange): Promise<void> {
    this.commitSync(flowUuid, change);
  }

  /**
   * The hot path: find each atom's entry (by the position hint when it is right, else one map
   * lookup), check ownership for all of them, then write. No copying, no JSON.
   */
  commitSync(flowUuid: string, change: FlowChange): void {
    checkUuid(flowUuid, 'flowUuid');
    this.#check();
    checkChangeFast(change);
    const fe = this.#flows.get(flowUuid);
    if (fe === undefined) throw new NotFound(`cannot commit: flow detail '${flowUuid}' is not stored`, flowUuid);
    const flow = change.flow;
    const atoms = change.atoms;
    if (flow !== undefined && flow.uuid !== flowUuid) {
      throw new InvariantViolation(`cannot commit flow detail '${flow.uuid}' under flow uuid '${flowUuid}'`, { subject: flowUuid });
    }
    if (change.fence !== undefined && change.fence !== fe.fence) throw staleFence(flowUuid, change.fence, fe.fence);
    if (atoms === undefined || atoms.length === 0) {
      if (flow !== undefined) fe.detail = keepCreatedAt(fe.detail, flow);
      return;
    }
    const positions = change.positions;
    const entries = this.#scratch;
    for (let k = 0; k < atoms.length; k++) {
      const a = atoms[k]!;
      const at = positions?.[k];
      let ae = at === undefined ? undefined : fe.atoms[at];
      if (ae === undefined || ae.detail.uuid !== a.uuid) ae = this.#atoms.get(a.uuid);
      if (ae !== undefined && ae.flowUuid !== flowUuid) {
        entries.length = 0;
        throw this.#foreign(a, ae.flowUuid, flowUuid);
      }
      entries[k] = ae;
    }
    if (flow !== undefined) fe.detail = keepCreatedAt(fe.detail, flow);
    for (let k = 0; k < atoms.length; k++) {
      const a = atoms[k]!;
      const ae = entries[k];
      entries[k] = undefined;
      if (ae === undefined) this.#putAtom(fe, a); // new (or twice in this commit)
      else replaceAtom(ae, a);
    }
  }

  // ---- ownership ----------------------------------------------------------------------------

  async claim(flowUuid: string, request: ClaimRequest): Promise<Claim> {
    this.#check();
    checkClaimRequest(request);
    const fe = this.#flowOrNotFound(flowUuid, 'claim');
    const now = Date.now();
    if (claimVerdict(fe.holder, request, now) === 'held') throw claimedError(flowUuid, fe.holder);
    const holder = { owner: request.owner, host: request.host, pid: request.pid, leaseUntil: now + request.leaseMs };
    fe.holder = Object.freeze(holder);
    fe.fence++;
    return claimOf(flowUuid, holder, fe.fence);
  }

  async renew(flowUuid: string, token: number, leaseMs: number): Promise<Claim> {
    this.#check();
    checkToken(token);
    checkLeaseMs(leaseMs);
    const fe = this.#flowOrNotFound(flowUuid, 'renew the claim on');
    const h = fe.holder;
    if (fe.fence !== token || h.owner === null) throw lostClaim(flowUuid, token, fe.fence, h.owner);
    const holder = { owner: h.owner, host: h.host ?? '', pid: h.pid ?? 0, leaseUntil: Date.now() + leaseMs };
    fe.holder = Object.freeze(holder);
    return claimOf(flowUuid, holder, token);
  }

  async release(flowUuid: string, token: number): Promise<void> {
    this.#check();
    checkToken(token);
    const fe = this.#flowOrNotFound(flowUuid, 'release the claim on');
    if (fe.fence === token) fe.holder = FREE;
  }

  async getClaim(flowUuid: string): Promise<Claim | undefined> {
    this.#check();
    const fe = this.#flowOrNotFound(flowUuid, 'read the claim on');
    const h = fe.holder;
    if (h.owner === null) return undefined;
    return claimOf(flowUuid, { owner: h.owner, host: h.host ?? '', pid: h.pid ?? 0, leaseUntil: h.leaseUntil ?? 0 }, fe.fence);
  }

  async findFlows(query?: FlowQuery): Promise<FlowDetail[]> {
    this.#check();
    const q = resolveFlowQuery(query);
    const out: FlowDetail[] = [];
    for (const fe of this.#flows.values()) {
      if (q.bookUuid !== undefined && fe.bookUuid !== q.bookUuid) continue;
      if (q.states !== undefined && !stateIn(fe.detail.state, q.states)) continue;
      out.push(this.#assembleFlow(fe, true));
    }
    // Map order is first-stored order; the sort is stable.
    const sorted = sortByCreation(out);
    return q.limit === undefined ? sorted : sorted.slice(0, q.limit);
  }

  async purge(options: PurgeOptions): Promise<number> {
    this.#check();
    const { before, states } = resolvePurge(options);
    let removed = 0;
    for (const [uuid, fe] of this.#flows) {
      const d = fe.detail;
      if (!stateIn(d.state, states) || (d.updatedAt ?? d.createdAt) >= before) continue;
      for (const ae of fe.atoms) this.#atoms.delete(ae.detail.uuid);
      this.#flows.delete(uuid);
      const book = this.#books.get(fe.bookUuid);
      if (book !== undefined) {
        book.flows.delete(uuid);
        if (book.flows.size === 0) this.#books.delete(fe.bookUuid);
      }
      removed++;
    }
    return removed;
  }

  async clearAll(): Promise<void> {
    this.#check();
    this.#books.clear();
    this.#flows.clear();
    this.#atoms.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#books.clear();
    this.#flows.clear();
    this.#atoms.clear();
  }

  // ---- internals ----------------------------------------------------------------------------

  #check(): void {
    if (this.#closed) throw new StorageFailure('memory backend is closed');
  }

  #flowOrNotFound(flowUuid: string, what: string): FlowEntry {
    const fe = this.#flows.get(flowUuid);
    if (fe === undefined) throw new NotFound(`cannot ${what} flow detail '${flowUuid}': it is not stored`, flowUuid);
    return fe;
  }

  #checkFlowOwner(flowUuid: string, bookUuid: string): void {
    const fe = this.#flows.get(flowUuid);
    if (fe !== undefined && fe.bookUuid !== bookUuid) {
      throw new InvariantViolation(`flow detail '${flowUuid}' belongs to logbook '${fe.bookUuid}', not '${bookUuid}'`, { subject: flowUuid });
    }
  }

  #checkAtomOwners(flowUuid: string, atoms: readonly AtomDetail[]): void {
    for (const a of atoms) {
      const ae = this.#atoms.get(a.uuid);
      if (ae !== undefined && ae.flowUuid !== flowUuid) throw this.#foreign(a, ae.flowUuid, flowUuid);
    }
  }

  #foreign(a: AtomDetail, owner: string, flowUuid: string): InvariantViolation {
    return new InvariantViolation(`atom detail '${a.name}' ('${a.uuid}') belongs to flow detail '${owner}', not '${flowUuid}'`, { subject: a.name });
  }

  #putFlow(book: BookEntry, fd: FlowDetail): void {
    let fe = this.#flows.get(fd.uuid);
    if (fe === undefined) {
      fe = { bookUuid: book.book.uuid, detail: fd, atoms: [], holder: FREE, fence: 0 };
      this.#flows.set(fd.uuid, fe);
      book.flows.add(fd.uuid);
    } else {
      fe.detail = keepCreatedAt(fe.detail, fd);
    }
    for (const a of fd.atomDetails) this.#putAtom(fe, a);
  }

  /** Inserts or updates (keeping the first `createdAt`); ownership was checked by the caller. */
  #putAtom(fe: FlowEntry, a: AtomDetail): void {
    const ae = this.#atoms.get(a.uuid);
    if (ae === undefined) this.#insertAtom(fe, a);
    else replaceAtom(ae, a);
  }

  #insertAtom(fe: FlowEntry, a: AtomDetail): void {
    const created: AtomEntry = { flowUuid: fe.detail.uuid, detail: a };
    fe.atoms.push(created);
    this.#atoms.set(a.uuid, created);
  }

  #assembleFlow(fe: FlowEntry, lazy: boolean): FlowDetail {
    return Object.freeze({ ...fe.detail, atomDetails: lazy ? EMPTY : Object.freeze(atomsOf(fe)) });
  }

  #assembleBook(entry: BookEntry, lazy: boolean): LogBook {
    let flowDetails: readonly FlowDetail[] = EMPTY;
    if (!lazy) {
      const flows: FlowDetail[] = [];
      for (const uuid of entry.flows) {
        const fe = this.#flows.get(uuid);
        if (fe !== undefined) flows.push(this.#assembleFlow(fe, false));
      }
      flowDetails = Object.freeze(sortByCreation(flows));
    }
    return Object.freeze({ ...entry.book, flowDetails });
  }
}

/** Stores `a` over the entry's record, keeping the first stored `createdAt`. */
function replaceAtom(ae: AtomEntry, a: AtomDetail): void {
  ae.detail = ae.detail.createdAt === a.createdAt ? a : updateAtom(a, { createdAt: ae.detail.createdAt });
}

function atomsOf(fe: FlowEntry): AtomDetail[] {
  const out: AtomDetail[] = [];
  for (const ae of fe.atoms) out.push(ae.detail);
  return out;
}

/** Oldest first; a stable sort, so equal creation times keep first-stored order. */
function sortByCreation<T extends { readonly createdAt: number }>(items: T[]): T[] {
  return items.sort((a, b) => a.createdAt - b.createdAt);
}
