import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, type EngineFixture } from './helpers.js';

describe.each(DIALECTS)('step flow limits in runs on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(() => fx.close());

  it('keys each item by its expression, never runs two of a key at once, and finishes the run', async () => {
    const { workflows } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: 'keyed',
      version: '1.0.0',
      steps: [
        {
          id: 'fan',
          agent: 'builtin/noop',
          for_each: 'trigger.items',
          concurrency: { key: '$string(item % 2)', limit: 1 },
        },
      ],
    });
    const id = await fx.engine.startRun(fx.caller, workflow, fx.registry.as(fx.caller).agents, {
      input: { items: [1, 2, 3, 4, 5, 6] },
    });
    const tasks = await fx.store.handle.db
      .selectFrom('tasks')
      .select(['concurrency_key', 'parked_key'])
      .where('run_id', '=', id)
      .execute();
    const keys = new Set(tasks.map((task) => task.concurrency_key));
    expect(keys.size).toBe(2);
    for (const key of keys)
      expect(JSON.parse(key!)).toEqual(['c', 'step', fx.caller.userId, 'keyed', 'fan', expect.any(String)]);
    // Every claim of a limit-1 key gives at most one task of it: the batch sizes show it.
    let worst = 0;
    const claimed = await drain(fx, undefined, {
      limit: 10,
      order: (batch) => {
        for (const key of keys)
          worst = Math.max(worst, batch.filter((task) => task.concurrencyKey === key).length);
        return batch;
      },
    });
    expect(worst).toBe(1);
    expect(claimed).toHaveLength(6);
    const run = await fx.engine.getRun(fx.caller, id);
    expect(run.status).toBe('completed');
  });
});
