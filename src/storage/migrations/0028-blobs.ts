import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** Where a blob's bytes are: chunks in `blob_chunks`, or a file under SWARM_BLOB_DIR. */
export const BLOB_LOCATIONS = ['db', 'dir'] as const;
/** The tables whose rows reference blobs (`blob_refs.source`). */
export const BLOB_SOURCES = ['tasks', 'events'] as const;

/**
 * Payloads without a size cap (issue 18, docs/payloads.md). A JSON value above
 * SWARM_PAYLOAD_INLINE_MAX is stored once, content-addressed by SHA-256, and its row holds a
 * small reference instead.
 *
 * - `blobs`: one row per content, its id the SHA-256; `last_referenced_at` is moved on by every writer that
 *   references it, so the sweep's grace period covers a writer that found it just before the
 *   row referencing it commits;
 * - `blob_chunks`: the bytes in ~1 MiB pieces when they live in the database (the default, so
 *   a multi-machine PostgreSQL deployment needs nothing else);
 * - `blob_refs`: which owner's row references which blob. It scopes `GET /blobs/{sha256}` to
 *   owners that reference it, and the sweep drops refs whose row is gone, then blobs without
 *   refs. No foreign keys: refs are written before their row, and rows are pruned without
 *   knowing about blobs.
 */
export const blobs: Migration = {
  version: 28,
  name: 'blobs',
  async up(db, dialect) {
    // Its id is the SHA-256 (lowercase hex): every Swarm table has a single-column key `id`.
    await table(db, dialect, 'blobs')
      .id()
      .bigint('size', { notNull: true })
      .text('location', { notNull: true, check: oneOf('location', BLOB_LOCATIONS) })
      .createdAt()
      .timestamp('last_referenced_at', { notNull: true, default: 'now' })
      .create();
    await table(db, dialect, 'blob_chunks')
      .id()
      .text('sha256', { notNull: true })
      .integer('seq', { notNull: true })
      .blob('data', { notNull: true })
      .unique('piece', ['sha256', 'seq'])
      .create();
    await table(db, dialect, 'blob_refs')
      .id()
      .text('sha256', { notNull: true })
      .text('owner_id', { notNull: true })
      .text('source', { notNull: true, check: oneOf('source', BLOB_SOURCES) })
      .text('source_id', { notNull: true })
      .createdAt()
      .unique('ref', ['sha256', 'source', 'source_id'])
      .create();
    await createIndex(db, dialect, 'idx_blob_refs_owner', 'blob_refs', ['owner_id', 'sha256']);
    await createIndex(db, dialect, 'idx_blob_refs_source', 'blob_refs', ['source', 'source_id']);
    await createIndex(db, dialect, 'idx_blobs_last_referenced', 'blobs', ['last_referenced_at']);
  },
};
