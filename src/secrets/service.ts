import { InputError, NotFoundError, SwarmError } from '../errors/index.js';
import type { Caller, SealedSecret, SecretRecord, Store } from '../storage/index.js';
import { decryptValue, encryptValue, openText, sealText } from './crypto.js';
import type { Keyring } from './keyring.js';

/**
 * Secret names: a letter or `_`, then letters, digits and `_`, at most 100 characters (the
 * longest path parameter the HTTP router takes) — names an agent's `secret:NAME` permission can
 * grant, and valid environment variable names. Case matters.
 */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
/** The largest value, in UTF-8 bytes. */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;

export interface SetSecretInput {
  readonly name: string;
  readonly value: string;
  /** Scope the secret to this workflow (all its versions); global when absent. */
  readonly workflow?: string;
}

/** The names an agent's permissions grant: `secret:NAME` → NAME. */
export function grantedSecretNames(permissions: readonly string[]): string[] {
  return [
    ...new Set(permissions.filter((p) => p.startsWith('secret:')).map((p) => p.slice('secret:'.length))),
  ];
}

export function checkSecretName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !SECRET_NAME_PATTERN.test(name)) {
    throw new InputError(
      field,
      'must start with a letter or _ and hold only letters, digits and _ (at most 100 characters), e.g. GITHUB_TOKEN',
    );
  }
  return name;
}

/** Checks a value without ever quoting it. */
export function checkSecretValue(value: unknown, field = 'value'): string {
  if (typeof value !== 'string') throw new InputError(field, 'must be a string');
  if (value === '') throw new InputError(field, 'must not be empty');
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > SECRET_VALUE_MAX_BYTES)
    throw new InputError(field, `must be at most ${SECRET_VALUE_MAX_BYTES} bytes (UTF-8), got ${bytes}`);
  return value;
}

/**
 * Secrets for callers (set, list, remove: values go in, never out) and for the worker
 * (`resolve`). Every value is encrypted with the keyring's current master key, bound to its row
 * and owner.
 */
export class SecretsService {
  constructor(
    private readonly store: Store,
    readonly keyring: Keyring,
  ) {}

  /** Creates or replaces the caller's secret; the answer never holds the value. */
  async set(caller: Caller, input: SetSecretInput): Promise<{ secret: SecretRecord; created: boolean }> {
    const name = checkSecretName(input.name);
    const value = checkSecretValue(input.value);
    if (input.workflow !== undefined && (typeof input.workflow !== 'string' || input.workflow === ''))
      throw new InputError('workflow', 'must be a workflow name');
    return this.store
      .as(caller)
      .secrets.set({ name, ...(input.workflow === undefined ? {} : { workflow: input.workflow }) }, (id) => {
        // Read inside the write transaction: after a rotation this is already the new version.
        const { version, key } = this.keyring.current();
        return {
          encryptedValue: encryptValue(key, value, { id, ownerId: caller.userId }),
          keyVersion: version,
        };
      });
  }

  list(caller: Caller): Promise<SecretRecord[]> {
    return this.store.as(caller).secrets.list();
  }

  /** Removes the caller's secret (the global one, or the one scoped to `workflow`). */
  async remove(caller: Caller, name: string, workflow?: string): Promise<SecretRecord> {
    const removed = await this.store.as(caller).secrets.remove(name, workflow);
    if (removed === null)
      throw new NotFoundError('secret', workflow === undefined ? name : `${name} (workflow ${workflow})`);
    return removed;
  }

  /**
   * The values of the owner's secrets `names`, for a step whose agent's permissions grant them
   * (see `grantedSecretNames`). With `workflow`, a secret scoped to that workflow wins over a
   * global one of the same name. Throws NOT_FOUND naming every name that is not set, and
   * SECRET_UNREADABLE / MASTER_KEY_MISSING when one does not decrypt. Hand the result to a
   * `Redactor` before anything the step produces is stored or logged.
   */
  async resolve(
    ownerId: string,
    names: readonly string[],
    options: { readonly workflow?: string } = {},
  ): Promise<Record<string, string>> {
    const wanted = [...new Set(names)];
    if (wanted.length === 0) return {};
    const rows = await this.store
      .as({ userId: ownerId, role: 'member' })
      .secrets.sealed(wanted, options.workflow);
    const chosen = new Map<string, SealedSecret>();
    for (const row of rows) {
      const seen = chosen.get(row.name);
      if (seen === undefined || (seen.scope === 'global' && row.scope === 'workflow'))
        chosen.set(row.name, row);
    }
    const absent = wanted.filter((name) => !chosen.has(name));
    if (absent.length > 0) {
      throw new SwarmError(
        'NOT_FOUND',
        `secret${absent.length > 1 ? 's' : ''} not set: ${absent.join(', ')} (set with \`swarm secrets set\`)`,
        { context: { what: 'secret', names: absent } },
      );
    }
    const values: Record<string, string> = {};
    for (const name of wanted) values[name] = this.decrypt(chosen.get(name)!);
    return values;
  }

