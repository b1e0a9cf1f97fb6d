/**
 * Moving a whole Swarm database between SQLite and PostgreSQL (either way, or between two of
 * the same kind) with nothing lost, verified by per-table row counts and checksums.
 */
export { copyDatabase } from './copy.js';
export { tableChecksums } from './checksum.js';
export { canonicalJson } from './canonical.js';
export type { CopyOptions, CopyReport, TableCopyReport, TableChecksum } from './types.js';
