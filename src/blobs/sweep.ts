/**
 * The blob sweep, run after each retention pass: references whose row is gone are dropped, then
 * blobs nothing references are deleted. Both spare what is younger than the grace period: a
 * writer records its reference (and moves the blob's `last_referenced_at`) before the row that
 * holds it commits, and must not find its blob swept in between.
 */
import { rm } from 'node:fs/promises';
import { sql } from 'kysely';
import { BLOB_SOURCES, toDbTimestamp } from '../storage/index.js';
import { blobSettings } from './settings.js';
import { blobPath, type BlobHandle } from './store.js';

export interface SweepReport {
  readonly references: number;
  readonly blobs: number;
  readonly bytes: number;
}

export async function sweepBlobs(handle: BlobHandle, now = new Date(), limit = 1000): Promise<SweepReport> {
  const { db, dialect } = handle;
  const settings = blobSettings();
  const before = toDbTimestamp(new Date(now.getTime() - settings.graceMs));
  let references = 0;
  for (const source of BLOB_SOURCES) {
    const gone = await db
      .deleteFrom('blob_refs')
      .where('source', '=', source)
      .where('created_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom(source)
              .select(sql.lit(1).as('one'))
              .whereRef(`${source}.id`, '=', 'blob_refs.source_id'),
          ),
        ),
      )
      .executeTakeFirst();
    references += Number(gone.numDeletedRows);
  }
  const candidates = await db
    .selectFrom('blobs')
    .select(['id', 'size', 'location'])
    .where('last_referenced_at', '<', before)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('blob_refs').select(sql.lit(1).as('one')).whereRef('blob_refs.sha256', '=', 'blobs.id'),
        ),
      ),
    )
    .limit(limit)
    .execute();
  let blobs = 0;
  let bytes = 0;
  for (const candidate of candidates) {
    // Checked again as it is deleted: a writer may have referenced it since it was listed.
    const deleted = await dialect.writeTransaction(db, async (trx) => {
      const row = await trx
        .deleteFrom('blobs')
        .where('id', '=', candidate.id)
        .where('last_referenced_at', '<', before)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('blob_refs')
                .select(sql.lit(1).as('one'))
                .where('blob_refs.sha256', '=', candidate.id),
            ),
          ),
        )
        .executeTakeFirst();
      if (Number(row.numDeletedRows) === 0) return false;
      await trx.deleteFrom('blob_chunks').where('sha256', '=', candidate.id).execute();
      return true;
    });
    if (!deleted) continue;
    if (candidate.location === 'dir' && settings.dir !== null) {
      await rm(blobPath(settings.dir, candidate.id), { force: true });
    }
    blobs++;
    bytes += Number(candidate.size);
  }
  return { references, blobs, bytes };
}
