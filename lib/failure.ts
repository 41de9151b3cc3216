/**
 * A `Failure` is a plain, serialisable capture of whatever an atom threw: class chain, message,
 * stack and cause chain. The live error is kept (not enumerable, never serialised) so a run in the
 * same process can re-raise the very object that was thrown; after a reload it is gone and
 * `reraise()` throws a `WrappedFailure` instead (TaskFlow's `Failure`).
 */
import { describeValue, safeString } from './describe.js';
import { InvariantViolation, WrappedFailure } from './errors.js';

export const FAILURE_FORMAT = 1;

export interface FailureData {
  readonly format: number;
  readonly exceptionType: string;
  readonly exceptionTypes: readonly string[];
  readonly name: string;
  readonly message: string;
  readonly stack: string;
  readonly cause?: FailureData;
}

// A class or a class name to match against a failure's type chain.
export type ErrorMatcher = string | (abstract new (...args: never[]) => unknown);

/** Reads `key` of a thrown value, tolerating throwing getters and proxies (undefined then). */
function field(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function protoOf(value: unknown): unknown {
  try {
    return Object.getPrototypeOf(value);
  } catch {
    return null;
  }
}

function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

function isFailureValue(value: unknown): value is Failure {
  try {
    return value instanceof Failure;
  } catch {
    return false;
  }
}

function typeChain(value: unknown): string[] {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
    return [value === null ? 'Null' : typeof value === 'string' ? 'String' : 'NonError'];
  }
  const names: string[] = [];
  let proto: unknown = protoOf(value);
  while (proto !== null && proto !== undefined && proto !== Object.prototype && names.length < 32) {
    const ctor = field(proto as object, 'constructor');
    const raw = typeof ctor === 'function' || (typeof ctor === 'object' && ctor !== null) ? field(ctor, 'name') : undefined;
    const n = typeof raw === 'string' && raw !== '' ? raw : undefined;
    if (n !== undefined && names[names.length - 1] !== n) names.push(n);
    proto = protoOf(proto);
  }
  return names.length > 0 ? names : ['Object'];
}

/** A thrown value's message as a string (a non-string message is described, never trusted). */
function messageOf(value: object, raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (raw !== undefined) return describeValue(raw, 2000);
  if (isError(value)) return '';
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') return json;
  } catch {
    // BigInt, cycles, throwing toJSON: described below
  }
  return describeValue(value, 2000);
}

function describe(value: unknown): { name: string; message: string; stack: string } {
  if (typeof value === 'object' && value !== null) {
    const name = field(value, 'name');
    const stack = field(value, 'stack');
    return {
      name: typeof name === 'string' ? name : name === undefined || name === null ? 'Error' : safeString(name),
      message: messageOf(value, field(value, 'message')),
      stack: typeof stack === 'string' ? stack : '',
    };
  }
  return { name: 'Error', message: typeof value === 'function' ? describeValue(value) : safeString(value), stack: '' };
}

export class Failure {
  readonly exceptionType: string;
  /** The class chain, most specific first (e.g. `['Woot', 'Error']`). */
  readonly exceptionTypes: readonly string[];
  readonly name: string;
  readonly message: string;
  readonly stack: string;
  readonly cause: Failure | undefined;
  /** The live thrown value, when this process captured it (never serialised). */
  declare readonly exception: unknown;

  private constructor(data: Omit<FailureData, 'format' | 'cause'> & { cause?: Failure | undefined }, exception: unknown) {
    this.exceptionType = data.exceptionType;
    this.exceptionTypes = Object.freeze([...data.exceptionTypes]);
    this.name = data.name;
    this.message = data.message;
    this.stack = data.stack;
    this.cause = data.cause;
    Object.defineProperty(this, 'exception', { value: exception, enumerable: false, writable: false });
    Object.freeze(this);
  }

