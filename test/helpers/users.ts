import { generateApiKey } from '../../src/auth/index.js';
import type { ApiKey, Store } from '../../src/storage/index.js';

/** A second, ordinary user with an API key of their own (every scope a member has): for tenancy tests. */
export async function memberWithKey(
  store: Store,
  user: { name: string; email: string },
  keyName: string,
): Promise<{ key: string; apiKey: ApiKey }> {
  const member = (await store.system.insertUserIfAbsent({ ...user, role: 'member' }))!;
  const generated = generateApiKey();
  const apiKey = await store
    .as({ userId: member.id, role: 'member' })
    .apiKeys.create({ name: keyName, prefix: generated.prefix, hash: generated.hash, scopes: ['*'] });
  return { key: generated.key, apiKey };
}
