/**
 * What a store can hold: plain JSON data. `storable()` checks a value that is about to be stored
 * (an atom's result, progress details, a store value) and returns a frozen plain copy of it, or
 * refuses it with an `UnstorableValue` naming the path inside it (`result.items[2].when`).
 *
 * Why a copy, and frozen: what a live run hands to later atoms and listeners must be what a resumed
 * run reads back. A copy made here is what gets stored (and handed out); the atom's own object can
 * change afterwards without effect, and nobody can change the stored one (it is frozen). The copy
 * also normalises what JSON would change silently: object keys whose value is `undefined` and
 * symbol keys are left out, as `JSON.stringify` leaves them out.
 *
 * Refused (JSON cannot hold them faithfully): Map, Set, Date, RegExp, NaN, ±Infinity, -0, BigInt,
 * typed arrays and other class instances, functions, symbols, `undefined` inside arrays (and array
 * holes), cycles, getters that throw, nesting deeper than MAX_DEPTH. A top-level `undefined` is
 * allowed (no value). Same checks on every backend, so swapping backends never changes behaviour.
 *
 * Cost: O(size of the value); a primitive costs a `typeof`. Every backend inherits it, since the
 * engine checks values before any backend sees them.
 */
import { describeValue } from '../lib/describe.js';
import { UnstorableValue } from '../lib/errors.js';

/** Deeper nesting is refused (and JSON.stringify would risk the stack). */
export const MAX_DEPTH = 256;

type Key = string | number;

/** Where a value is being stored: names the atom or option in the error. */
export interface StorableSubject {
  readonly atom?: string;
  readonly option?: string;
}

/**
 * A frozen plain copy of `value` that JSON holds faithfully, or `UnstorableValue`. `root` names the
 * value in the error's path (`result`, `store`, `progress.details`).
 */
export function storable(value: unknown, root: string, subject: StorableSubject = {}): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return value;
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      break;
    default:
      if (value === null) return null;
  }
  const walk = new Walk(root, subject);
  return walk.copy(value, 0);
}

/** Whether `value` is storable as it is (no copy kept); for checks that need only the verdict. */
export function checkStorable(value: unknown, root: string, subject: StorableSubject = {}): void {
  storable(value, root, subject);
}

class Walk {
  readonly #root: string;
  readonly #subject: StorableSubject;
  /** The containers being copied (cycle detection) and the keys leading to the current value. */
  readonly #ancestors: object[] = [];
  readonly #keys: Key[] = [];

  constructor(root: string, subject: StorableSubject) {
    this.#root = root;
    this.#subject = subject;
  }

  copy(v: unknown, depth: number): unknown {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        if (Number.isFinite(v) && !Object.is(v, -0)) return v;
        return this.#refuse(Object.is(v, -0) ? '-0 (JSON stores it as 0)' : `${String(v)} (JSON stores it as null)`);
      case 'undefined':
        return this.#refuse('undefined inside an array (JSON stores it as null)');
      case 'bigint':
        return this.#refuse(`a BigInt (${String(v)}n); store it as a string or a number`);
      case 'symbol':
        return this.#refuse(`a symbol (${String(v)})`);
      case 'function':
        return this.#refuse(`a function (${describeValue(v, 60)})`);
      default:
        break;
    }
    if (v === null) return null;
    const o = v as object;
    if (depth >= MAX_DEPTH) return this.#refuse(`nested deeper than ${MAX_DEPTH} levels`);
    if (this.#ancestors.includes(o)) return this.#refuse('a circular reference');
    let proto: unknown;
    try {
      proto = Object.getPrototypeOf(o);
    } catch (err) {
      return this.#refuse('an object whose prototype cannot be read (a revoked proxy?)', err);
    }
    if (proto === Array.prototype && Array.isArray(o)) return this.#array(o as unknown[], depth);
    if (proto === Object.prototype || proto === null) return this.#object(o as Record<string, unknown>, depth);
    return this.#refuse(`${kindOf(o)}; store plain objects, arrays, strings, finite numbers, booleans and null`);
  }

  #array(a: unknown[], depth: number): readonly unknown[] {
    this.#ancestors.push(a);
    const n = a.length;
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      this.#keys.push(i);
      if (!(i in a)) this.#refuse('a hole in an array (JSON stores it as null)');
      out[i] = this.copy(this.#read(a, i), depth + 1);
      this.#keys.pop();
    }
    this.#ancestors.pop();
    return Object.freeze(out);
  }

  #object(o: Record<string, unknown>, depth: number): Readonly<Record<string, unknown>> {
    this.#ancestors.push(o);
    let keys: string[];
    try {
      keys = Object.keys(o);
    } catch (err) {
      return this.#refuse('an object whose keys cannot be listed (a revoked proxy?)', err);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      this.#keys.push(k);
      const x = this.#read(o, k);
      if (x !== undefined) {
        const c = this.copy(x, depth + 1);
        if (k === '__proto__') Object.defineProperty(out, k, { value: c, enumerable: true, writable: true, configurable: true });
        else out[k] = c;
      }
      this.#keys.pop();
    }
    this.#ancestors.pop();
    return Object.freeze(out);
  }

  #read(o: object, k: Key): unknown {
    try {
      return (o as Record<Key, unknown>)[k];
    } catch (err) {
      return this.#refuse('a getter that throws', err);
    }
  }

  #refuse(reason: string, cause?: unknown): never {
    throw new UnstorableValue({ ...this.#subject, path: renderPath(this.#root, this.#keys), reason, ...(cause !== undefined ? { cause } : {}) });
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `result.items[2].when`, `result["a b"]`. */
export function renderPath(root: string, keys: readonly Key[]): string {
  let out = root;
  for (const k of keys) out += typeof k === 'number' ? `[${k}]` : IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  return out;
}

function kindOf(o: object): string {
  if (o instanceof Map) return 'a Map (JSON stores it as {}); store Object.fromEntries(map) or an array of entries';
  if (o instanceof Set) return 'a Set (JSON stores it as {}); store an array';
  if (o instanceof Date) return 'a Date (JSON stores it as a string); store date.toISOString() or date.getTime()';
  if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) return 'binary data (a typed array, Buffer or ArrayBuffer); store a base64 string';
  if (o instanceof RegExp) return 'a RegExp';
  if (o instanceof Error) return 'an Error; store its message';
  if (o instanceof Promise) return 'a Promise (did an atom forget an await?)';
  if (Array.isArray(o)) return 'an array of a subclass of Array';
  let name = 'an unknown class';
  try {
    const ctor = (Object.getPrototypeOf(o) as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && ctor.name !== '') name = ctor.name;
  } catch {
    // keep the generic words
  }
  return `an instance of ${name} (JSON keeps only its own fields, not its class)`;
}
