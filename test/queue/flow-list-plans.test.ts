import { CompiledQuery, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowKey, listFlowKeys, type FlowLimit } from '../../src/queue/index.js';
import { newId } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { closeQueueFixture, enqueue, openQueueFixture, type QueueFixture } from './helpers.js';

// The flow-key listing (GET /api/v1/queue/keys, every 3 s from the dashboard) must not grow with
// the number of keys or tasks: the most recently set keys are read in index order (migration
// 0047; before it, every key was sorted), and an owner's parked keys are found by walking the
// parked index, not every task of the owner (SQLite's planner prefers an owner index).
describe.each(DIALECTS)('the plans of the flow-key listing on %s', (dialect) => {
  let f: QueueFixture;
  let otherId: string;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
    const other = await f.store.system.insertUserIfAbsent({
      name: 'o',
      email: 'o@example.com',
      role: 'member',
    });
    otherId = other!.id;
    const { db, dialect: adapter } = f.handle;
    for (let chunk = 0; chunk < 20; chunk++)
      await db
        .insertInto('flow_keys')
        .values(
          Array.from({ length: 500 }, (_, i) => {
            const n = chunk * 500 + i;
            const at = new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
            return {
              id: newId(),
              key: `k${n}`,
              owner_id: n % 2 === 0 ? f.ownerId : otherId,
              scope: 'workflow',
              max_running: 3,
              slotted: 0,
              created_at: at,
              updated_at: at,
            } as const;
          }),
        )
        .execute();
    const done = await enqueue(
      f,
      Array.from({ length: 2000 }, () => ({})),
    );
    for (let i = 0; i < done.length; i += 500)
      await db
        .updateTable('tasks')
        .set({ status: 'COMPLETED', completed_at: new Date().toISOString() })
        .where('id', 'in', done.slice(i, i + 500))
        .execute();
    const limit = (value: string): FlowLimit => ({
      key: flowKey('concurrency', 'workflow', { ownerId: f.ownerId, workflow: 'w' }, value),
      scope: 'workflow',
      maxRunning: 1,
    });
    await enqueue(
      f,
      Array.from({ length: 40 }, (_, i) => ({ flow: [limit(`v${i % 8}`)] })),
    );
    await adapter.analyze(db as never, 'flow_keys');
    await adapter.analyze(db as never, 'tasks');
  });
  afterAll(() => closeQueueFixture(f));

  /** The statements listFlowKeys runs for `ownerId`, compiled. */
  const statementsOf = async (ownerId: string | null): Promise<CompiledQuery[]> => {
    const nodes: RootOperationNode[] = [];
    const plugin: KyselyPlugin = {
      transformQuery: ({ node }) => {
        nodes.push(node);
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    const { keys } = await listFlowKeys(f.handle.db.withPlugin(plugin), ownerId);
    expect(keys.length).toBeGreaterThan(0);
    return nodes.map((node) => f.handle.db.getExecutor().compileQuery(node, { queryId: 'plan' }));
  };

  /** How the planner would run `query` now: SQLite's steps, or PostgreSQL's nodes, one line each. */
  const planOf = async (query: CompiledQuery): Promise<string[]> => {
    const prefix = dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN (FORMAT JSON) ';
    const { rows } = await f.handle.db.executeQuery<Record<string, unknown>>(
      CompiledQuery.raw(prefix + query.sql, [...query.parameters]),
    );
    if (dialect === 'sqlite') return rows.map((row) => String(row.detail));
    type Plan = Record<string, unknown> & { Plans?: Plan[] };
    const lines: string[] = [];
    const walk = (plan: Plan) => {
      lines.push(
        [plan['Node Type'], plan['Scan Direction'], plan['Index Name']]
          .filter((part) => part !== undefined)
          .join(' '),
      );
      (plan.Plans ?? []).forEach(walk);
    };
    walk((JSON.parse(String(rows[0]!['QUERY PLAN'])) as [{ Plan: Plan }])[0].Plan);
    return lines;
  };

  it.each([
    ['an owner', 'idx_flow_keys_owner_updated'],
    ['an admin', 'idx_flow_keys_updated'],
  ])('reads the most recently set keys for %s in index order, sorting none', async (who, sqliteIndex) => {
    const statements = await statementsOf(who === 'an admin' ? null : f.ownerId);
    const recent = statements.filter((q) => /from "flow_keys"/.test(q.sql) && /order by/.test(q.sql));
    expect(recent).toHaveLength(1);
    const plan = await planOf(recent[0]!);
    if (dialect === 'sqlite') {
      expect(plan.join('\n')).toContain(sqliteIndex);
      expect(plan.join('\n')).not.toContain('TEMP B-TREE');
    } else {
      // An owner of half the keys may be read through either index: both are in order.
      expect(
        plan.filter((line) => /^Index Scan Backward idx_flow_keys_(owner_)?updated$/.test(line)),
      ).toHaveLength(1);
      expect(plan.some((line) => line.startsWith('Sort'))).toBe(false);
    }
  });

  it.each([
    ['parked keys', /WITH RECURSIVE parked/, 'idx_tasks_flow_parked'],
    ['running first keys', /select "concurrency_key" as "key"/, 'idx_tasks_flow_running'],
    ['live slots', /select "s"\."key", count\(\*\) as "n" from "flow_slots"/, 'flow_slots'],
  ])(
    'finds an owner’s %s through their index, never every task of the owner',
    async (_, statement, index) => {
      const found = (await statementsOf(f.ownerId)).filter((q) => statement.test(q.sql));
      expect(found).toHaveLength(1);
      const plan = (await planOf(found[0]!)).join('\n');
      expect(plan).toContain(index);
      expect(plan).not.toMatch(/idx_tasks_owner/);
    },
  );
});
