import { insertEvents } from '../../src/blobs/index.js';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { DEFAULT_MAX_EVENT_DEPTH, syncTriggers, TriggerDaemon } from '../../src/triggers/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

/**
 * The event loop guard: events carry the run that caused them and a depth; event triggers start
 * nothing at SWARM_MAX_EVENT_DEPTH, nor for events a run of their own workflow caused (unless
 * `allow_self`). Each test runs the real worker and dispatcher until nothing is left to do and
 * then counts: a loop that did not stop would never become quiet.
 */
describe.each(DIALECTS)('event loops on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  let daemon: TriggerDaemon | undefined;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
  const logger = pino({ level: 'silent' });

  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await daemon?.stop();
    await worker?.stop(1000);
    daemon = undefined;
    worker = undefined;
    await fx.close();
  });

  async function apply(definition: Record<string, unknown>) {
    const { workflow } = await fx.registry.as(fx.caller).workflows.apply({ version: '1.0.0', ...definition });
    await syncTriggers(fx.store, keyring, fx.caller, [workflow]);
    return workflow;
  }

  function startAll(maxEventDepth?: number) {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, logger, { concurrency: 4, keyring });
    daemon = new TriggerDaemon({
      store: fx.store,
      engine: fx.engine,
      logger,
      eventIntervalMs: 50,
      onStarted: () => worker?.notify(),
      ...(maxEventDepth === undefined ? {} : { maxEventDepth }),
    });
    worker.start();
    daemon.start();
  }

  /**
   * Waits until no run is unfinished and no event pending, read in one statement (one snapshot):
   * runs start only from pending events and events come only from runs, so nothing happens after.
   */
  async function quiet(): Promise<void> {
    await until(
      'no unfinished run and no pending event',
      async () => {
        const { rows } = await sql<{ busy: number | string }>`
          SELECT (SELECT COUNT(*) FROM workflow_runs WHERE status IN ('pending', 'running'))
               + (SELECT COUNT(*) FROM events WHERE status = 'pending') AS busy`.execute(fx.store.handle.db);
        return Number(rows[0]!.busy) === 0;
      },
      60_000,
    );
  }

  const runs = () =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .select(['id', 'workflow_name', 'status', 'event_depth', 'trigger_type', 'trigger_data'])
      .orderBy('event_depth')
      .orderBy('created_at')
      .execute();
  const events = () =>
    fx.store.handle.db
      .selectFrom('events')
      .select(['id', 'source', 'type', 'run_id', 'depth', 'status'])
      .orderBy('depth')
      .orderBy('created_at')
      .execute();
  const firings = () =>
    fx.store.handle.db
      .selectFrom('trigger_firings')
      .select(['fire_key', 'status', 'reason', 'run_id', 'error'])
      .orderBy('created_at')
      .execute();
  const publish = async (source: string, type: string) =>
    (
      await insertEvents(fx.store.handle.db, fx.store.handle.dialect, [
        { ownerId: fx.caller.userId, source, type, payload: {} },
      ])
    )[0]!;

  it('a wildcard trigger and one published event: one run, and its own run.completed is refused', async () => {
    await apply({
      name: 'everything',
      trigger: { type: 'event', source: '*', event_type: '*' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: { seen: '{{ trigger.type }}' } }],
    });
    startAll();
    const published = await publish('shop', 'order.created');
    await quiet();

    const all = await runs();
    expect(all).toMatchObject([{ workflow_name: 'everything', status: 'completed', event_depth: 0 }]);
    const [run] = all;
    expect(JSON.parse(run!.trigger_data!)).toMatchObject({ id: published, depth: 0, run_id: null });
    expect(await events()).toMatchObject([
      { id: published, run_id: null, depth: 0, status: 'dispatched' },
      { source: 'swarm', type: 'run.completed', run_id: run!.id, depth: 1, status: 'dispatched' },
    ]);
    expect(await firings()).toMatchObject([
      { fire_key: `event:${published}`, status: 'started', reason: null, run_id: run!.id },
      {
        status: 'refused',
        reason: 'self-triggered',
        run_id: null,
        error: expect.stringContaining('allow_self'),
      },
    ]);
  });

  it('with allow_self the wildcard loop runs once per depth below SWARM_MAX_EVENT_DEPTH, then is refused', async () => {
    await apply({
      name: 'echoes',
      trigger: { type: 'event', source: '*', event_type: '*', allow_self: true },
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    startAll();
    await publish('shop', 'order.created');
    await quiet();

    // The published event is depth 0; the run at depth d ends with a run.completed at d + 1.
    const all = await runs();
    expect(all.map((r) => r.event_depth)).toEqual([...Array(DEFAULT_MAX_EVENT_DEPTH).keys()]);
    expect(all.every((r) => r.status === 'completed' && r.trigger_type === 'event')).toBe(true);
    const chain = await events();
    expect(chain.map((e) => e.depth)).toEqual([...Array(DEFAULT_MAX_EVENT_DEPTH + 1).keys()]);
    // Each event after the first was caused by the run the one before it started.
    for (let d = 1; d <= DEFAULT_MAX_EVENT_DEPTH; d++) expect(chain[d]!.run_id).toBe(all[d - 1]!.id);
    const fired = await firings();
    expect(fired.filter((f) => f.status === 'started')).toHaveLength(DEFAULT_MAX_EVENT_DEPTH);
    expect(fired.filter((f) => f.status === 'refused')).toMatchObject([
      {
        fire_key: `event:${chain[DEFAULT_MAX_EVENT_DEPTH]!.id}`,
        reason: 'depth-limit',
        error: expect.stringContaining(`depth ${DEFAULT_MAX_EVENT_DEPTH}`),
      },
    ]);
  });

  it('a chain a → b → c → a … of emitted events stops at the configured depth, the refusal recorded', async () => {
    const hop = (name: string, on: string, emits: string) =>
      apply({
        name,
        trigger: { type: 'event', source: 'relay', event_type: on },
        steps: [{ id: 'pass', agent: 'builtin/emit_event', input: { source: 'relay', type: emits } }],
      });
    await hop('a', 'to-a', 'to-b');
    await hop('b', 'to-b', 'to-c');
    await hop('c', 'to-c', 'to-a');
    startAll(5);
    const first = await publish('relay', 'to-a');
    await quiet();

    const all = await runs();
    expect(all.map((r) => [r.workflow_name, r.event_depth, r.status])).toEqual([
      ['a', 0, 'completed'],
      ['b', 1, 'completed'],
      ['c', 2, 'completed'],
      ['a', 3, 'completed'],
      ['b', 4, 'completed'],
    ]);
    const relayed = (await events()).filter((e) => e.source === 'relay');
    expect(relayed.map((e) => [e.type, e.depth])).toEqual([
      ['to-a', 0],
      ['to-b', 1],
      ['to-c', 2],
      ['to-a', 3],
      ['to-b', 4],
      ['to-c', 5],
    ]);
    expect(relayed[0]!.id).toBe(first);
    for (let d = 1; d < relayed.length; d++) expect(relayed[d]!.run_id).toBe(all[d - 1]!.id);
    const refused = (await firings()).filter((f) => f.status === 'refused');
    expect(refused).toMatchObject([
      {
        fire_key: `event:${relayed[5]!.id}`,
        reason: 'depth-limit',
        run_id: null,
        error: expect.stringContaining('SWARM_MAX_EVENT_DEPTH is 5'),
      },
    ]);
  });

  it("a workflow's own events (run.completed and emitted ones) never start it; another workflow's do", async () => {
    // Follows every run's end, and emits what it also listens to: both are its own, both refused.
    await apply({
      name: 'follower',
      trigger: { type: 'event', source: '*', event_type: '*' },
      steps: [{ id: 'say', agent: 'builtin/emit_event', input: { source: 'talk', type: 'said' } }],
    });
    const leader = await apply({
      name: 'leader',
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    startAll();
    await fx.engine.startRun(fx.caller, leader, fx.registry.as(fx.caller).agents, {});
    worker!.notify();
    await quiet();

    const all = await runs();
    expect(all.map((r) => [r.workflow_name, r.event_depth, r.status])).toEqual([
      ['leader', 0, 'completed'],
      ['follower', 1, 'completed'],
    ]);
    const follower = all[1]!;
    expect(JSON.parse(follower.trigger_data!)).toMatchObject({ type: 'run.completed', run_id: all[0]!.id });
    const own = (await events()).filter((e) => e.run_id === follower.id);
    expect(own.map((e) => [e.type, e.depth]).sort()).toEqual([
      ['run.completed', 2],
      ['said', 2],
    ]);
    const refused = (await firings()).filter((f) => f.status === 'refused');
    expect(refused.map((f) => f.fire_key).sort()).toEqual(own.map((e) => `event:${e.id}`).sort());
    expect(refused.every((f) => f.reason === 'self-triggered')).toBe(true);
  });
});
