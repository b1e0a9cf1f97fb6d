import { createHash } from 'node:crypto';
import { byCodeUnits, canonicalJson, toDbTimestamp, type ColumnInfo } from '../storage/index.js';

/**
 * One canonical text per row, equal on SQLite and PostgreSQL whenever the data is the same:
 * the two dialects hand the same values back in slightly different shapes (booleans as 0/1 or
 * true/false, JSON re-serialised by jsonb, unsafe bigints as strings), so each value is
 * normalised by its column's logical type before hashing.
 */

// One canonical JSON for the whole project: the storage layer's.
export { canonicalJson, byCodeUnits };

/** A number as a JSON literal; non-finite ones (JSON has none) as tagged strings, never as null. */
function numberLiteral(value: number): string {
  return Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify(`number:${value}`);
}

/** Values a column should not hold are still hashed (tagged with their JS type), never dropped. */
function odd(value: unknown): string {
  const text = Buffer.isBuffer(value) ? value.toString('base64') : String(value);
  return JSON.stringify(`${typeof value}:${text}`);
}

/** The canonical JSON fragment of one value of a column. */
export function canonicalValue(type: ColumnInfo['type'], value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (type) {
    case 'text':
      return typeof value === 'string' ? JSON.stringify(value) : odd(value);
    case 'json': {
      if (typeof value !== 'string') return odd(value);
      // As a string, so the JSON value `null` stays distinct from SQL NULL.
      try {
        return JSON.stringify(canonicalJson(JSON.parse(value)));
      } catch {
        return odd(value);
      }
    }
    case 'boolean':
      if (value === true || value === 1) return 'true';
      if (value === false || value === 0) return 'false';
      return odd(value);
    case 'timestamp': {
      if (typeof value !== 'string') return odd(value);
      try {
        return JSON.stringify(toDbTimestamp(value));
      } catch {
        return odd(value);
      }
    }
    case 'blob':
      return Buffer.isBuffer(value) || value instanceof Uint8Array
        ? JSON.stringify(Buffer.from(value).toString('base64'))
        : odd(value);
    case 'integer':
    case 'bigint':
    case 'real':
      if (typeof value === 'number') return numberLiteral(value);
      if (typeof value === 'bigint') return value.toString();
      // PostgreSQL hands back bigints beyond 2^53 as their digits.
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return value.replace(/^(-?)0+(?=\d)/, '$1');
      return odd(value);
  }
}

/** Columns in name order, the order every row's canonical form uses. */
export function canonicalColumnOrder(columns: readonly ColumnInfo[]): ColumnInfo[] {
  return [...columns].sort((a, b) => byCodeUnits(a.name, b.name));
}

/** A row's canonical form: a JSON array of its normalised values in column-name order. */
export function canonicalRow(sortedColumns: readonly ColumnInfo[], row: Record<string, unknown>): string {
  return `[${sortedColumns.map((c) => canonicalValue(c.type, row[c.name])).join(',')}]`;
}

const MODULUS_MASK = (1n << 256n) - 1n;

/** Sum mod 2^256 of per-row SHA-256 digests: independent of row order, sensitive to every row. */
export class TableHasher {
  private sum = 0n;
  rows = 0;

  constructor(private readonly sortedColumns: readonly ColumnInfo[]) {}

  add(row: Record<string, unknown>): void {
    const digest = createHash('sha256').update(canonicalRow(this.sortedColumns, row), 'utf8').digest('hex');
    this.sum = (this.sum + BigInt(`0x${digest}`)) & MODULUS_MASK;
    this.rows += 1;
  }

  get checksum(): string {
    return this.sum.toString(16).padStart(64, '0');
  }
}
