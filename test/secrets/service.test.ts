import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import {
  grantedSecretNames,
  openKeyring,
  openText,
  rotateMasterKey,
  SecretsService,
  type Keyring,
} from '../../src/secrets/index.js';
import { Store, type Caller, type NewWorkflow } from '../../src/storage/index.js';
import { Registry } from '../../src/registry/index.js';
import { syncTriggers, webhookSecrets } from '../../src/triggers/index.js';
import { WebhookService } from '../../src/webhooks/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const workflow = (name: string, version: string): NewWorkflow => ({
  name,
  version,
  description: null,
  triggerType: 'manual',
  triggerConfig: { type: 'manual' },
  steps: [{ id: 'a' }],
  definition: { name, version },
  variables: {},
  onError: null,
  onSuccess: null,
  contentHash: `${name}@${version}`,
  tags: [],
});

const envKeyring = (keys: Record<number, Buffer>): Keyring =>
  openKeyring(
    loadConfig({
      SWARM_MASTER_KEYS: Object.entries(keys)
        .map(([v, k]) => `v${v}:${k.toString('base64')}`)
        .join(','),
    }),
  );

async function expectError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
}

describe.each(DIALECTS)('secrets storage and encryption on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let alice: Caller;
  let bob: Caller;
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const a = (await store.system.insertUserIfAbsent({ name: 'A', email: 'a@example.com', role: 'member' }))!;
    const b = (await store.system.insertUserIfAbsent({ name: 'B', email: 'b@example.com', role: 'member' }))!;
    alice = { userId: a.id, role: 'member' };
    bob = { userId: b.id, role: 'member' };
  });
  afterEach(async () => {
    await store.close();
    await testDb.drop();
  });

  const rows = () =>
    store.handle.db.selectFrom('secrets').selectAll().orderBy('name').orderBy('owner_id').execute();

  it('sets, replaces, lists without values and resolves; stored bytes hold no form of the plaintext', async () => {
    const secrets = new SecretsService(store, envKeyring({ 1: k1 }));
    const value = 'sk-live-51HhQ-very-secret';
    const first = await secrets.set(alice, { name: 'STRIPE_KEY', value });
    expect(first).toMatchObject({
      created: true,
      secret: { name: 'STRIPE_KEY', scope: 'global', workflow: null, keyVersion: 1 },
    });
    const second = await secrets.set(alice, { name: 'STRIPE_KEY', value: `${value}-2` });
    expect(second).toMatchObject({ created: false, secret: { id: first.secret.id } });
    await secrets.set(alice, { name: 'OTHER', value: 'other-value' });

    const listed = await secrets.list(alice);
    expect(listed.map((s) => s.name)).toEqual(['OTHER', 'STRIPE_KEY']);
    expect(JSON.stringify(listed)).not.toContain('secret');
    expect(listed[1]).not.toHaveProperty('value');
    expect(listed[1]).not.toHaveProperty('encryptedValue');
    expect(await secrets.list(bob)).toEqual([]);

    expect(await secrets.resolve(alice.userId, ['STRIPE_KEY', 'OTHER', 'STRIPE_KEY'])).toEqual({
      STRIPE_KEY: `${value}-2`,
      OTHER: 'other-value',
    });
    expect(await secrets.resolve(alice.userId, [])).toEqual({});
    await expectError(
      secrets.resolve(bob.userId, ['STRIPE_KEY']),
      'NOT_FOUND',
      /^secret not set: STRIPE_KEY/,
    );
    await expectError(
      secrets.resolve(alice.userId, ['NOPE', 'OTHER', 'NADA']),
      'NOT_FOUND',
      /^secrets not set: NOPE, NADA/,
    );

    const stored = (await rows()).find((r) => r.name === 'STRIPE_KEY')!;
    const bytes = Buffer.from(stored.encrypted_value);
    expect(bytes.length).toBe(12 + Buffer.byteLength(`${value}-2`) + 16);
    for (const form of ['utf8', 'base64', 'hex'] as const)
      expect(bytes.toString(form === 'utf8' ? 'latin1' : form)).not.toContain(
        Buffer.from(value).toString(form),
      );
    expect(stored.key_version).toBe(1);

    expect(grantedSecretNames(['network:http', 'secret:STRIPE_KEY', 'secret:OTHER', 'secret:OTHER'])).toEqual(
      ['STRIPE_KEY', 'OTHER'],
    );
    expect((await secrets.remove(alice, 'OTHER')).name).toBe('OTHER');
    await expectError(secrets.remove(alice, 'OTHER'), 'NOT_FOUND', /secret not found: OTHER/);
    await expectError(secrets.remove(bob, 'STRIPE_KEY'), 'NOT_FOUND', /secret not found/);
  });

  it('refuses bad names, values and workflows, naming the field and never the value', async () => {
    const secrets = new SecretsService(store, envKeyring({ 1: k1 }));
    for (const name of ['', '1ABC', 'has-dash', 'A'.repeat(101), 'sp ace'])
      await expectError(
        secrets.set(alice, { name, value: 'v-123456' }),
        'INPUT_INVALID',
        /^name: must start with a letter or _/,
      );
    await expectError(
      secrets.set(alice, { name: 'A', value: '' }),
      'INPUT_INVALID',
      /^value: must not be empty/,
    );
    await expectError(
      secrets.set(alice, { name: 'A', value: 'é'.repeat(40_000) }),
      'INPUT_INVALID',
      /^value: must be at most 65536 bytes \(UTF-8\), got 80000$/,
    );
    await expectError(
      secrets.set(alice, { name: 'A', value: 'v-123456', workflow: 'missing' }),
      'INPUT_INVALID',
      /^workflow: no workflow named "missing"/,
    );
    expect(await rows()).toEqual([]);
  });

  it('binds each value to its row and owner: copied or moved ciphertext does not decrypt', async () => {
    const secrets = new SecretsService(store, envKeyring({ 1: k1 }));
    await secrets.set(alice, { name: 'A_KEY', value: 'value-of-a' });
    await secrets.set(alice, { name: 'B_KEY', value: 'value-of-b' });
    const [a] = await rows();
    // Copy A's ciphertext into B's row: B now "holds" A's value, but it is bound to A's id.
    await store.handle.db
      .updateTable('secrets')
      .set({ encrypted_value: a!.encrypted_value })
      .where('name', '=', 'B_KEY')
      .execute();
    await expectError(
      secrets.resolve(alice.userId, ['B_KEY']),
      'SECRET_UNREADABLE',
      /^secret B_KEY cannot be decrypted: .*copied from another secret or owner/,
    );
    expect(await secrets.resolve(alice.userId, ['A_KEY'])).toEqual({ A_KEY: 'value-of-a' });
    // Hand A's row to Bob: he sees it, but it is bound to Alice.
    await store.handle.db
      .updateTable('secrets')
      .set({ owner_id: bob.userId })
      .where('name', '=', 'A_KEY')
      .execute();
    await expectError(
      secrets.resolve(bob.userId, ['A_KEY']),
      'SECRET_UNREADABLE',
      /^secret A_KEY cannot be decrypted/,
    );
  });

  it('says clearly when the master key is wrong, missing, or the value is a legacy one', async () => {
    await new SecretsService(store, envKeyring({ 1: k1 })).set(alice, {
      name: 'TOKEN',
      value: 'token-value',
    });
    const wrong = new SecretsService(store, envKeyring({ 1: randomBytes(32) }));
    await expectError(
      wrong.resolve(alice.userId, ['TOKEN']),
      'SECRET_UNREADABLE',
      /master key is not the one it was encrypted with/,
    );
    const other = new SecretsService(store, envKeyring({ 2: k2 }));
    await expectError(
      other.resolve(alice.userId, ['TOKEN']),
      'MASTER_KEY_MISSING',
      /master key version 1 is not in SWARM_MASTER_KEYS \(it has: v2\)/,
    );
    const noFile = new SecretsService(
      store,
      openKeyring(loadConfig({ SWARM_HOME: testDb.dir }), { warn: () => {} }),
    );
    await expectError(
      noFile.resolve(alice.userId, ['TOKEN']),
      'MASTER_KEY_MISSING',
      /no master key: .*master\.key does not exist/,
    );
    expect(fs.existsSync(path.join(testDb.dir, 'master.key'))).toBe(false);
    await store.handle.db.updateTable('secrets').set({ key_version: 0 }).execute();
    await expectError(
      new SecretsService(store, envKeyring({ 1: k1 })).resolve(alice.userId, ['TOKEN']),
      'SECRET_UNREADABLE',
      /imported from a legacy registry/,
    );
  });

  it('scopes a secret to a workflow (all its versions), which wins over the global one', async () => {
    await store.as(alice).workflows.insert(workflow('daily', '1.0.0'), { enabled: true, status: 'active' });
    await store.as(alice).workflows.insert(workflow('daily', '1.1.0'), { enabled: true, status: 'active' });
    await store.as(bob).workflows.insert(workflow('daily', '1.0.0'), { enabled: true, status: 'active' });
    const secrets = new SecretsService(store, envKeyring({ 1: k1 }));
    await secrets.set(alice, { name: 'TOKEN', value: 'global-token' });
    expect(
      await secrets.set(alice, { name: 'TOKEN', value: 'daily-token', workflow: 'daily' }),
    ).toMatchObject({
      created: true,
      secret: { scope: 'workflow', workflow: 'daily' },
    });
    expect(
      (await secrets.set(alice, { name: 'TOKEN', value: 'daily-token-2', workflow: 'daily' })).created,
    ).toBe(false);
    expect((await secrets.list(alice)).map((s) => [s.name, s.scope, s.workflow])).toEqual([
      ['TOKEN', 'global', null],
      ['TOKEN', 'workflow', 'daily'],
    ]);
    expect(await secrets.resolve(alice.userId, ['TOKEN'], { workflow: 'daily' })).toEqual({
      TOKEN: 'daily-token-2',
    });
    expect(await secrets.resolve(alice.userId, ['TOKEN'], { workflow: 'weekly' })).toEqual({
      TOKEN: 'global-token',
    });
    expect(await secrets.resolve(alice.userId, ['TOKEN'])).toEqual({ TOKEN: 'global-token' });
    // Bob's workflow of the same name sees none of Alice's.
    await expectError(secrets.resolve(bob.userId, ['TOKEN'], { workflow: 'daily' }), 'NOT_FOUND', /TOKEN/);
    await secrets.remove(alice, 'TOKEN', 'daily');
    expect(await secrets.resolve(alice.userId, ['TOKEN'], { workflow: 'daily' })).toEqual({
      TOKEN: 'global-token',
    });
  });

  it('rotates the key file: every owner’s secret re-encrypted under a new version, old versions dropped once unused', async () => {
    const config = loadConfig({ SWARM_HOME: testDb.dir });
    const warnings: string[] = [];
    const keyring = openKeyring(config, { warn: (m) => warnings.push(m) });
    const secrets = new SecretsService(store, keyring);
    await secrets.set(alice, { name: 'A1', value: 'alice-one' });
    await secrets.set(alice, { name: 'A2', value: 'alice-two' });
    await secrets.set(bob, { name: 'B1', value: 'bob-one' });
    expect(warnings.join('\n')).toMatch(/generated a new master key/);
    const before = await rows();
    expect(before.map((r) => r.key_version)).toEqual([1, 1, 1]);

    const report = await rotateMasterKey(store, keyring);
    expect(report).toMatchObject({
      keySource: 'file',
      keys: config.masterKeyFile,
      version: 2,
      added: true,
      reencrypted: 3,
      alreadyCurrent: 0,
      legacy: 0,
      changedMeanwhile: 0,
      removedVersions: [],
      versions: [
        { version: 1, secrets: 0, configured: true },
        { version: 2, secrets: 3, configured: true },
      ],
    });
    const after = await rows();
    expect(after.map((r) => r.key_version)).toEqual([2, 2, 2]);
    // One audit row for the rotation, in its transaction: counts, no actor, never a value.
    const audit = await store.handle.db
      .selectFrom('audit_logs')
      .selectAll()
      .where('action', '=', 'secret.rotate_key')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_id: null, resource_type: 'master_key', resource_id: 'v2' });
    expect(JSON.parse(audit[0]!.extra_metadata)).toMatchObject({ reencrypted: 3 });
    expect(audit[0]!.extra_metadata).not.toContain('alice-one');
    for (const [i, row] of after.entries()) {
      expect(row.id).toBe(before[i]!.id);
      expect(Buffer.from(row.encrypted_value).equals(Buffer.from(before[i]!.encrypted_value))).toBe(false);
    }
    // A fresh keyring on the same file (another process) reads everything.
    const again = new SecretsService(store, openKeyring(config, { warn: () => {} }));
    expect(await again.resolve(alice.userId, ['A1', 'A2'])).toEqual({ A1: 'alice-one', A2: 'alice-two' });
    expect(await again.resolve(bob.userId, ['B1'])).toEqual({ B1: 'bob-one' });
    expect(Object.keys(JSON.parse(fs.readFileSync(config.masterKeyFile, 'utf8')).keys)).toEqual(['1', '2']);

    const second = await rotateMasterKey(store, keyring);
    expect(second).toMatchObject({ version: 3, reencrypted: 3, removedVersions: [1] });
    expect(JSON.parse(fs.readFileSync(config.masterKeyFile, 'utf8'))).toMatchObject({ current: 3 });
    expect(Object.keys(JSON.parse(fs.readFileSync(config.masterKeyFile, 'utf8')).keys)).toEqual(['2', '3']);
    expect(await again.resolve(alice.userId, ['A1'])).toEqual({ A1: 'alice-one' });
    expect(fs.statSync(config.masterKeyFile).mode & 0o777).toBe(0o600);
  });

  it('rotates webhook signing secrets (triggers and outgoing webhooks) too, so no version they use is dropped', async () => {
    const config = loadConfig({ SWARM_HOME: testDb.dir });
    const keyring = openKeyring(config, { warn: () => {} });
    const { workflow: hook } = await new Registry(store).as(alice).workflows.apply({
      name: 'hook',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'in' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    const [trigger] = await syncTriggers(store, keyring, alice, [hook]);
    const outgoing = await new WebhookService(store, keyring).create(bob, {
      name: 'out',
      url: 'https://example.com/hook',
      eventTypes: ['run.*'],
    });
    const first = await rotateMasterKey(store, keyring);
    expect(first).toMatchObject({ version: 2, resealed: 2, removedVersions: [] });
    const second = await rotateMasterKey(store, keyring);
    // Version 1 sealed nothing any more: dropped, and both secrets still open under the new keys.
    expect(second).toMatchObject({ version: 3, resealed: 2, removedVersions: [1] });
    const fresh = openKeyring(config, { warn: () => {} });
    const row = await store.handle.db.selectFrom('triggers').selectAll().executeTakeFirstOrThrow();
    expect(row.webhook_secret).toMatch(/^v3:/);
    expect(webhookSecrets(fresh, row)).toEqual([trigger!.secret]);
    const sealed = await store.handle.db
      .selectFrom('webhooks')
      .select(['id', 'owner_id', 'secret'])
      .executeTakeFirstOrThrow();
    expect(openText(fresh, sealed.secret, { id: sealed.id, ownerId: sealed.owner_id }, 'secret')).toBe(
      outgoing.secret,
    );
  });

  it('rotates onto the newest SWARM_MASTER_KEYS version; old versions stay readable until then', async () => {
    await new SecretsService(store, envKeyring({ 1: k1 })).set(alice, { name: 'OLD', value: 'under-v1' });
    await new SecretsService(store, envKeyring({ 1: k1 })).set(bob, { name: 'OLD', value: 'bob-under-v1' });
    // v2 added to the variable: v1 values still read, new values use v2.
    const both = envKeyring({ 1: k1, 2: k2 });
    const secrets = new SecretsService(store, both);
    expect(await secrets.resolve(alice.userId, ['OLD'])).toEqual({ OLD: 'under-v1' });
    expect((await secrets.set(alice, { name: 'NEW', value: 'under-v2' })).secret.keyVersion).toBe(2);
    expect((await rows()).map((r) => [r.name, r.key_version])).toEqual([
      ['NEW', 2],
      ['OLD', 1],
      ['OLD', 1],
    ]);

    const report = await rotateMasterKey(store, both);
    expect(report).toMatchObject({
      keySource: 'SWARM_MASTER_KEYS',
      version: 2,
      added: false,
      reencrypted: 2,
      alreadyCurrent: 1,
      removedVersions: [],
      versions: [
        { version: 1, secrets: 0, configured: true },
        { version: 2, secrets: 3, configured: true },
      ],
    });
    // Only v2 is needed now.
    const v2only = new SecretsService(store, envKeyring({ 2: k2 }));
    expect(await v2only.resolve(alice.userId, ['OLD', 'NEW'])).toEqual({ OLD: 'under-v1', NEW: 'under-v2' });
    expect(await v2only.resolve(bob.userId, ['OLD'])).toEqual({ OLD: 'bob-under-v1' });
    // Nothing left to move, and Swarm cannot add a key to a variable: it says how.
    await expectError(
      rotateMasterKey(store, both),
      'MASTER_KEY_READONLY',
      /add a new version there, e\.g\. SWARM_MASTER_KEYS=v1:<key>,…,v3:/,
    );
  });

  it('rotates in one transaction: a secret that does not decrypt stops it and nothing changes', async () => {
    const keyring = envKeyring({ 1: k1 });
    const secrets = new SecretsService(store, keyring);
    await secrets.set(alice, { name: 'GOOD', value: 'good-value' });
    await secrets.set(bob, { name: 'ZBAD', value: 'bad-value' });
    const [good] = await rows();
    await store.handle.db
      .updateTable('secrets')
      .set({ encrypted_value: good!.encrypted_value })
      .where('name', '=', 'ZBAD')
      .execute();
    const before = await rows();
    await expectError(
      rotateMasterKey(store, envKeyring({ 1: k1, 2: k2 })),
      'SECRET_UNREADABLE',
      /^secret ZBAD cannot be decrypted/,
    );
    const after = await rows();
    expect(after.map((r) => r.key_version)).toEqual([1, 1]);
    expect(after.map((r) => Buffer.from(r.encrypted_value).toString('hex'))).toEqual(
      before.map((r) => Buffer.from(r.encrypted_value).toString('hex')),
    );
  });
});
