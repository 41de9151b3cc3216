/** Input checks for the board's public functions: bad input is an `InvariantViolation` naming the option. */
import { InvariantViolation } from '../lib/errors.js';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Refuses what JSON cannot hold faithfully (Map, Set, Date, NaN, ±Infinity, -0, BigInt, class
 * instances, functions, symbols, undefined inside arrays, cycles), naming the path to it.
 */
export function checkJsonValue(value: unknown, where: string, option: string, path = '', seen: object[] = []): void {
  const at = (): string => `${where}${path === '' ? '' : ` at '${path}'`}`;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvariantViolation(`${at()}: ${value} cannot be stored as JSON`, { option });
      if (Object.is(value, -0)) throw new InvariantViolation(`${at()}: -0 cannot be stored as JSON`, { option });
      return;
    case 'object': {
      if (value === null) return;
      if (seen.includes(value)) throw new InvariantViolation(`${at()}: a cycle cannot be stored as JSON`, { option });
      seen.push(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined) throw new InvariantViolation(`${at()}[${i}]: undefined cannot be stored as JSON`, { option });
          checkJsonValue(value[i], where, option, `${path}[${i}]`, seen);
        }
      } else {
        if (!isPlainObject(value)) {
          const kind = (value as object).constructor?.name ?? 'object';
          throw new InvariantViolation(`${at()}: a ${kind} cannot be stored as JSON (plain objects, arrays, strings, finite numbers, booleans and null only)`, { option });
        }
        for (const [k, v] of Object.entries(value)) {
          if (v === undefined) continue; // dropped by JSON, as in a store value
          checkJsonValue(v, where, option, path === '' ? k : `${path}.${k}`, seen);
        }
      }
      seen.pop();
      return;
    }
    default:
      throw new InvariantViolation(`${at()}: a ${typeof value} cannot be stored as JSON`, { option });
  }
}

/** A plain object of JSON values (or undefined → `{}`). */
export function checkRecord(value: unknown, option: string, where: string): Readonly<Record<string, unknown>> {
  if (value === undefined) return Object.freeze({});
  if (!isRecord(value)) throw new InvariantViolation(`${where}: '${option}' must be an object of values keyed by name`, { option });
  checkJsonValue(value, `${where}: '${option}'`, option);
  return Object.freeze(JSON.parse(JSON.stringify(value)) as Record<string, unknown>);
}

export function checkKeys(value: object, known: readonly string[], where: string): void {
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) throw new InvariantViolation(`${where}: unknown option '${k}' (known: ${known.join(', ')})`, { option: k });
  }
}

export function checkInt(value: unknown, option: string, where: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvariantViolation(`${where}: '${option}' must be an integer >= ${min}, not ${JSON.stringify(value) ?? String(value)}`, { option });
  }
  return value;
}

export function checkName(value: unknown, option: string, where: string): string {
  if (typeof value !== 'string' || value.trim().length === 0) {
    throw new InvariantViolation(`${where}: '${option}' must be a non-empty string, not ${JSON.stringify(value) ?? String(value)}`, { option });
  }
  return value;
}
