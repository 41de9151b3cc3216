/**
 * Safe words for any value, for error messages and logs: never throws, whatever it is given
 * (BigInt, circular structures, symbols, objects without a prototype, proxies, throwing getters).
 * `JSON.stringify` and template literals do throw on several of these, so message builders use
 * this instead.
 */
import { inspect } from 'node:util';

const INSPECT_OPTIONS = Object.freeze({ depth: 2, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 10, maxStringLength: 80, getters: false, customInspect: false });

/** A short, readable rendering of `value` (strings quoted, as JSON would), at most `max` characters. */
export function describeValue(value: unknown, max = 120): string {
  let s: string;
  try {
    if (typeof value === 'string') s = JSON.stringify(value);
    else if (value === undefined) s = 'undefined';
    else s = inspect(value, INSPECT_OPTIONS);
  } catch {
    s = fallback(value);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function fallback(value: unknown): string {
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return `<${typeof value}>`;
  }
}

/** `String(value)` that never throws (a symbol, an object without a prototype, a throwing `toString`). */
export function safeString(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    return describeValue(value);
  }
}
