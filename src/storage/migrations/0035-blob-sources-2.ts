import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import { BLOB_SOURCES as RUN_AND_DELIVERY_SOURCES } from './0034-blob-sources.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

/**
 * The tables whose rows reference blobs: 0034's, a task chain's copies of its steps' outputs
 * (`task_chains`), a debounced trigger's pending data (`trigger_debounces`) and a waitpoint's
 * result (`waitpoints`).
 */
export const BLOB_SOURCES = [
  ...RUN_AND_DELIVERY_SOURCES,
  'task_chains',
  'trigger_debounces',
  'waitpoints',
] as const;

/**
 * `blob_refs.source` widened to BLOB_SOURCES (docs/payloads.md). Nothing references
 * `blob_refs`, so SQLite rebuilds it without switching foreign keys off. The rebuild is 0034's,
 * repeated here: a migration once released never changes, so it is not shared.
 */
export const blobSources2: Migration = {
  version: 35,
  name: 'blob-sources-2',
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
  await sql`ALTER TABLE blob_refs RENAME TO blob_refs_0034`.execute(db);
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
  await sql`INSERT INTO blob_refs (${columns}) SELECT ${columns} FROM blob_refs_0034`.execute(db);
  await sql`DROP TABLE blob_refs_0034`.execute(db);
  await createIndex(db, dialect, 'idx_blob_refs_owner', 'blob_refs', ['owner_id', 'sha256']);
  await createIndex(db, dialect, 'idx_blob_refs_source', 'blob_refs', ['source', 'source_id']);
}
