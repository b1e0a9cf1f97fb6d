import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { Scheduler, syncTriggers, type TriggerRow } from '../../src/triggers/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';

/** A whole second plus `ms`: ticks of a seconds-level cron fall on whole seconds. */
const at = (second: number, ms = 0) => new Date(Date.UTC(2030, 0, 1, 12, 0, 0) + second * 1000 + ms);

describe.each(DIALECTS)('scheduler on %s', (dialect) => {
  let fx: EngineFixture;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));

  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  /** A seconds-level schedule whose next tick is `next`. */
  async function schedule(
    trigger: Record<string, unknown>,
    next: Date,
    name = 'every-second',
  ): Promise<TriggerRow> {
    const { workflows } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name,
      version: '1.0.0',
      trigger: { type: 'schedule', cron: '* * * * * *', ...trigger },
      steps: [{ id: 'a', agent: 'builtin/transform', input: { at: '{{ trigger.scheduled_for }}' } }],
    });
    await syncTriggers(fx.store, keyring, fx.caller, [workflow]);
    await fx.store.handle.db
      .updateTable('triggers')
      .set({ next_run_at: next.toISOString() })
      .where('workflow_name', '=', name)
      .execute();
    return fx.store.handle.db
      .selectFrom('triggers')
      .selectAll()
      .where('workflow_name', '=', name)
      .executeTakeFirstOrThrow();
  }

  const runs = () =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .select(['id', 'trigger_type', 'trigger_id', 'trigger_data', 'started_by'])
      .orderBy('created_at')
      .execute();
  const firings = (triggerId: string) =>
    fx.store.handle.db
      .selectFrom('trigger_firings')
      .selectAll()
      .where('trigger_id', '=', triggerId)
      .orderBy('fire_key')
      .execute();
  const nextRunAt = async (id: string) =>
    (
      await fx.store.handle.db
        .selectFrom('triggers')
        .select('next_run_at')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).next_run_at;

  it('fires a due tick once, with its time as trigger data, and moves next_run_at on', async () => {
    const trigger = await schedule({}, at(0));
    const scheduler = new Scheduler(fx.store, fx.engine, { misfireGraceMs: 5000 });
    expect(await scheduler.fireDue(at(-1))).toBe(0); // not due yet
    expect(await scheduler.fireDue(at(0, 200))).toBe(1);
    expect(await scheduler.fireDue(at(0, 300))).toBe(0); // same tick: nothing more
    const [run] = await runs();
    expect(run).toMatchObject({ trigger_type: 'schedule', trigger_id: trigger.id, started_by: null });
    expect(JSON.parse(run!.trigger_data!)).toMatchObject({
      scheduled_for: at(0).toISOString(),
      cron: '* * * * * *',
    });
    expect(new Date(String(await nextRunAt(trigger.id))).toISOString()).toBe(at(1).toISOString());
    expect(await firings(trigger.id)).toMatchObject([
      { fire_key: `tick:${at(0).toISOString()}`, status: 'started', run_id: run!.id },
    ]);
  });

  it('starts one run per tick however many schedulers race for it', async () => {
    const trigger = await schedule({}, at(0));
    const schedulers = Array.from(
      { length: 4 },
      () => new Scheduler(fx.store, fx.engine, { misfireGraceMs: 5000 }),
    );
    for (let second = 0; second < 5; second++) {
      const fired = await Promise.all(schedulers.map((s) => s.fireDue(at(second, 100))));
      expect(fired.reduce((a, b) => a + b, 0)).toBe(1);
    }
    const all = await runs();
    expect(all).toHaveLength(5);
    const keys = (await firings(trigger.id)).map((f) => f.fire_key);
    expect(new Set(keys).size).toBe(5);
  });

  it('misfire skip: ticks missed while no scheduler ran are recorded as skipped, not fired', async () => {
    const trigger = await schedule({ misfire: 'skip' }, at(0));
    // Down from 12:00:00 to 12:00:10.5: ticks 0…9 are missed, tick 10 is on time.
    expect(await new Scheduler(fx.store, fx.engine, { misfireGraceMs: 1000 }).fireDue(at(10, 500))).toBe(1);
    const all = await runs();
    expect(all.map((r) => JSON.parse(r.trigger_data!).scheduled_for)).toEqual([at(10).toISOString()]);
    const skipped = (await firings(trigger.id)).filter((f) => f.status === 'skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.error).toMatch(
      /^10 missed tick\(s\) from 2030-01-01T12:00:00\.000Z to 2030-01-01T12:00:09\.000Z/,
    );
    expect(new Date(String(await nextRunAt(trigger.id))).toISOString()).toBe(at(11).toISOString());
  });

  it('misfire catch_up: the newest catch_up_limit missed ticks fire, oldest first, and the rest are skipped', async () => {
    const trigger = await schedule({ misfire: 'catch_up', catch_up_limit: 3 }, at(0));
    expect(await new Scheduler(fx.store, fx.engine, { misfireGraceMs: 1000 }).fireDue(at(10, 500))).toBe(4);
    const fired = (await runs()).map((r) => JSON.parse(r.trigger_data!).scheduled_for as string).sort();
    expect(fired).toEqual([at(7), at(8), at(9), at(10)].map((d) => d.toISOString()));
    const skipped = (await firings(trigger.id)).filter((f) => f.status === 'skipped');
    expect(skipped[0]!.error).toMatch(/^7 missed tick\(s\).*catch_up_limit 3/);
  });

  it('a tick of a disabled workflow is recorded as failed, starts nothing, and the schedule moves on', async () => {
    const trigger = await schedule({}, at(0));
    await fx.registry.as(fx.caller).workflows.setState('every-second', { enabled: false });
    expect(await new Scheduler(fx.store, fx.engine, { misfireGraceMs: 5000 }).fireDue(at(0, 100))).toBe(0);
    expect(await runs()).toHaveLength(0);
    expect(await firings(trigger.id)).toMatchObject([
      { status: 'failed', error: expect.stringMatching(/disabled/) },
    ]);
    expect(new Date(String(await nextRunAt(trigger.id))).toISOString()).toBe(at(1).toISOString());
  });

  it('a disabled trigger does not fire', async () => {
    const trigger = await schedule({}, at(0));
    await fx.store.handle.db
      .updateTable('triggers')
      .set({ enabled: 0 })
      .where('id', '=', trigger.id)
      .execute();
    expect(await new Scheduler(fx.store, fx.engine).fireDue(at(3))).toBe(0);
    expect(await runs()).toHaveLength(0);
  });

  it('follows the time zone, DST included (as croner computes it)', async () => {
    const { workflows } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: 'paris-morning',
      version: '1.0.0',
      trigger: { type: 'schedule', cron: '0 30 8 * * *', timezone: 'Europe/Paris' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    await syncTriggers(fx.store, keyring, fx.caller, [workflow]);
    const row = await fx.store.handle.db
      .selectFrom('triggers')
      .selectAll()
      .where('workflow_name', '=', 'paris-morning')
      .executeTakeFirstOrThrow();
    const next = new Date(String(row.next_run_at));
    const paris = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      hour: '2-digit',
      minute: '2-digit',
    }).format(next);
    expect(paris).toBe('08:30');
  });
});
