import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import { BLOB_SOURCES as TASK_AND_EVENT_SOURCES } from './0028-blobs.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

/**
 * The tables whose rows reference blobs: 0028's, a run's own record (`workflow_runs`: its input,
 * trigger data, step outputs and result) and outgoing webhook deliveries (their event's payload).
 */
export const BLOB_SOURCES = [...TASK_AND_EVENT_SOURCES, 'workflow_runs', 'webhook_deliveries'] as const;

/**
 * `blob_refs.source` widened to BLOB_SOURCES (issue 18, docs/payloads.md). Nothing references
 * `blob_refs`, so SQLite rebuilds it without switching foreign keys off.
 */
export const blobSources: Migration = {
  version: 34,
  name: 'blob-sources',
  async up(db, dialect) {
    if (dialect.name === 'postgres') {
      await sql`ALTER TABLE blob_refs DROP CONSTRAINT chk_blob_refs_source`.execute(db);
      await sql`ALTER TABLE blob_refs ADD CONSTRAINT chk_blob_refs_source CHECK (${sql.raw(oneOf('source', BLOB_SOURCES))})`.execute(
        db,
      );
      return;
    }
    await rebuildBlobRefsOnSqlite(db, dialect);
  },
};

async function rebuildBlobRefsOnSqlite(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE blob_refs RENAME TO blob_refs_0028`.execute(db);
  // Index names are global on SQLite: they follow the renamed table and must go before the new ones.
  await sql`DROP INDEX idx_blob_refs_owner`.execute(db);
  await sql`DROP INDEX idx_blob_refs_source`.execute(db);
  await table(db, dialect, 'blob_refs')
    .id()
    .text('sha256', { notNull: true })
    .text('owner_id', { notNull: true })
    .text('source', { notNull: true, check: oneOf('source', BLOB_SOURCES) })
    .text('source_id', { notNull: true })
    .createdAt()
    .unique('ref', ['sha256', 'source', 'source_id'])
    .create();
  const columns = sql.raw('id, sha256, owner_id, source, source_id, created_at');
  await sql`INSERT INTO blob_refs (${columns}) SELECT ${columns} FROM blob_refs_0028`.execute(db);
  await sql`DROP TABLE blob_refs_0028`.execute(db);
  await createIndex(db, dialect, 'idx_blob_refs_owner', 'blob_refs', ['owner_id', 'sha256']);
  await createIndex(db, dialect, 'idx_blob_refs_source', 'blob_refs', ['source', 'source_id']);
}
