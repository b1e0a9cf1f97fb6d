import type { Kysely } from 'kysely';
import type { SwarmDatabase } from '../storage/index.js';
import { isSha256 } from './store.js';

/** Whether one of `ownerId`'s rows references the blob: the only owners who may read it. */
export async function mayReadBlob(
  db: Kysely<SwarmDatabase>,
  ownerId: string,
  sha256: string,
): Promise<boolean> {
  if (!isSha256(sha256)) return false;
  const row = await db
    .selectFrom('blob_refs')
    .select('sha256')
    .where('owner_id', '=', ownerId)
    .where('sha256', '=', sha256)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