  /** Capture any thrown value (an `Error`, a string, an object...). */
  static from(error: unknown, depth = 0): Failure {
    if (isFailureValue(error)) return error;
    const types = typeChain(error);
    const d = describe(error);
    const rawCause = isError(error) ? field(error, 'cause') : undefined;
    const cause = rawCause !== undefined && depth < 16 ? Failure.from(rawCause, depth + 1) : undefined;
    return new Failure(
      { exceptionType: types[0] ?? 'Error', exceptionTypes: types, name: d.name, message: d.message, stack: d.stack, cause },
      error,
    );
  }

  /** A failure from its JSON form; `InvariantViolation` for anything that is not a well-formed record. */
  static fromJSON(data: FailureData | Record<string, unknown>, depth = 0): Failure {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new InvariantViolation(`invalid failure record: expected an object, got ${describeValue(data)}`);
    }
    const d = data as Partial<FailureData>;
    if (d.format !== FAILURE_FORMAT) {
      throw new InvariantViolation(`invalid failure record format ${describeValue(d.format)} (expected ${FAILURE_FORMAT})`, {
        option: 'format',
      });
    }
    if (
      typeof d.exceptionType !== 'string' ||
      !Array.isArray(d.exceptionTypes) ||
      !d.exceptionTypes.every((t) => typeof t === 'string') ||
      typeof d.message !== 'string' ||
      (d.name !== undefined && typeof d.name !== 'string') ||
      (d.stack !== undefined && typeof d.stack !== 'string')
    ) {
      throw new InvariantViolation('invalid failure record: exceptionType, exceptionTypes (strings) and message are required; name and stack are strings');
    }
    if (d.cause !== undefined && d.cause !== null && depth >= 64) throw new InvariantViolation('invalid failure record: causes nested too deep');
    return new Failure(
      {
        exceptionType: d.exceptionType,
        exceptionTypes: d.exceptionTypes,
        name: typeof d.name === 'string' ? d.name : d.exceptionType,
        message: d.message,
        stack: typeof d.stack === 'string' ? d.stack : '',
        cause: d.cause ? Failure.fromJSON(d.cause, depth + 1) : undefined,
      },
      undefined,
    );
  }

  static isFailure(value: unknown): value is Failure {
    return value instanceof Failure;
  }

  toJSON(): FailureData {
    const out: FailureData = {
      format: FAILURE_FORMAT,
      exceptionType: this.exceptionType,
      exceptionTypes: this.exceptionTypes,
      name: this.name,
      message: this.message,
      stack: this.stack,
      ...(this.cause ? { cause: this.cause.toJSON() } : {}),
    };
    return out;
  }

  /** The first of `types` this failure is an instance of (by live class, or by class name). */
  check(...types: ErrorMatcher[]): ErrorMatcher | undefined {
    for (const t of types) {
      if (typeof t === 'string') {
        if (this.exceptionTypes.includes(t)) return t;
      } else if (this.exception !== undefined && this.exception !== null && this.exception instanceof t) {
        return t;
      } else if (this.exceptionTypes.includes(t.name)) {
        return t;
      }
    }
    return undefined;
  }

  /** Throws the live error again, or a `WrappedFailure` of this failure when it is gone. */
  reraise(): never {
    if (this.exception !== undefined) throw this.exception;
    throw new WrappedFailure([this]);
  }

  /** Compares types, message, stack and causes (not the live error). */
  matches(other: Failure): boolean {
    return (
      this.exceptionType === other.exceptionType &&
      this.message === other.message &&
      this.stack === other.stack &&
      this.exceptionTypes.join() === other.exceptionTypes.join() &&
      (this.cause === undefined ? other.cause === undefined : other.cause !== undefined && this.cause.matches(other.cause))
    );
  }

  toString(): string {
    return `Failure: ${this.exceptionType}: ${this.message}`;
  }

  /** Throws nothing for no failures, the one failure's error for one, a WrappedFailure for more. */
  static reraiseIfAny(failures: readonly Failure[]): void {
    if (failures.length === 0) return;
    if (failures.length === 1) failures[0]!.reraise();
    throw new WrappedFailure(failures);
  }
}
