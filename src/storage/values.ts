import { v7 as uuidv7 } from 'uuid';
import { InputError } from '../errors/index.js';

/** A new row id: UUIDv7, so ids sort by creation time and index pages fill in order. */
export function newId(): string {
  return uuidv7();
}

/** JSON is stored as text on SQLite and JSONB on PostgreSQL; both read back as text. */
export function toDbJson(value: unknown): string {
  return JSON.stringify(value);
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

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * Timestamps are stored as instants at millisecond precision and read back as
 * `YYYY-MM-DDTHH:mm:ss.sssZ` on both dialects. Input must carry a zone, so nothing is
 * silently read as local time.
 */
export function toDbTimestamp(value: Date | string, field = 'timestamp'): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InputError(field, 'invalid date');
    return value.toISOString();
  }
  if (!ISO_WITH_ZONE.test(value)) {
    throw new InputError(field, `expected an ISO-8601 timestamp with a zone, got "${value}"`);
  }
  const date = new Date(value.replace(' ', 'T'));
  if (Number.isNaN(date.getTime())) throw new InputError(field, `invalid timestamp "${value}"`);
  return date.toISOString();
}

export function nowTimestamp(): string {
  return new Date().toISOString();
}
