import type { ColumnInfo } from '../storage/index.js';

export interface CopyOptions {
  /** Source database URL. It must already be at this code's latest schema; it is never written. */
  readonly from: string;
  /** Target database URL. Migrated to the latest schema here; it must hold no rows unless `overwrite`. */
  readonly to: string;
  /** Delete the rows already in the target (in the same transaction as the copy). @default false */
  readonly overwrite?: boolean;
  /** Most rows read per query. Very wide or very large rows shrink it further. @default 1000 */
  readonly batchSize?: number;
  /** Called after each batch with the rows copied so far into `table` (and once with 0 for an empty table). */
  readonly onProgress?: (table: string, rows: number) => void;
  /** Resolves relative SQLite paths. @default process.cwd() */
  readonly cwd?: string;
}

export interface TableCopyReport {
  readonly table: string;
  readonly sourceRows: number;
  readonly targetRows: number;
  readonly sourceChecksum: string;
  readonly targetChecksum: string;
  /** Row counts and checksums are equal. */
  readonly match: boolean;
}

export interface CopyReport {
  /** Where the data came from, without credentials. */
  readonly from: string;
  /** Where it went, without credentials. */
  readonly to: string;
  /** Every copied table, in the order the migrations create them. */
  readonly tables: TableCopyReport[];
  readonly totalRows: number;
  readonly durationMs: number;
}

export interface TableChecksum {
  readonly table: string;
  readonly rows: number;
  /** 64 hex digits: the sum mod 2^256 of each row's SHA-256, so row order does not matter. */
  readonly checksum: string;
}

/** A data table as both databases' catalogues describe it. */
export interface TableSchema {
  readonly name: string;
  readonly columns: readonly ColumnInfo[];
}
