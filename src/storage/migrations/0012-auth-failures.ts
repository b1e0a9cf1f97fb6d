import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** What failed to authenticate: an API key on /api/v1, or a webhook delivery's signature. */
export const AUTH_FAILURE_KINDS = ['api_key', 'webhook'] as const;

/**
 * Failed authentications, counted instead of logged one row each: a caller who can reach the
 * port could otherwise grow audit_logs by a row per request. One row per window (a minute by
 * default), source address, key prefix (API keys) or trigger (webhooks), and reason, whose
 * `attempts` grows by upsert. Writers also bound how many distinct rows one window gets (see
 * src/auth/failures.ts), so a caller varying the key or the address cannot multiply them.
 *
 * Absent values are '' rather than NULL, so the unique constraint treats them as equal on both
 * dialects. `owner_id` is the trigger's owner for webhooks (they see their rejected deliveries),
 * NULL for API keys (admins see those).
 */
export const authFailures: Migration = {
  version: 12,
  name: 'auth-failures',
  async up(db, dialect) {
    await table(db, dialect, 'auth_failures')
      .id()
      .owner({ nullable: true })
      .text('kind', { notNull: true, check: oneOf('kind', AUTH_FAILURE_KINDS) })
      .timestamp('window_start', { notNull: true })
      .text('ip_address', { notNull: true, default: '' })
      .text('key_prefix', { notNull: true, default: '' })
      .text('resource_id', { notNull: true, default: '' })
      .text('reason', { notNull: true })
      .integer('attempts', { notNull: true, check: 'attempts > 0' })
      .timestamp('first_at', { notNull: true })
      .timestamp('last_at', { notNull: true })
      .text('user_agent')
      .unique('bucket', ['kind', 'window_start', 'ip_address', 'key_prefix', 'resource_id', 'reason'])
      .create();
    await createIndex(db, dialect, 'idx_auth_failures_window', 'auth_failures', ['window_start desc']);
    await createIndex(db, dialect, 'idx_auth_failures_owner', 'auth_failures', [
      'owner_id',
      'window_start desc',
    ]);
  },
};
