import { toDbBool, toDbJson, toDbTimestamp } from '../storage/index.js';
import type { LegacyRow } from './source.js';

/**
 * Converts one legacy row's values to Swarm's storage forms. Legacy data is whatever an old
 * engine wrote into SQLite's dynamic types, so nothing here throws: a value that cannot be
 * read becomes a warning naming table, row and column, and a safe fallback.
 */
export class RowReader {
  constructor(
    readonly table: string,
    readonly row: LegacyRow,
    private readonly warnings: string[],
  ) {}

  get id(): string {
    return String(this.row.id ?? this.row.vm_id ?? '?');
  }

  warn(message: string): void {
    this.warnings.push(`${this.table} ${this.id}: ${message}`);
  }

  /**
   * The first of `columns` the row has a value for, and that column's name: 000 and 003 name
   * some columns differently (`input_schema` / `inputs_schema`), and a column the file lacks
   * reads as null.
   */
  pick(...columns: string[]): { column: string; value: unknown } {
    for (const column of columns) {
      const value = this.row[column];
      if (value !== undefined && value !== null) return { column, value };
    }
    return { column: columns[0] ?? '?', value: null };
  }

  raw(...columns: string[]): unknown {
    return this.pick(...columns).value;
  }

  text(...columns: string[]): string | null {
    const value = this.raw(...columns);
    if (value === null) return null;
    return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }

  /** A whole number, or null (with a warning when there was something unreadable). */
  int(column: string): number | null {
    const value = this.raw(column);
    if (value === null) return null;
    const n = typeof value === 'bigint' ? Number(value) : Number(String(value).trim());
    if (!Number.isFinite(n)) {
      this.warn(`${column} is not a number ("${String(value)}")`);
      return null;
    }
    return Math.trunc(n);
  }

  /**
   * JSON text for a json column. Legacy `JSON` columns have NUMERIC affinity, so a value may come
   * back as a number rather than text. Text that does not parse is kept, as a JSON string.
   */
  json(...columns: string[]): string | null {
    const { column, value } = this.pick(...columns);
    if (value === null) return null;
    if (typeof value === 'number' || typeof value === 'bigint') return toDbJson(Number(value));
    const text = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
    try {
      return toDbJson(JSON.parse(text));
    } catch {
      this.warn(`${column} is not valid JSON; kept as a JSON string`);
      return toDbJson(text);
    }
  }

  /**
   * A canonical ISO UTC timestamp. SQLite's CURRENT_TIMESTAMP writes `YYYY-MM-DD HH:MM:SS` in UTC
   * without a zone, so a zoneless value is read as UTC; numbers are Unix seconds (or
   * milliseconds when too large for seconds). Unreadable → warning and null; the caller
   * picks the fallback for NOT NULL columns.
   */
  timestamp(...columns: string[]): string | null {
    const { column, value } = this.pick(...columns);
    if (value === null || value === '') return null;
    try {
      if (typeof value === 'number' || typeof value === 'bigint') {
        const n = Number(value);
        return toDbTimestamp(new Date(n > 1e11 ? n : n * 1000));
      }
      let text = String(value).trim();
      if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += 'T00:00:00';
      if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/i.test(text)) text += 'Z';
      // ±HH and ±HHMM offsets pass toDbTimestamp's check but not Date's parser: write ±HH:MM.
      text = text.replace(/([+-]\d{2}):?(\d{2})?$/, (zone, h: string, m?: string) =>
        /[T ]\d{2}:\d{2}/.test(text) ? `${h}:${m ?? '00'}` : zone,
      );
      return toDbTimestamp(text, column);
    } catch {
      this.warn(`${column} is not a timestamp ("${String(value)}")`);
      return null;
    }
  }

  /** 0/1 for a boolean column; legacy rows hold 0/1, 'true'/'false', or nothing (the default). */
  bool(column: string, fallback: boolean): 0 | 1 {
    const value = this.raw(column);
    if (value === null) return toDbBool(fallback);
    const text = String(value).trim().toLowerCase();
    if (['1', 'true', 't', 'yes'].includes(text)) return toDbBool(true);
    if (['0', 'false', 'f', 'no'].includes(text)) return toDbBool(false);
    this.warn(`${column} is not a boolean ("${String(value)}"); used ${String(fallback)}`);
    return toDbBool(fallback);
  }

  /**
   * A value from an allowed set (after `map`); anything else warns and becomes `fallback`.
   * A missing value becomes `ifNull` (the legacy column's default), silently.
   */
  oneOf<T extends string>(
    columns: string | readonly string[],
    allowed: readonly T[],
    fallback: T,
    options: { ifNull?: T; map?: (value: string) => string } = {},
  ): T {
    const { column } = this.pick(...(typeof columns === 'string' ? [columns] : columns));
    const value = this.text(column);
    if (value === null) return options.ifNull ?? fallback;
    const mapped = options.map ? options.map(value) : value;
    if ((allowed as readonly string[]).includes(mapped)) return mapped as T;
    this.warn(`${column} "${value}" is not one of ${allowed.join(', ')}; imported as ${fallback}`);
    return fallback;
  }
}
