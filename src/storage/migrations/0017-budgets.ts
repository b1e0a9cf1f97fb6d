import { createIndex, oneOf, table, type Migration } from './ddl.js';

/**
 * What model calls may spend, and how fast (issue 15):
 * - `owner_budgets`: an owner's cap per UTC day or month, in tokens and/or US dollars, checked
 *   before every model call against the `metrics` rows of their calls;
 * - `provider_usage_windows`: requests and tokens per provider and minute, shared by every
 *   worker, for a provider's `requests_per_minute` / `tokens_per_minute` limits.
 */
export const budgets: Migration = {
  version: 17,
  name: 'budgets',
  async up(db, dialect) {
    await table(db, dialect, 'owner_budgets')
      .id()
      .owner()
      .text('period', { notNull: true, check: oneOf('period', ['day', 'month']) })
      .bigint('max_tokens', { check: 'max_tokens IS NULL OR max_tokens > 0' })
      .real('max_cost_usd', { check: 'max_cost_usd IS NULL OR max_cost_usd > 0' })
      .timestamps()
      .unique('period', ['owner_id', 'period'])
      .check('some_limit', 'max_tokens IS NOT NULL OR max_cost_usd IS NOT NULL')
      .create();

    await table(db, dialect, 'provider_usage_windows')
      .id()
      .owner()
      .text('provider', { notNull: true })
      .timestamp('window_start', { notNull: true })
      .integer('requests', { notNull: true, default: 0, check: 'requests >= 0' })
      .bigint('tokens', { notNull: true, default: 0, check: 'tokens >= 0' })
      .unique('window', ['owner_id', 'provider', 'window_start'])
      .create();
    await createIndex(db, dialect, 'idx_provider_usage_windows_start', 'provider_usage_windows', [
      'window_start',
    ]);
  },
};
