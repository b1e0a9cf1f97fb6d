import { v7 as uuidv7 } from 'uuid';
import { InputError } from '../errors/index.js';

/** A new row id: UUIDv7, so ids sort by creation time and index pages fill in order. */
export function newId(): string {
  return uuidv7();
}

/** JSON is stored as text on SQLite and JSONB on PostgreSQL; both read back as text. */
export function toDbJson(value: unknown): string {
  return JSON.stringify(value, cleanJsonStrings);
}

/**
 * Text both databases accept: PostgreSQL refuses NUL in text and jsonb, and an unpaired UTF-16
 * surrogate in jsonb. Agents write whatever they like, and one such string must not fail the
 * batch of completions it travels in, so both become U+FFFD.
 */
export function toDbText(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

function cleanJsonStrings(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return toDbText(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.every((k) => toDbText(k) === k)) return value;
  return Object.fromEntries(keys.map((k) => [toDbText(k), (value as Record<string, unknown>)[k]]));
}

export function fromDbJson<T = unknown>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/**
 * Both dialects accept 0/1 for a boolean parameter: SQLite stores the integer, PostgreSQL
 * reads the untyped '1'/'0' as boolean input. Reads give boolean (PostgreSQL) or 0/1 (SQLite).
 */
export function toDbBool(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

export function fromDbBool(value: boolean | number | null): boolean {
  return value === true || value === 1;
}

const ISO_WITH_ZONE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * Timestamps are stored as instants at millisecond precision and read back as
 * `YYYY-MM-DDTHH:mm:ss.sssZ` on both dialects. Input must carry a zone (`Z`, `+02`, `+0200`,
 * `+02:00`), so nothing is silently read as local time; impossible dates are refused.
 */
export function toDbTimestamp(value: Date | string, field = 'timestamp'): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InputError(field, 'invalid date');
    return value.toISOString();
  }
  const m = ISO_WITH_ZONE.exec(value.trim());
  if (m === null) {
    throw new InputError(field, `expected an ISO-8601 timestamp with a zone, got "${value}"`);
  }
  const [, year, month, day, hour, minute, second = '00', fraction = '', zone = 'Z'] = m;
  const calendar = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (
    calendar.getUTCMonth() !== Number(month) - 1 ||
    calendar.getUTCDate() !== Number(day) ||
    Number(hour) > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    throw new InputError(field, `not a real date and time: "${value}"`);
  }
  const offset =
    zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3).replace(':', '') || '00'}`;
  const date = new Date(
    `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction.slice(0, 4)}${offset}`,
  );
  if (Number.isNaN(date.getTime())) throw new InputError(field, `invalid timestamp "${value}"`);
  return date.toISOString();
}

export function nowTimestamp(): string {
  return new Date().toISOString();
}

/**
 * JSON text with object keys sorted by UTF-16 code units (never by locale, and not in
 * JavaScript's own order, which puts integer-like keys first) at every depth: equal content
 * gives equal text, whatever the key order it was written in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort(byCodeUnits);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  // Numbers: JSON.parse already reduced 1.0, 1e2 and jsonb's 100 to the same double.
  return JSON.stringify(value) ?? 'null';
}

export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
