import type { ApiKey, Store, User } from '../storage/index.js';
import { generateApiKey } from './api-key.js';
import { writeCredentials } from './credentials.js';

export const ADMIN_EMAIL = 'admin@localhost';

export interface Bootstrapped {
  readonly user: User;
  readonly apiKey: ApiKey;
  /** The key itself: print it once, then it exists only in the credentials file. */
  readonly key: string;
  readonly credentialsFile: string;
}

/**
 * On a store's first start: creates the admin user and an admin API key, and saves the key for
 * the local CLI. Returns null when an admin already exists — several servers starting at once
 * on one database create it exactly once (the email is unique).
 */
export async function bootstrapAdmin(
  store: Store,
  home: string,
  serverUrl: string,
): Promise<Bootstrapped | null> {
  const user = await store.system.insertUserIfAbsent({
    name: 'Administrator',
    email: ADMIN_EMAIL,
    role: 'admin',
  });
  if (user === null) return null;
  const generated = generateApiKey();
  const caller = { userId: user.id, role: user.role };
  const scoped = store.as(caller);
  const apiKey = await scoped.apiKeys.create({
    name: 'admin',
    description: 'Created on first start',
    prefix: generated.prefix,
    hash: generated.hash,
    scopes: ['*'],
  });
  await scoped.audit.record({
    eventType: 'api_key_created',
    action: 'bootstrap',
    success: true,
    resourceType: 'api_key',
    resourceId: apiKey.id,
  });
  const credentialsFile = writeCredentials(home, { apiKey: generated.key, url: serverUrl });
  return { user, apiKey, key: generated.key, credentialsFile };
}
