import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { newId } from '../../src/storage/index.js';
import { syncAllTriggers, syncTriggers, webhookSecrets } from '../../src/triggers/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';

describe.each(DIALECTS)('trigger sync on %s', (dialect) => {
  let fx: EngineFixture;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));

  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  const step = [{ id: 'a', agent: 'builtin/transform', input: {} }];
  const apply = async (definition: Record<string, unknown>) =>
    (await fx.registry.as(fx.caller).workflows.apply({ steps: step, ...definition })).workflow;
  const rows = () => fx.store.handle.db.selectFrom('triggers').selectAll().orderBy('workflow_name').execute();

  it('keeps one trigger per workflow across versions: path, secret and schedule survive a new version', async () => {
    const v1 = await apply({ name: 'hook', version: '1.0.0', trigger: { type: 'webhook' } });
    const [created] = await syncTriggers(fx.store, keyring, fx.caller, [v1]);
    expect(created!.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created!.path).toMatch(/^hook-[0-9a-f]{12}$/);
    const [row] = await rows();
    // Sealed at rest, readable with the keyring.
    expect(row!.webhook_secret).not.toContain(created!.secret!);
    expect(webhookSecrets(keyring, row!)).toEqual([created!.secret]);

    const v2 = await apply({ name: 'hook', version: '1.1.0', trigger: { type: 'webhook' } });
    const [again] = await syncTriggers(fx.store, keyring, fx.caller, [v2]);
    expect(again).toMatchObject({ id: created!.id, path: created!.path });
    expect(again!.secret).toBeUndefined();
    expect(await rows()).toMatchObject([
      { id: created!.id, workflow_id: v2.id, webhook_path: created!.path },
    ]);
  });

  it('a new version of another type replaces the trigger; a manual one removes it', async () => {
    await syncTriggers(fx.store, keyring, fx.caller, [
      await apply({ name: 'w', version: '1.0.0', trigger: { type: 'schedule', cron: '0 * * * *' } }),
    ]);
    expect(await rows()).toMatchObject([{ type: 'schedule', cron_expression: '0 * * * *' }]);
    await syncTriggers(fx.store, keyring, fx.caller, [
      await apply({
        name: 'w',
        version: '2.0.0',
        trigger: { type: 'event', source: 'crm', event_type: 'x' },
      }),
    ]);
    expect(await rows()).toMatchObject([
      { type: 'event', event_source: 'crm', event_type: 'x', next_run_at: null },
    ]);
    await syncTriggers(fx.store, keyring, fx.caller, [await apply({ name: 'w', version: '3.0.0' })]);
    expect(await rows()).toEqual([]);
  });

  it("refuses a webhook path another owner's trigger has", async () => {
    await syncTriggers(fx.store, keyring, fx.caller, [
      await apply({ name: 'a', version: '1.0.0', trigger: { type: 'webhook', path: 'shared/in' } }),
    ]);
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    const caller = { userId: other.id, role: 'member' as const };
    const { workflow } = await fx.registry.as(caller).workflows.apply({
      name: 'b',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'shared/in' },
      steps: step,
    });
    await expect(syncTriggers(fx.store, keyring, caller, [workflow])).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('"shared/in" is taken'),
    });
    expect(await rows()).toHaveLength(1);
  });

  it('adopts a trigger imported from a legacy registry and seals its secret', async () => {
    const v1 = await apply({
      name: 'legacy',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'old/path' },
    });
    const id = newId();
    await fx.store.handle.db
      .insertInto('triggers')
      .values({
        id,
        owner_id: fx.caller.userId,
        workflow_id: v1.id,
        type: 'webhook',
        webhook_path: 'old/path',
        webhook_secret: 'plain-legacy-secret',
        enabled: 1,
      })
      .execute();
    expect(await syncAllTriggers(fx.store, keyring)).toMatchObject([{ id, path: 'old/path' }]);
    const [row] = await rows();
    expect(row).toMatchObject({ id, workflow_name: 'legacy' });
    expect(row!.webhook_secret).toMatch(/^v1:/);
    expect(webhookSecrets(keyring, row!)).toEqual(['plain-legacy-secret']);
  });

  it('at start-up, a workflow whose trigger cannot be made is reported and the others are synced', async () => {
    await syncTriggers(fx.store, keyring, fx.caller, [
      await apply({ name: 'first', version: '1.0.0', trigger: { type: 'webhook', path: 'taken' } }),
    ]);
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    const workflows = fx.registry.as({ userId: other.id, role: 'member' }).workflows;
    await workflows.apply({
      name: 'clash',
      version: '1.0.0',
      trigger: { type: 'webhook', path: 'taken' },
      steps: step,
    });
    await workflows.apply({
      name: 'fine',
      version: '1.0.0',
      trigger: { type: 'schedule', cron: '0 * * * *' },
      steps: step,
    });
    const failed: string[] = [];
    const synced = await syncAllTriggers(fx.store, keyring, (workflow) => failed.push(workflow));
    expect(failed).toEqual(['clash']);
    expect(synced.map((t) => t.workflow).sort()).toEqual(['fine', 'first']);
  });
});
