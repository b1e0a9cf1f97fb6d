import type { ApiKey, Store, User } from '../storage/index.js';
import { generateApiKey, hashApiKey } from './api-key.js';
import { databaseIdentity, noteServerStarted, saveCredential } from './credentials.js';
import { generatePassword, hashPassword, type ScryptParams } from './passwords.js';

export const ADMIN_EMAIL = 'admin@localhost';

export interface Bootstrapped {
  readonly user: User;
  readonly apiKey: ApiKey;
  /** The key itself: print it once, then it exists only in the credentials file. */
  readonly key: string;
  readonly credentialsFile: string;
  /** The name the key is saved under in that file (`--credential`, `SWARM_CREDENTIAL`). */
  readonly credentialName: string;
  /** A generated password for the admin: print it once. Null when given or not asked for. */
  readonly password: string | null;
}

export interface BootstrapOptions {
  /**
   * The admin's password for signing in (`swarm start` always sets one): `generate` makes one
   * (returned once), `{ given }` takes SWARM_ADMIN_PASSWORD's. Absent: none, the key only.
   */
  readonly password?: 'generate' | { readonly given: string };
  /** How it is hashed. @default OWASP's (CURRENT_SCRYPT) */
  readonly passwordParams?: ScryptParams;
}

/**
 * On a store's first start: creates the admin user (with a password when asked) and an admin API
 * key, and saves the key for the local CLI beside any other database's (never over one). Returns
 * null when an admin already exists — several servers starting at once on one database create it
 * exactly once (the email is unique).
 */
export async function bootstrapAdmin(
  store: Store,
  home: string,
  serverUrl: string,
  options: BootstrapOptions = {},
): Promise<Bootstrapped | null> {
  const user = await store.system.insertUserIfAbsent({
    name: 'Administrator',
    email: ADMIN_EMAIL,
    role: 'admin',
  });
  if (user === null) return null;
  // Hashed once the admin is known to be new: later starts do not pay for a hash.
  const password =
    options.password === undefined
      ? null
      : options.password === 'generate'
        ? generatePassword()
        : options.password.given;
  if (password !== null)
    await store.system.setPasswordHash(user.id, await hashPassword(password, options.passwordParams));
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
  const saved = await saveCredential(home, {
    apiKey: generated.key,
    database: databaseIdentity(store.handle.description),
    url: serverUrl,
  });
  return {
    user,
    apiKey,
    key: generated.key,
    credentialsFile: saved.file,
    credentialName: saved.name,
    password: options.password === 'generate' ? password : null,
  };
}

/**
 * On every later start: the CLI's saved credential for this database learns where its server
 * now listens (the port may have changed). A credential saved before credentials named their
 * database is claimed by the database that holds its key.
 */
export async function rememberServer(store: Store, home: string, serverUrl: string): Promise<void> {
  await noteServerStarted(
    home,
    { database: databaseIdentity(store.handle.description), url: serverUrl },
    async (key) => (await store.system.findApiKeyByHash(hashApiKey(key))) !== null,
  );
}
