import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { enqueueTasks } from '../../src/queue/index.js';
import { newId, toDbJson } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  closeQueueFixture,
  createRun,
  enqueue,
  openQueueFixture,
  type QueueFixture,
} from '../queue/helpers.js';

// What deleting a row does to the tasks naming it: on SQLite a foreign key's ON DELETE, on
// PostgreSQL a trigger on the deleted row's table (migration 0039). Both must do the same.
describe.each(DIALECTS)('what deleting a referenced row does to tasks on %s', (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(async () => {
    await closeQueueFixture(f);
  });

  const exists = async (ids: readonly string[]) =>
    (await f.handle.db.selectFrom('tasks').select('id').where('id', 'in', ids).execute())
      .map((r) => r.id)
      .sort();

  it('deletes the tasks of a deleted run, and only those', async () => {
    const [runA, runB] = [await createRun(f), await createRun(f)];
    const inA = await enqueue(f, [{ runId: runA }, { runId: runA }]);
    const inB = await enqueue(f, [{ runId: runB }]);
    const standalone = await enqueue(f, [{}]);
    await f.handle.db.deleteFrom('workflow_runs').where('id', '=', runA).execute();
    expect(await exists([...inA, ...inB, ...standalone])).toEqual([...inB, ...standalone].sort());
  });

  it('deletes a deleted task’s children and their children, and stops there', async () => {
    const [root] = await enqueue(f, [{}]);
    const children = await enqueue(f, [{ parentTaskId: root }, { parentTaskId: root }]);
    const grandchildren = await enqueue(f, [{ parentTaskId: children[0] }]);
    const other = await enqueue(f, [{}]);
    await f.handle.db.deleteFrom('tasks').where('id', '=', root!).execute();
    expect(await exists([root!, ...children, ...grandchildren, ...other])).toEqual(other);
  });

  it('deletes the tasks of every run one statement deletes', async () => {
    const runs = [await createRun(f), await createRun(f), await createRun(f)];
    const tasks = await enqueue(
      f,
      runs.flatMap((runId) => [{ runId }, { runId }]),
    );
    await f.handle.db.deleteFrom('workflow_runs').where('id', 'in', runs.slice(0, 2)).execute();
    expect(await exists(tasks)).toEqual(tasks.slice(4).sort());
  });

  it('clears, and keeps the task, when a template, chain, schedule or agent it names is deleted', async () => {
    const owner = f.ownerId;
    const templateId = newId();
    const chainId = newId();
    const scheduleId = newId();
    const agentId = newId();
    const db = f.handle.db;
    await db
      .insertInto('task_templates')
      .values({ id: templateId, owner_id: owner, name: 't', task_type: 'x', capability_required: 'c' })
      .execute();
    await db
      .insertInto('task_chains')
      .values({ id: chainId, owner_id: owner, name: 'c', steps: toDbJson([]) })
      .execute();
    await db
      .insertInto('scheduled_tasks')
      .values({
        id: scheduleId,
        owner_id: owner,
        name: 's',
        task_type: 'x',
        capability_required: 'c',
        cron_expression: '* * * * *',
      })
      .execute();
    await db
      .insertInto('agents')
      .values({ id: agentId, owner_id: owner, name: 'a', version: '1.0.0' })
      .execute();
    const [named, bystander] = await enqueue(f, [{}, {}]);
    const refs = {
      template_id: templateId,
      chain_id: chainId,
      scheduled_task_id: scheduleId,
      agent_id: agentId,
      assigned_agent_id: agentId,
    };
    await db.updateTable('tasks').set(refs).where('id', 'in', [named!, bystander!]).execute();
    const columns = Object.keys(refs) as Array<keyof typeof refs>;
    const read = (id: string) =>
      db.selectFrom('tasks').select(columns).where('id', '=', id).executeTakeFirstOrThrow();

    await db.deleteFrom('task_templates').where('id', '=', templateId).execute();
    await db.deleteFrom('task_chains').where('id', '=', chainId).execute();
    expect(await read(named!)).toEqual({ ...refs, template_id: null, chain_id: null });
    await db.deleteFrom('scheduled_tasks').where('id', '=', scheduleId).execute();
    await db.deleteFrom('agents').where('id', '=', agentId).execute();
    const cleared = {
      template_id: null,
      chain_id: null,
      scheduled_task_id: null,
      agent_id: null,
      assigned_agent_id: null,
    };
    expect(await read(named!)).toEqual(cleared);
    expect(await read(bystander!)).toEqual(cleared);
  });

  // The owner's reference is checked on both dialects: a foreign key on SQLite, statement
  // triggers on PostgreSQL (migration 0044), which must refuse what the key refused.
  it("refuses a task whose owner does not exist, with the foreign key's error, writing nothing", async () => {
    const before = await f.handle.db.selectFrom('tasks').select('id').execute();
    const stranger = newId();
    const refused = await enqueue(f, [{}, { ownerId: stranger }, {}]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    if (dialect === 'postgres') {
      expect(refused).toMatchObject({ code: '23503', constraint: 'fk_tasks_owner_id' });
      expect((refused as { detail: string }).detail).toContain(stranger);
    } else expect(String(refused)).toMatch(/FOREIGN KEY constraint failed/);
    expect(await f.handle.db.selectFrom('tasks').select('id').execute()).toEqual(before);
  });

  it('refuses to move a task to an owner who does not exist, and to delete an owner of tasks', async () => {
    const [task] = await enqueue(f, [{}]);
    await expect(
      f.handle.db.updateTable('tasks').set({ owner_id: newId() }).where('id', '=', task!).execute(),
    ).rejects.toThrow(/foreign key|FOREIGN KEY/);
    await expect(f.handle.db.deleteFrom('users').where('id', '=', f.ownerId).execute()).rejects.toThrow(
      /foreign key|FOREIGN KEY/,
    );
    await expect(
      f.handle.db.updateTable('users').set({ id: newId() }).where('id', '=', f.ownerId).execute(),
    ).rejects.toThrow(/foreign key|FOREIGN KEY/);
    // A user with no tasks is deleted; an update that keeps the owner is let through.
    const loner = await f.store.system.insertUserIfAbsent({
      name: 'L',
      email: 'l@example.com',
      role: 'member',
    });
    await f.handle.db.deleteFrom('users').where('id', '=', loner!.id).execute();
    await f.handle.db
      .updateTable('tasks')
      .set({ owner_id: f.ownerId, priority: 6 })
      .where('id', '=', task!)
      .execute();
    expect(await exists([task!])).toEqual([task]);
  });

  it.runIf(dialect === 'postgres')(
    'a user deleted while a transaction enqueues their first task waits for it, then is refused',
    async () => {
      const owner = await f.store.system.insertUserIfAbsent({
        name: 'W',
        email: 'w@example.com',
        role: 'member',
      });
      const ownerId = owner!.id;
      let deleting: Promise<unknown> | undefined;
      await f.handle.db.transaction().execute(async (trx) => {
        await enqueueTasks(trx, f.handle.dialect, [{ ownerId, taskType: 'test', input: {} }]);
        // The enqueue holds the owner's row FOR KEY SHARE: the delete must wait for the commit.
        deleting = f.handle.db
          .deleteFrom('users')
          .where('id', '=', ownerId)
          .execute()
          .then(
            () => 'deleted',
            (error: unknown) => error,
          );
        const waiting = await Promise.race([
          deleting,
          new Promise((resolve) => setTimeout(resolve, 300, 'waiting')),
        ]);
        expect(waiting).toBe('waiting');
      });
      expect(await deleting).toMatchObject({ code: '23503', constraint: 'fk_tasks_owner_id' });
      const left = await f.handle.db.selectFrom('users').select('id').where('id', '=', ownerId).execute();
      expect(left).toHaveLength(1);
    },
  );

  it.runIf(dialect === 'postgres')(
    'queues no per-row foreign-key check on insert: owners are checked per statement',
    async () => {
      const keys = await sql<{ conname: string }>`
      SELECT conname FROM pg_constraint WHERE conrelid = 'tasks'::regclass AND contype = 'f' ORDER BY conname`.execute(
        f.handle.db,
      );
      expect(keys.rows).toEqual([]);
      const triggers = await sql<{ tgname: string }>`
      SELECT tgname FROM pg_trigger WHERE tgrelid IN ('tasks'::regclass, 'users'::regclass) AND NOT tgisinternal
      ORDER BY tgname`.execute(f.handle.db);
      expect(triggers.rows.map((row) => row.tgname)).toEqual(
        expect.arrayContaining([
          'trg_tasks_owner_changed',
          'trg_tasks_owner_inserted',
          'trg_users_deleted_tasks',
        ]),
      );
    },
  );
});
