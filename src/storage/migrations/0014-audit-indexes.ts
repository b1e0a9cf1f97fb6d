import { createIndex, type Migration } from './ddl.js';

/**
 * The audit log is read newest first a page at a time (keyset on created_at, id): by owner for
 * members, by actor, and by resource. These indexes serve those pages without a sort of the
 * whole log; admins' unfiltered pages and retention use 0001's index on created_at.
 */
export const auditIndexes: Migration = {
  version: 14,
  name: 'audit-indexes',
  async up(db, dialect) {
    await createIndex(db, dialect, 'idx_audit_logs_owner_created', 'audit_logs', [
      'owner_id',
      'created_at desc',
      'id desc',
    ]);
    await createIndex(db, dialect, 'idx_audit_logs_actor_created', 'audit_logs', [
      'actor_id',
      'created_at desc',
      'id desc',
    ]);
    await createIndex(db, dialect, 'idx_audit_logs_resource', 'audit_logs', [
      'resource_type',
      'resource_id',
      'created_at desc',
    ]);
  },
};
