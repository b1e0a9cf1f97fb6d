import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { claimTasks, completeTasks } from '../../src/queue/index.js';
import { TASK_VACUUM_SETTINGS } from '../../src/storage/migrations/0046-task-vacuum.js';
import { DIALECTS } from '../helpers/databases.js';
import { closeQueueFixture, enqueue, openQueueFixture, type QueueFixture } from '../queue/helpers.js';

// Migration 0046: on PostgreSQL, a vacuum of `tasks` removes the dead entries claims walk past,
// however large the history beside the queue. Without vacuum_index_cleanup, this test's vacuum
// skips the indexes ("index scan bypassed": the churned rows sit on under 2% of the table's
// pages), and the claim's walk still reads 11 pages of dead entries instead of 1.
describe.runIf(DIALECTS.includes('postgres'))('vacuuming tasks on postgres', () => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture('postgres');
  });
  afterAll(() => closeQueueFixture(f));

  /** Pages the claim's walk of the ready tasks reads (its inner SELECT, in index order). */
  const claimWalkPages = async (): Promise<number> => {
    const { rows } = await sql<{ 'QUERY PLAN': unknown }>`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
      SELECT id FROM tasks WHERE status = 'PENDING' AND concurrency_key IS NULL AND run_at <= now()
      ORDER BY priority DESC, run_at, id LIMIT 1`.execute(f.handle.db);
    // EXPLAIN's output is text: the plan as JSON.
    const [{ Plan: plan }] = JSON.parse(String(rows[0]!['QUERY PLAN'])) as [{ Plan: Record<string, number> }];
    return plan['Shared Hit Blocks']! + plan['Shared Read Blocks']!;
  };

  it('sets the table to be vacuumed after 10,000 dead rows, indexes included', async () => {
    const { rows } = await sql<{ reloptions: string[] }>`
      SELECT reloptions FROM pg_class WHERE oid = 'tasks'::regclass`.execute(f.handle.db);
    expect(rows[0]!.reloptions.sort()).toEqual(
      Object.entries(TASK_VACUUM_SETTINGS)
        .map(([name, value]) => `${name}=${value}`)
        .sort(),
    );
  });

  it('leaves no dead entries for a claim to walk after a vacuum, beside 300,000 finished tasks', async () => {
    await sql`INSERT INTO tasks (id, owner_id, task_type, input_data, result_data, status, lease_epoch,
        completed_at)
      SELECT 'history-' || i, ${f.ownerId}, 'test', jsonb_build_object('i', i), 'null', 'COMPLETED', 1, now()
      FROM generate_series(1, 300000) AS i`.execute(f.handle.db);
    await sql`VACUUM ANALYZE tasks`.execute(f.handle.db);

    await enqueue(
      f,
      Array.from({ length: 1000 }, () => ({})),
    );
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 1000, leaseMs: 60_000 });
    expect(claimed).toHaveLength(1000);
    await completeTasks(
      f.handle,
      claimed.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: null })),
    );
    // The walk reads the pages of the 1,000 dead entries (and marks them dead as it goes).
    expect(await claimWalkPages()).toBeGreaterThan(5);

    await sql`VACUUM tasks`.execute(f.handle.db);
    expect(await claimWalkPages()).toBeLessThanOrEqual(2);
  });
});
