import type { Store } from '../../src/storage/index.js';

/**
 * Lifts every API key's rate limits out of reach: for tests that poll the API faster than a
 * default key's 60 requests a minute allow. Set before the key's first request (a server reads a
 * key's limits again only every 30 s).
 */
export async function liftRateLimits(store: Store): Promise<void> {
  await store.handle.db
    .updateTable('api_keys')
    .set({ rate_limit_per_minute: 1_000_000_000, rate_limit_per_hour: 1_000_000_000 })
    .execute();
}
