import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** Users, API keys, rate-limit windows and the audit log (seeds 001, 002, 004). */
export const identity: Migration = {
  version: 1,
  name: 'identity',
  async up(db, dialect) {
    await table(db, dialect, 'users')
      .id()
      .text('name', { notNull: true })
      .text('email', { notNull: true, unique: true })
      .text('password_hash')
      .text('role', { notNull: true, default: 'member', check: oneOf('role', ['admin', 'member']) })
      .text('status', { notNull: true, default: 'active', check: oneOf('status', ['active', 'disabled']) })
      .text('open_id')
      .timestamp('last_signed_in_at')
      .timestamps()
      .create();

    await table(db, dialect, 'api_keys')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('description')
      .text('key_prefix', { notNull: true })
      .text('key_hash', { notNull: true, unique: true })
      .json('scopes', { notNull: true, default: { json: [] } })
      .boolean('active', { notNull: true, default: true })
      .timestamp('expires_at')
      .timestamp('last_used_at')
      .integer('rate_limit_per_minute', { notNull: true, default: 60, check: 'rate_limit_per_minute > 0' })
      .integer('rate_limit_per_hour', { notNull: true, default: 1000, check: 'rate_limit_per_hour > 0' })
      .text('created_by', { references: { table: 'users', onDelete: 'set null' } })
      .timestamp('revoked_at')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_api_keys_owner_active', 'api_keys', ['owner_id', 'active']);

    await table(db, dialect, 'rate_limit_tracker')
      .id()
      .text('key_id', { notNull: true, references: { table: 'api_keys', onDelete: 'cascade' } })
      .timestamp('window_start', { notNull: true })
      .text('window_type', { notNull: true, check: oneOf('window_type', ['minute', 'hour']) })
      .integer('request_count', { notNull: true, default: 0, check: 'request_count >= 0' })
      .unique('window', ['key_id', 'window_start', 'window_type'])
      .create();

    await table(db, dialect, 'audit_logs')
      .id()
      .owner({ nullable: true })
      .text('actor_id', { references: { table: 'users', onDelete: 'set null' } })
      .text('key_id', { references: { table: 'api_keys', onDelete: 'set null' } })
      .text('event_type', { notNull: true })
      .text('action', { notNull: true })
      .text('resource_type')
      .text('resource_id')
      .text('ip_address')
      .text('user_agent')
      .boolean('success', { notNull: true })
      .text('error_message')
      .json('extra_metadata', { notNull: true, default: { json: {} } })
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_audit_logs_created', 'audit_logs', ['created_at desc']);
    await createIndex(db, dialect, 'idx_audit_logs_owner_event', 'audit_logs', ['owner_id', 'event_type']);
    await createIndex(db, dialect, 'idx_audit_logs_event_type', 'audit_logs', ['event_type']);
  },
};