  /** One stored value in the clear; for the worker and key rotation only. */
  decrypt(secret: SealedSecret): string {
    const what = `secret ${secret.name}${secret.workflow === null ? '' : ` (workflow ${secret.workflow})`}`;
    if (secret.keyVersion === 0) {
      throw new SwarmError(
        'SECRET_UNREADABLE',
        `${what} was imported from a legacy registry and is encrypted under a key Swarm does not hold: ` +
          'set it again with `swarm secrets set`',
      );
    }
    const key = this.keyring.key(secret.keyVersion);
    return decryptValue(key, secret.encryptedValue, { id: secret.id, ownerId: secret.ownerId }, what);
  }
}

/** What `rotateMasterKey` did. */
export interface RotationReport {
  /** `file`, `SWARM_MASTER_KEY` or `SWARM_MASTER_KEYS`. */
  readonly keySource: string;
  /** The key file's path, or the variable's name. */
  readonly keys: string;
  /** The version every secret is now encrypted under. */
  readonly version: number;
  /** Whether this rotation made that version (key file), or found it configured (variables). */
  readonly added: boolean;
  readonly reencrypted: number;
  readonly alreadyCurrent: number;
  /** Legacy secrets (key version 0) nobody can decrypt: left alone, listed by `swarm secrets list`. */
  readonly legacy: number;
  /** Set by someone else while the rotation ran: left as written. */
  readonly changedMeanwhile: number;
  /** Webhook signing secrets (of triggers and outgoing webhooks) sealed again under the new version. */
  readonly resealed: number;
  /** Each version still in the keyring or still used, with how many secrets use it now. */
  readonly versions: ReadonlyArray<{
    readonly version: number;
    readonly secrets: number;
    readonly configured: boolean;
  }>;
  /** Versions dropped from the key file because no secret uses them. */
  readonly removedVersions: readonly number[];
}

/**
 * Re-encrypts every secret of every owner under the newest master key, in one transaction. With
 * a key file it first adds a new version; with SWARM_MASTER_KEYS the newest version there is the
 * target, and when every secret already uses it this throws MASTER_KEY_READONLY saying how to add
 * one. Afterwards, versions no secret uses are dropped from the key file — except the one this
 * rotation replaced, which processes that read the file before it may still be writing with for
 * a moment; the next rotation drops it.
 */
export async function rotateMasterKey(store: Store, keyring: Keyring): Promise<RotationReport> {
  let target: { version: number; key: Buffer };
  let previous: number | null = null;
  let added = false;
  if (keyring.writable) {
    const before = keyring.versions();
    if (before.length === 0) {
      target = keyring.current();
    } else {
      previous = keyring.current().version;
      target = keyring.addVersion();
    }
    added = true;
  } else {
    target = keyring.current();
    const counts = await store.system.countSecretsByKeyVersion();
    const stale = [...counts.entries()].some(
      ([version, n]) => version > 0 && version !== target.version && n > 0,
    );
    if (!stale) keyring.addVersion(); // throws MASTER_KEY_READONLY, with what to do
  }
  const service = new SecretsService(store, keyring);
  const result = await store.system.reencryptSecrets(target.version, (secret) => {
    const value = service.decrypt(secret);
    return encryptValue(target.key, value, { id: secret.id, ownerId: secret.ownerId });
  });
  // Webhook signing secrets are sealed under the same keys: moved over too, before any is dropped.
  const resealed = await store.system.resealTexts((sealed, binding) =>
    sealed.startsWith(`v${target.version}:`) || !/^v\d+:/.test(sealed)
      ? null
      : sealText(
          { current: () => target },
          openText(keyring, sealed, binding, 'a webhook signing secret'),
          binding,
        ),
  );
  const counts = await store.system.countSecretsByKeyVersion();
  const sealedCounts = await store.system.countSealedTextsByKeyVersion();
  const removedVersions: number[] = [];
  if (keyring.writable) {
    for (const version of keyring.versions()) {
      if (
        version === target.version ||
        version === previous ||
        (counts.get(version) ?? 0) > 0 ||
        (sealedCounts.get(version) ?? 0) > 0
      )
        continue;
      removedVersions.push(version);
    }
    if (removedVersions.length > 0) keyring.removeVersions(removedVersions);
  }
  const configured = new Set(keyring.versions());
  const versions = [...new Set([...configured, ...counts.keys()])]
    .sort((a, b) => a - b)
    .map((version) => ({ version, secrets: counts.get(version) ?? 0, configured: configured.has(version) }));
  return {
    keySource: keyring.source,
    keys: keyring.description,
    version: target.version,
    added,
    ...result,
    resealed,
    versions,
    removedVersions,
  };
}
