import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { writeLogs, writeStepMetrics, type LogEntry } from '../../src/engine/records.js';
import { newId } from '../../src/storage/index.js';
import { RECORD_REFERENCES_BY_TRIGGER } from '../../src/storage/migrations/0045-record-references-by-trigger.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  closeQueueFixture,
  createRun,
  enqueue,
  openQueueFixture,
  type QueueFixture,
} from '../queue/helpers.js';

// The references of a step's records (its log lines and its metric): foreign keys on SQLite,
// statement triggers on PostgreSQL (migration 0045). Both must accept, refuse and delete alike.
describe.each(DIALECTS)('the references of execution logs and metrics on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(async () => {
    await closeQueueFixture(f);
  });

  /** A run with one task of it, and a log line and a metric naming both. */
  async function stepWithRecords(): Promise<{ runId: string; taskId: string }> {
    const runId = await createRun(f);
    const [taskId] = await enqueue(f, [{ runId }]);
    await writeLogs(f.handle.db, f.handle.dialect, [
      { ownerId: f.ownerId, runId, taskId: taskId!, message: 'step a started' },
      { ownerId: f.ownerId, runId, message: 'run started' },
    ]);
    await writeStepMetrics(f.handle.db, f.handle.dialect, [
      { ownerId: f.ownerId, runId, taskId: taskId!, stepId: 'a', durationMs: 1, success: true },
    ]);
    return { runId, taskId: taskId! };
  }

  const records = async (table: 'execution_logs' | 'metrics', column: 'run_id' | 'task_id', id: string) =>
    (await f.handle.db.selectFrom(table).select('id').where(column, '=', id).execute()).length;
  const count = async (table: 'execution_logs' | 'metrics') =>
    Number(
      (
        await f.handle.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  const expectKeyError = (error: unknown, constraint: string, missing: string) => {
    expect(error).toBeInstanceOf(Error);
    if (dialect === 'postgres') {
      expect(error).toMatchObject({ code: '23503', constraint });
      expect((error as { detail: string }).detail).toContain(missing);
    } else expect(String(error)).toMatch(/FOREIGN KEY constraint failed/);
  };

  it.each(['owner_id', 'run_id', 'task_id'] as const)(
    'refuses a batch of records of which one names a missing %s, with the key’s error, writing nothing',
    async (column) => {
      const { runId, taskId } = await stepWithRecords();
      const [logs, metrics] = [await count('execution_logs'), await count('metrics')];
      const stranger = newId();
      const good: LogEntry = { ownerId: f.ownerId, runId, taskId, message: 'fine' };
      const bad = {
        ...good,
        ...(column === 'owner_id' ? { ownerId: stranger } : {}),
        ...(column === 'run_id' ? { runId: stranger } : {}),
        ...(column === 'task_id' ? { taskId: stranger } : {}),
      };
      const logError = await writeLogs(f.handle.db, f.handle.dialect, [good, bad, good]).catch(
        (error: unknown) => error,
      );
      expectKeyError(logError, `fk_execution_logs_${column}`, stranger);
      const metric = { ...good, taskId: good.taskId!, stepId: 'a', durationMs: 2, success: true };
      const metricError = await writeStepMetrics(f.handle.db, f.handle.dialect, [
        metric,
        { ...metric, ownerId: bad.ownerId, runId: bad.runId, taskId: bad.taskId! },
      ]).catch((error: unknown) => error);
      expectKeyError(metricError, `fk_metrics_${column}`, stranger);
      expect([await count('execution_logs'), await count('metrics')]).toEqual([logs, metrics]);
    },
  );

  it('deletes the records of deleted tasks and runs, and only theirs', async () => {
    const a = await stepWithRecords();
    const b = await stepWithRecords();
    const c = await stepWithRecords();
    await f.handle.db.deleteFrom('tasks').where('id', '=', a.taskId).execute();
    expect(await records('execution_logs', 'task_id', a.taskId)).toBe(0);
    expect(await records('metrics', 'task_id', a.taskId)).toBe(0);
    // The run's own line (no task) stays with the run.
    expect(await records('execution_logs', 'run_id', a.runId)).toBe(1);

    await f.handle.db.deleteFrom('workflow_runs').where('id', 'in', [a.runId, b.runId]).execute();
    for (const { runId, taskId } of [a, b]) {
      expect(await records('execution_logs', 'run_id', runId)).toBe(0);
      expect(await records('metrics', 'run_id', runId)).toBe(0);
      expect(await records('execution_logs', 'task_id', taskId)).toBe(0);
    }
    expect(await records('execution_logs', 'run_id', c.runId)).toBe(2);
    expect(await records('metrics', 'run_id', c.runId)).toBe(1);
  });

  it('keeps a metric detached from its task when the task is deleted (as task retention does)', async () => {
    const { runId, taskId } = await stepWithRecords();
    await f.handle.db.updateTable('metrics').set({ task_id: null }).where('task_id', '=', taskId).execute();
    await f.handle.db.deleteFrom('tasks').where('id', '=', taskId).execute();
    expect(await records('metrics', 'run_id', runId)).toBe(1);
  });

  it('refuses to point a record at a missing parent, to delete a user who has records, and to change a named id', async () => {
    const { runId, taskId } = await stepWithRecords();
    const db = f.handle.db;
    const stranger = newId();
    for (const [table, column] of [
      ['execution_logs', 'run_id'],
      ['execution_logs', 'owner_id'],
      ['metrics', 'task_id'],
      ['metrics', 'run_id'],
    ] as const) {
      const error = await db
        .updateTable(table)
        .set({ [column]: stranger })
        .where('run_id', '=', runId)
        .execute()
        .catch((e: unknown) => e);
      expectKeyError(error, `fk_${table}_${column}`, stranger);
    }
    expect(await records('metrics', 'task_id', taskId)).toBe(1);

    const loner = await f.store.system.insertUserIfAbsent({
      name: 'R',
      email: 'r@example.com',
      role: 'member',
    });
    await writeLogs(db, f.handle.dialect, [{ ownerId: loner!.id, runId, message: 'seen by R' }]);
    await expect(db.deleteFrom('users').where('id', '=', loner!.id).execute()).rejects.toThrow(
      /foreign key|FOREIGN KEY/,
    );
    await expect(
      db.updateTable('users').set({ id: newId() }).where('id', '=', loner!.id).execute(),
    ).rejects.toThrow(/foreign key|FOREIGN KEY/);
    await expect(
      db.updateTable('workflow_runs').set({ id: newId() }).where('id', '=', runId).execute(),
    ).rejects.toThrow(/foreign key|FOREIGN KEY/);
    await expect(
      db.updateTable('tasks').set({ id: newId() }).where('id', '=', taskId).execute(),
    ).rejects.toThrow(/foreign key|FOREIGN KEY/);
    // Once R has no records, R can go.
    await db.deleteFrom('execution_logs').where('owner_id', '=', loner!.id).execute();
    await db.deleteFrom('users').where('id', '=', loner!.id).execute();
  });

  it.runIf(dialect === 'postgres')(
    'a run deleted while a transaction writes its logs waits for it, then deletes those logs too',
    async () => {
      const runId = await createRun(f);
      let deleting: Promise<unknown> | undefined;
      await f.handle.db.transaction().execute(async (trx) => {
        await writeLogs(trx, f.handle.dialect, [{ ownerId: f.ownerId, runId, message: 'late line' }]);
        // The insert holds the run FOR KEY SHARE: the delete must wait for the commit.
        deleting = f.handle.db
          .deleteFrom('workflow_runs')
          .where('id', '=', runId)
          .execute()
          .then(() => 'deleted');
        const waiting = await Promise.race([
          deleting,
          new Promise((resolve) => setTimeout(resolve, 300, 'waiting')),
        ]);
        expect(waiting).toBe('waiting');
      });
      expect(await deleting).toBe('deleted');
      expect(await records('execution_logs', 'run_id', runId)).toBe(0);
    },
  );

  it.runIf(dialect === 'postgres')('queues no per-row foreign-key check on their insert', async () => {
    const keys = await sql<{ conname: string }>`
      SELECT conname FROM pg_constraint
      WHERE conrelid IN ('execution_logs'::regclass, 'metrics'::regclass) AND contype = 'f'`.execute(
      f.handle.db,
    );
    expect(keys.rows).toEqual([]);
    const triggers = await sql<{ tgname: string }>`
      SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname`.execute(f.handle.db);
    const names = triggers.rows.map((row) => row.tgname);
    for (const ref of RECORD_REFERENCES_BY_TRIGGER)
      expect(names).toEqual(
        expect.arrayContaining([
          `trg_${ref.child}_references_inserted`,
          `trg_${ref.child}_references_changed`,
          `trg_${ref.parent}_deleted_records`,
          `trg_${ref.parent}_renamed_records`,
        ]),
      );
  });
});
