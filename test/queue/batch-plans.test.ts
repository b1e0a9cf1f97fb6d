import {
  CompiledQuery,
  InsertQueryNode,
  SelectQueryNode,
  UpdateQueryNode,
  type KyselyPlugin,
  type RootOperationNode,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointTask,
  claimTasks,
  completeTasks,
  failTask,
  releaseTasks,
  renewLeases,
  sleepTask,
} from '../../src/queue/index.js';
import type { DatabaseHandle } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { closeQueueFixture, enqueue, openQueueFixture, type QueueFixture } from './helpers.js';

// A completion or heartbeat batch finds its tasks by primary key and reads its own rows once,
// whatever the planner's statistics say. They are stale in a queue as a matter of course: taken
// here, as a bulk enqueue or autovacuum takes them, with 20,000 tasks waiting and none running.
// PostgreSQL then believed one task ran: it scanned idx_tasks_leases (every running task, and
// the dead entries of those that ran) and, for each, the whole batch (512 completions in 50 ms
// instead of 7); and with the fence as filters on `tasks` (`lease_epoch = 1`, the state, the
// worker), it found the tasks by key but read the whole batch again for each one (160–280 ms).
describe.each(DIALECTS)('the plan of a batch of leases on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
    for (let i = 0; i < 20; i++)
      await enqueue(
        f,
        Array.from({ length: 1000 }, () => ({})),
      );
    await f.handle.dialect.analyze(f.handle.db as never, 'tasks');
  });
  afterAll(() => closeQueueFixture(f));

  /** The handle, noting every UPDATE it runs, and the other statements that read (`reads`). */
  const noting = (): {
    handle: DatabaseHandle;
    updates: RootOperationNode[];
    reads: RootOperationNode[];
  } => {
    const updates: RootOperationNode[] = [];
    const reads: RootOperationNode[] = [];
    const plugin: KyselyPlugin = {
      transformQuery: ({ node }) => {
        if (UpdateQueryNode.is(node)) updates.push(node);
        else if (SelectQueryNode.is(node) || InsertQueryNode.is(node)) reads.push(node);
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    return { handle: { ...f.handle, db: f.handle.db.withPlugin(plugin) }, updates, reads };
  };

  type Plan = Record<string, unknown>;
  /** The statement in `node` EXPLAINed as the planner would run it now (`prefix`: the EXPLAIN). */
  const explain = async <R>(node: RootOperationNode, prefix: string): Promise<R[]> => {
    const compiled = f.handle.db.getExecutor().compileQuery(node, { queryId: 'plan' });
    return (
      await f.handle.db.executeQuery<R>(CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]))
    ).rows;
  };
  /** SQLite: one row per loop or step, each under its `parent` (0: the statement's own loops). */
  const sqliteSteps = (node: RootOperationNode) =>
    explain<{ parent: number; detail: string }>(node, 'EXPLAIN QUERY PLAN ');
  /** PostgreSQL: the plan tree (EXPLAIN's output is text: the plan as JSON). */
  const postgresPlan = async (node: RootOperationNode): Promise<Plan> => {
    const [row] = await explain<{ 'QUERY PLAN': unknown }>(node, 'EXPLAIN (FORMAT JSON) ');
    return (JSON.parse(String(row!['QUERY PLAN'])) as [{ Plan: Plan }])[0].Plan;
  };
  const childrenOf = (plan: Plan) => (plan.Plans as Plan[] | undefined) ?? [];

  /** How the planner would reach `tasks` in `node` now: one line per access to the table. */
  const accessesOf = async (node: RootOperationNode): Promise<string[]> => {
    if (dialect === 'sqlite')
      return (await sqliteSteps(node))
        .map((row) => String(row.detail))
        .filter((detail) => /\btasks\b/.test(detail));
    const accesses: string[] = [];
    const walk = (plan: Plan) => {
      if (plan['Relation Name'] === 'tasks')
        accesses.push(`${String(plan['Node Type'])} ${String(plan['Index Name'] ?? '')}`.trim());
      childrenOf(plan).forEach(walk);
    };
    walk(await postgresPlan(node));
    return accesses;
  };

  /**
   * Whether the statement in `node` reads its batch (the inline rows it names `cte`) once, as
   * the outer side of its join with `tasks` or hashed, rather than once for every task found:
   * a nested loop with the batch inside it compares every task with every row of the batch.
   */
  const readsBatchOnce = async (node: RootOperationNode, cte: 'done' | 'leases'): Promise<boolean> => {
    if (dialect === 'sqlite') {
      // The statement's loops, outermost first (parent 0): once in the loop over `tasks`, the
      // batch may only be searched (by its automatic index, built once), never scanned.
      const loops = (await sqliteSteps(node)).filter((row) => row.parent === 0).map((row) => row.detail);
      const tasks = loops.findIndex((loop) => /^(SCAN|SEARCH) tasks\b/.test(loop));
      expect(tasks).toBeGreaterThanOrEqual(0);
      return !loops.slice(tasks + 1).some((loop) => loop.startsWith(`SCAN ${cte}`));
    }
    const readsBatch = (plan: Plan): boolean =>
      ['Function Scan', 'Values Scan', 'CTE Scan'].includes(String(plan['Node Type'])) ||
      childrenOf(plan).some(readsBatch);
    const rescansBatch = (plan: Plan): boolean =>
      (plan['Node Type'] === 'Nested Loop' && readsBatch(childrenOf(plan)[1] ?? {})) ||
      childrenOf(plan).some(rescansBatch);
    return !rescansBatch(await postgresPlan(node));
  };

  /** `tasks` reached by its primary key only: never scanned whole, never through its leases. */
  const expectPrimaryKeyLookups = (accesses: readonly string[]) => {
    expect(accesses.length).toBeGreaterThan(0);
    for (const access of accesses) {
      if (dialect === 'postgres') {
        // The update itself is a ModifyTable node on `tasks`; every read of it goes by id.
        if (access === 'ModifyTable') continue;
        expect(access).toMatch(/^(Index Scan|Bitmap Heap Scan|Bitmap Index Scan) ?(tasks_pkey)?$/);
        expect(access).not.toContain('idx_tasks_leases');
      } else expect(access).toMatch(/^SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 \(id=\?\)$/);
    }
  };

  it('claims 256 of 20,000 waiting tasks through the ready index and their primary key, never the whole table', async () => {
    const claim = noting();
    const claimed = await claimTasks(claim.handle, { workerId: 'w', limit: 256, leaseMs: 60_000 });
    expect(claimed).toHaveLength(256);
    const accesses = [];
    for (const node of [...claim.updates, ...claim.reads]) accesses.push(...(await accessesOf(node)));
    expect(accesses.length).toBeGreaterThan(0);
    for (const access of accesses) {
      // The picks walk idx_tasks_ready; the update finds them by key. PostgreSQL, believing all
      // 20,000 PENDING, scanned the table and hashed it against the picks instead.
      if (dialect === 'postgres') {
        if (access === 'ModifyTable') continue;
        expect(access).toMatch(/^Index (Only )?Scan (idx_tasks_ready|tasks_pkey)$/);
      } else
        expect(access).toMatch(
          /^(SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 \(id=\?\)|SCAN tasks USING INDEX idx_tasks_ready)$/,
        );
    }
    expect(accesses.some((access) => access.includes('idx_tasks_ready'))).toBe(true);
  });

  it('completes 256 tasks through their primary key, with none running in the statistics', async () => {
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 256, leaseMs: 60_000 });
    expect(claimed).toHaveLength(256);

    const heartbeat = noting();
    const renewed = await renewLeases(heartbeat.handle, 'w', claimed, 60_000);
    expect(renewed.renewed).toHaveLength(256);
    expect(heartbeat.updates).toHaveLength(1);
    expectPrimaryKeyLookups(await accessesOf(heartbeat.updates[0]!));
    expect(await readsBatchOnce(heartbeat.updates[0]!, 'leases')).toBe(true);

    const completion = noting();
    const result = await completeTasks(
      completion.handle,
      claimed.map((task) => ({ id: task.id, leaseEpoch: task.leaseEpoch, output: { ok: true } })),
    );
    expect(result.completed).toHaveLength(256);
    expect(completion.updates).toHaveLength(1);
    expectPrimaryKeyLookups(await accessesOf(completion.updates[0]!));
    expect(await readsBatchOnce(completion.updates[0]!, 'done')).toBe(true);
  });

  it('releases 256 tasks, and ends their attempts, through their primary key', async () => {
    const claimed = await claimTasks(f.handle, { workerId: 'w', limit: 256, leaseMs: 60_000 });
    expect(claimed).toHaveLength(256);
    const release = noting();
    const released = await releaseTasks(
      release.handle,
      'w',
      claimed.map((task) => task.id),
    );
    expect(released).toHaveLength(256);
    expect(release.updates).toHaveLength(1);
    expectPrimaryKeyLookups(await accessesOf(release.updates[0]!));
    // The attempts' end reads the same tasks first (INSERT … SELECT on PostgreSQL, a SELECT on
    // SQLite), and so does anything else the release reads.
    const reads = [];
    for (const node of release.reads) {
      const accesses = await accessesOf(node);
      if (accesses.length > 0) reads.push(accesses);
    }
    expect(reads.length).toBeGreaterThanOrEqual(1);
    for (const accesses of reads) expectPrimaryKeyLookups(accesses);
  });

  it('checkpoints, puts to sleep and fails one task through its primary key', async () => {
    const [kept, slept, failed] = await claimTasks(f.handle, { workerId: 'w', limit: 3, leaseMs: 60_000 });
    const named = noting();
    expect(await checkpointTask(named.handle, { id: kept!.id, leaseEpoch: kept!.leaseEpoch, state: 1 })).toBe(
      true,
    );
    expect(
      await sleepTask(named.handle, {
        id: slept!.id,
        leaseEpoch: slept!.leaseEpoch,
        until: new Date(Date.now() + 60_000),
        state: null,
      }),
    ).toBe(true);
    expect(
      await failTask(named.handle, {
        id: failed!.id,
        leaseEpoch: failed!.leaseEpoch,
        error: 'no',
        retryable: false,
      }),
    ).toBe('failed');
    const reached = [];
    for (const node of [...named.updates, ...named.reads]) {
      const accesses = await accessesOf(node);
      if (accesses.length > 0) reached.push(accesses);
    }
    expect(reached.length).toBeGreaterThanOrEqual(3);
    for (const accesses of reached) expectPrimaryKeyLookups(accesses);
  });

  it('still completes and renews only what the lease holds: the state and the epoch are its fence', async () => {
    const [held, other] = await claimTasks(f.handle, { workerId: 'w', limit: 2, leaseMs: 60_000 });
    // A stale epoch, and a task no longer running, are turned away.
    const renewed = await renewLeases(
      f.handle,
      'w',
      [
        { id: held!.id, leaseEpoch: held!.leaseEpoch + 1 },
        { id: other!.id, leaseEpoch: other!.leaseEpoch },
      ],
      60_000,
    );
    expect(renewed).toEqual({ renewed: [other!.id], lost: [held!.id] });
    const first = await completeTasks(f.handle, [
      { id: other!.id, leaseEpoch: other!.leaseEpoch, output: 1 },
    ]);
    expect(first.completed).toEqual([other!.id]);
    const again = await completeTasks(f.handle, [
      { id: other!.id, leaseEpoch: other!.leaseEpoch, output: 2 },
      { id: held!.id, leaseEpoch: held!.leaseEpoch + 1, output: 2 },
    ]);
    expect(again.completed).toEqual([]);
    expect(again.rejected.sort()).toEqual([other!.id, held!.id].sort());
  });
});
