import { createIndex, type Migration } from './ddl.js';

/**
 * The flow-key listing (GET /api/v1/queue/keys, refreshed every 3 s by the dashboard) fills its
 * 500 rows with the most recently set keys. With only an index on `owner_id`, that sorted every
 * key (an owner's, or all of them for an admin): 500,000 keys took 105 ms for an owner and
 * 182 ms for an admin on PostgreSQL, both cores busy. Ordered by these indexes, read backwards,
 * it reads 501 entries. `owner_id` lookups use the first one as they used the index it replaces.
 * A claim's `wake_at` update touches none of these columns (its updates stay HOT).
 */
export const flowKeysListing: Migration = {
  version: 47,
  name: 'flow-keys-listing',
  async up(db, dialect) {
    await db.schema.dropIndex('idx_flow_keys_owner').execute();
    await createIndex(db, dialect, 'idx_flow_keys_owner_updated', 'flow_keys', [
      'owner_id',
      'updated_at',
      'key',
    ]);
    await createIndex(db, dialect, 'idx_flow_keys_updated', 'flow_keys', ['updated_at', 'key']);
  },
};
