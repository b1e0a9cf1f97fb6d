import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { InputError } from '../errors/index.js';
import { depthMessage, measureJson } from './json-guard.js';

/**
 * A new row id: UUIDv7, so ids sort by creation time and index pages fill in order — and, within
 * this process, in the order they were made (the same millisecond counts on, as uuid's own v7
 * does). The random bytes come from a pool filled 256 ids at a time: uuid asks the system for 16
 * bytes per id, which cost a queue enqueueing tens of thousands of tasks a second more than
 * anything else it did in Node.
 */
export function newId(): string {
  const now = Date.now();
  if (now > clock.msecs) {
    clock.msecs = now;
    clock.seq = -1; // drawn from this id's random bytes below
  } else {
    clock.seq = (clock.seq + 1) | 0;
    if (clock.seq === 0) clock.msecs++; // 2^31 ids in one millisecond: borrow the next one
  }
  if (pool.offset + 16 > pool.bytes.length) {
    randomFillSync(pool.bytes);
    pool.offset = 0;
  }
  const random = pool.bytes.subarray(pool.offset, pool.offset + 16);
  pool.offset += 16;
  // A new millisecond starts its sequence at random (31 bits, as uuid does), leaving room to count.
  if (clock.seq === -1)
    clock.seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  return uuidv7({ random, msecs: clock.msecs, seq: clock.seq });
}

const clock = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };
const pool = { bytes: new Uint8Array(16 * 256), offset: 16 * 256 };

/**
 * The deepest JSON Swarm stores. JSON.stringify recurses, and overflows the stack somewhere past
 * 2,500 levels (less with a replacer, or when called deep in a stack already): below that, with
 * room to spare. Request bodies are held to far less (SWARM_BODY_MAX_DEPTH); this bounds what
 * agents and expressions produce.
 */
export const MAX_STORED_JSON_DEPTH = 1000;

/**
 * JSON is stored as text on SQLite and JSONB on PostgreSQL; both read back as text. A value
 * nested deeper than MAX_STORED_JSON_DEPTH is refused with an error naming `field`, instead of
 * a stack overflow. One iterative pass measures the depth and looks for text to clean; only a
 * value that has some pays for the replacer.
 */
export function toDbJson(value: unknown, field = 'value'): string {
  const { tooDeep, dirty } = measureJson(value, MAX_STORED_JSON_DEPTH, needsCleaning);
  if (tooDeep) throw new InputError(field, depthMessage(MAX_STORED_JSON_DEPTH));
  return dirty ? JSON.stringify(value, cleanJsonStrings) : JSON.stringify(value);
}

function needsCleaning(text: string): boolean {
  return text.includes('\u0000') || !text.isWellFormed();
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
  // Iterative, so no depth of input can overflow the stack: a stack of what is left to write,
  // each either text as it is (`Literal`) or a value to serialise.
  const out: string[] = [];
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const item = todo.pop();
    if (item instanceof Literal) {
      out.push(item.text);
    } else if (Array.isArray(item)) {
      todo.push(CLOSE_ARRAY);
      for (let i = item.length - 1; i >= 0; i--) {
        todo.push(item[i]);
        if (i > 0) todo.push(COMMA);
      }
      out.push('[');
    } else if (item !== null && typeof item === 'object') {
      const record = item as Record<string, unknown>;
      const keys = Object.keys(record).sort(byCodeUnits);
      todo.push(CLOSE_OBJECT);
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push(record[keys[i]!], new Literal(`${JSON.stringify(keys[i])}:`));
        if (i > 0) todo.push(COMMA);
      }
      out.push('{');
    } else {
      // Numbers: JSON.parse already reduced 1.0, 1e2 and jsonb's 100 to the same double.
      out.push(JSON.stringify(item) ?? 'null');
    }
  }
  return out.join('');
}

/** Text canonicalJson writes as it is, told apart from string values by its class. */
class Literal {
  constructor(readonly text: string) {}
}
const COMMA = new Literal(',');
const CLOSE_ARRAY = new Literal(']');
const CLOSE_OBJECT = new Literal('}');

export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
