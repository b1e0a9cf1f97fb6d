import { viewJson } from '../blobs/index.js';
import type { Kysely } from 'kysely';
import { InputError, NotFoundError, SwarmError, type FieldIssue } from '../errors/index.js';
import { cancelTasks } from '../queue/index.js';
import { Registry } from '../registry/index.js';
import {
  auditedWrite,
  newId,
  nowTimestamp,
  recordAudit,
  toDbJson,
  toDbTimestamp,
  type Caller,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import { viewedChainValues } from './chain-values.js';
import { endChains, failDependents, type StoredChainStep } from './hooks.js';
import { insertTask, mergeInput, prepareTask, throwIssues } from './prepare.js';
import {
  ENDED_TASK_STATUSES,
  type ChainStepResult,
  type ChainView,
  type SubmitChain,
  type SubmitTask,
  type TaskFields,
  type TaskFilters,
  type TaskView,
  type TemplateInput,
  type TemplateView,
} from './types.js';
import { chainView, TEMPLATE_AGENT_PREFIX, taskView, templateView } from './views.js';

/** Most dependencies one task may name. */
export const MAX_DEPENDENCIES = 100;

/**
 * Standalone tasks, chains and templates, one caller at a time: every read and write is scoped
 * to the caller's rows, and another owner's task, chain or template is simply not found.
 */
export class TaskService {
  private readonly registry: Registry;

  constructor(
    private readonly store: Store,
    registry?: Registry,
  ) {
    this.registry = registry ?? new Registry(store);
  }

  /**
   * Submits one task. With `template`, the template's fields are the defaults (an agent or a
   * capability in the submission replaces the template's; object inputs are merged, the
   * submission's keys winning) and the template's `times_used` grows by one. An idempotency key
   * the caller already used returns that task (`created: false`) and writes nothing.
   */
  async submit(caller: Caller, body: SubmitTask): Promise<{ task: TaskView; created: boolean }> {
    const { db, dialect } = this.store.handle;
    const issues: FieldIssue[] = [];
    let fields: TaskFields = body;
    let templateId: string | undefined;
    if (body.template !== undefined) {
      const template = await db
        .selectFrom('task_templates')
        .selectAll()
        .where('owner_id', '=', caller.userId)
        .where('name', '=', body.template)
        .executeTakeFirst();
      if (template === undefined) {
        issues.push({ field: 'template', message: `no template named ${body.template}` });
      } else {
        const defaults = templateView(template);
        templateId = template.id;
        const routed = body.agent !== undefined || body.capability !== undefined;
        fields = {
          ...(routed
            ? {}
            : defaults.agent !== null
              ? { agent: defaults.agent }
              : { capability: defaults.capability! }),
          type: defaults.type,
          priority: defaults.priority,
          timeout_seconds: defaults.timeout_seconds,
          max_retries: defaults.max_retries,
          ...withoutUndefined(body),
          input: mergeInput(defaults.input, body.input),
        };
      }
    }
    const prepared = await prepareTask(fields, this.registry.as(caller).agents.resolver(), '', issues);
    let expiresAt: string | undefined;
    if (body.expires_at !== undefined) {
      try {
        expiresAt = toDbTimestamp(body.expires_at, 'expires_at');
      } catch {
        issues.push({ field: 'expires_at', message: 'an ISO-8601 timestamp with a zone' });
      }
    }
    const dependsOn = [...new Set(body.depends_on ?? [])];
    if (dependsOn.length > MAX_DEPENDENCIES)
      issues.push({ field: 'depends_on', message: `at most ${MAX_DEPENDENCIES} tasks` });
    throwIssues(issues);

    const result = await dialect.writeTransaction(db, async (trx) => {
      if (body.idempotency_key !== undefined) {
        const existing = await trx
          .selectFrom('tasks')
          .select('id')
          .where('owner_id', '=', caller.userId)
          .where('idempotency_key', '=', body.idempotency_key)
          .executeTakeFirst();
        if (existing !== undefined) return { task: await taskRow(trx, existing.id), created: false };
      }
      const blockedBy: string[] = [];
      if (dependsOn.length > 0) {
        // Locked (PostgreSQL) so a dependency cannot complete between this read and the insert
        // unseen: its completion waits for this transaction, then finds the new task blocked.
        let query = trx
          .selectFrom('tasks')
          .select(['id', 'status'])
          .where('owner_id', '=', caller.userId)
          .where('id', 'in', dependsOn);
        if (dialect.capabilities.skipLocked) query = query.forUpdate();
        const found = new Map((await query.execute()).map((row) => [row.id, row.status]));
        const problems: FieldIssue[] = [];
        dependsOn.forEach((id, i) => {
          const status = found.get(id);
          if (status === undefined) problems.push({ field: `depends_on[${i}]`, message: `no task ${id}` });
          else if (status !== 'COMPLETED' && isEnded(status))
            problems.push({
              field: `depends_on[${i}]`,
              message: `task ${id} ended ${status}: it will never complete`,
            });
          else if (status !== 'COMPLETED') blockedBy.push(id);
        });
        throwIssues(problems);
      }
      const id = await insertTask(trx, dialect, caller.userId, prepared!, {
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(body.idempotency_key === undefined ? {} : { idempotencyKey: body.idempotency_key }),
        ...(templateId === undefined ? {} : { templateId }),
        dependsOn,
        blockedBy,
      });
      if (templateId !== undefined) {
        await trx
          .updateTable('task_templates')
          .set((eb) => ({ times_used: eb('times_used', '+', 1) }))
          .where('id', '=', templateId)
          .execute();
      }
      await recordAudit(trx, {
        caller,
        action: 'task.enqueue',
        resourceType: 'task',
        resourceId: id,
        metadata: {
          type: prepared!.taskType,
          agent: prepared!.agentName ?? null,
          version: prepared!.agentVersion ?? null,
          capability: prepared!.capability ?? null,
          template: body.template ?? null,
        },
      });
      // Read in the transaction that wrote it: the answer is the task as submitted, whatever a
      // worker does with it once it commits (a task already past its expires_at is EXPIRED as
      // soon as one looks at it).
      return { task: await taskRow(trx, id), created: true };
    });
    return { task: taskView(result.task), created: result.created };
  }

  /** One of the caller's tasks (a standalone one, or a step of one of its runs). */
  async get(caller: Caller, id: string): Promise<TaskView> {
    const row = await this.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('task', id);
    const db = this.store.handle.db;
    return {
      ...taskView(row),
      input: await viewJson(db, row.input_data),
      result: await viewJson(db, row.result_data),
    };
  }

  /** The caller's standalone tasks, newest first. */
  async list(caller: Caller, filters: TaskFilters = {}): Promise<TaskView[]> {
    const db = this.store.handle.db;
    // The page goes on after this task (newest first: created_at, then id, both descending).
    const after =
      filters.before === undefined
        ? undefined
        : await db
            .selectFrom('tasks')
            .select(['created_at', 'id'])
            .where('owner_id', '=', caller.userId)
            .where('id', '=', filters.before)
            .executeTakeFirst();
    if (filters.before !== undefined && after === undefined)
      throw new InputError('before', `no task ${filters.before} of yours`);
    const [agentName, agentVersion] = filters.agent?.split('@') ?? [];
    const rows = await db
      .selectFrom('tasks')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where('run_id', 'is', null)
      .$if(filters.status !== undefined, (qb) => qb.where('status', '=', filters.status!))
      .$if(filters.capability !== undefined, (qb) =>
        qb.where('capability_required', '=', filters.capability!),
      )
      .$if(agentName !== undefined, (qb) => qb.where('agent_name', '=', agentName!))
      .$if(agentVersion !== undefined, (qb) => qb.where('agent_version', '=', agentVersion!))
      .$if(after !== undefined, (qb) =>
        qb.where((eb) =>
          eb.or([
            eb('created_at', '<', after!.created_at),
            eb.and([eb('created_at', '=', after!.created_at), eb('id', '<', after!.id)]),
          ]),
        ),
      )
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filters.limit ?? 50)
      .execute();
    return rows.map(taskView);
  }

  /**
   * Cancels a waiting or running standalone task (a running attempt is stopped at its next
   * heartbeat). Tasks that depend on it fail; its chain ends CANCELLED. 409 if it already ended
   * or belongs to a run (cancel the run instead).
   */
  async cancel(caller: Caller, id: string, reason = 'cancelled by request'): Promise<TaskView> {
    const task = await this.get(caller, id);
    if (task.run_id !== null)
      throw new SwarmError('CONFLICT', `task ${id} is a step of run ${task.run_id}: cancel the run`);
    const { handle } = this.store;
    const cancelled = await cancelTasks(
      handle,
      { ids: [id] },
      caller.userId,
      reason,
      new Date(),
      async (trx, ids) => {
        if (ids.length > 0)
          await recordAudit(trx, {
            caller,
            action: 'task.cancel',
            resourceType: 'task',
            resourceId: id,
            metadata: { reason },
          });
      },
    );
    if (cancelled.length === 0) {
      const now = await this.get(caller, id);
      throw new SwarmError('CONFLICT', `task ${id} already ended ${now.status}`);
    }
    await handle.dialect.writeTransaction(handle.db, async (trx) => {
      const ended = [{ id, ownerId: caller.userId, status: 'CANCELLED', error: reason }];
      await failDependents(trx, handle.dialect, ended);
      await endChains(trx, handle.dialect, ended);
    });
    return this.get(caller, id);
  }

  /** Starts a chain: every step is checked (agents pinned) first, then step 0 is enqueued. */
  async submitChain(caller: Caller, body: SubmitChain): Promise<ChainView> {
    const issues: FieldIssue[] = [];
    const resolver = this.registry.as(caller).agents.resolver();
    const steps: StoredChainStep[] = [];
    for (const [i, step] of body.steps.entries()) {
      const prepared = await prepareTask(step, resolver, `steps[${i}].`, issues, {
        finalInput: step.use_previous_output !== true,
      });
      if (step.use_previous_output === true && i === 0)
        issues.push({
          field: 'steps[0].use_previous_output',
          message: 'the first step has no previous output',
        });
      if (prepared !== null)
        steps.push({
          ...prepared,
          ...(step.name === undefined ? {} : { name: step.name }),
          usePreviousOutput: step.use_previous_output === true,
        });
    }
    if (body.steps.length === 0) issues.push({ field: 'steps', message: 'at least one step' });
    throwIssues(issues);
    const { db, dialect } = this.store.handle;
    const chainId = newId();
    const now = nowTimestamp();
    await dialect.writeTransaction(db, async (trx) => {
      await trx
        .insertInto('task_chains')
        .values({
          id: chainId,
          owner_id: caller.userId,
          name: body.name ?? `chain of ${steps.length} steps`,
          steps: toDbJson(steps),
          current_step: 0,
          status: 'RUNNING',
          step_results: toDbJson({}),
          started_at: now,
          created_at: now,
        })
        .execute();
      const { name: _name, usePreviousOutput: _use, ...first } = steps[0]!;
      const taskId = await insertTask(trx, dialect, caller.userId, first, { chainId });
      const results: Record<string, ChainStepResult> = { '0': { task_id: taskId, status: 'PENDING' } };
      await trx
        .updateTable('task_chains')
        .set({ step_results: toDbJson(results) })
        .where('id', '=', chainId)
        .execute();
      await recordAudit(trx, {
        caller,
        action: 'task_chain.start',
        resourceType: 'task_chain',
        resourceId: chainId,
        metadata: { steps: steps.length, firstTask: taskId },
      });
    });
    return this.getChain(caller, chainId);
  }

  /** A chain, each started step with its task's live status and its output whole up to 16 MiB. */
  async getChain(caller: Caller, id: string): Promise<ChainView> {
    const { db } = this.store.handle;
    const row = await this.chainRow(caller, id);
    const view = chainView(row, await viewedChainValues(db, row));
    const statuses = new Map(
      (await db.selectFrom('tasks').select(['id', 'status']).where('chain_id', '=', id).execute()).map(
        (t) => [t.id, t.status],
      ),
    );
    return {
      ...view,
      step_results: view.step_results.map((r) => ({ ...r, status: statuses.get(r.task_id) ?? r.status })),
    };
  }

  private async chainRow(caller: Caller, id: string) {
    const row = await this.store.handle.db
      .selectFrom('task_chains')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('task chain', id);
    return row;
  }

  async listChains(caller: Caller, limit = 50): Promise<ChainView[]> {
    const rows = await this.store.handle.db
      .selectFrom('task_chains')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => chainView(row));
  }

  /** Cancels a running chain: its current step's task is cancelled and no further step starts. */
  async cancelChain(caller: Caller, id: string, reason = 'cancelled by request'): Promise<ChainView> {
    // Its status and current step are all this needs: no output is read from its blob.
    const chain = chainView(await this.chainRow(caller, id));
    if (chain.status !== 'RUNNING' && chain.status !== 'PENDING')
      throw new SwarmError('CONFLICT', `chain ${id} already ended ${chain.status}`);
    const { handle } = this.store;
    const current = chain.step_results[chain.current_step];
    // The chain's end and its audit row commit with the current step's cancellation.
    await cancelTasks(
      handle,
      { ids: current === undefined ? [] : [current.task_id] },
      caller.userId,
      reason,
      new Date(),
      async (trx) => {
        await trx
          .updateTable('task_chains')
          .set({ status: 'CANCELLED', error_message: reason.slice(0, 512), completed_at: nowTimestamp() })
          .where('id', '=', id)
          .where('status', 'in', ['RUNNING', 'PENDING'])
          .execute();
        await recordAudit(trx, {
          caller,
          action: 'task_chain.cancel',
          resourceType: 'task_chain',
          resourceId: id,
          metadata: { reason },
        });
      },
    );
    return this.getChain(caller, id);
  }

  /** Creates or replaces a template (its `times_used` is kept). */
  async putTemplate(
    caller: Caller,
    name: string,
    body: TemplateInput,
  ): Promise<{ template: TemplateView; created: boolean }> {
    const issues: FieldIssue[] = [];
    await prepareTask(body, this.registry.as(caller).agents.resolver(), '', issues, { finalInput: false });
    throwIssues(issues);
    const { db, dialect } = this.store.handle;
    const now = nowTimestamp();
    const values = {
      description: body.description ?? null,
      task_type: body.type,
      capability_required:
        body.agent === undefined ? body.capability! : `${TEMPLATE_AGENT_PREFIX}${body.agent}`,
      default_input_data: toDbJson(body.input ?? {}),
      default_priority: body.priority ?? 5,
      default_timeout: body.timeout_seconds ?? 300,
      default_max_retries: body.max_retries ?? 3,
      updated_at: now,
    };
    const created = await dialect.writeTransaction(db, async (trx) => {
      const updated = await trx
        .updateTable('task_templates')
        .set(values)
        .where('owner_id', '=', caller.userId)
        .where('name', '=', name)
        .executeTakeFirst();
      const inserted = updated.numUpdatedRows === 0n;
      if (inserted) {
        await trx
          .insertInto('task_templates')
          .values({ id: newId(), owner_id: caller.userId, name, ...values, created_at: now })
          .execute();
      }
      await recordAudit(trx, {
        caller,
        action: 'task_template.put',
        resourceType: 'task_template',
        resourceId: name,
        metadata: { created: inserted },
      });
      return inserted;
    });
    return { template: await this.getTemplate(caller, name), created };
  }

  async getTemplate(caller: Caller, name: string): Promise<TemplateView> {
    const row = await this.store.handle.db
      .selectFrom('task_templates')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('task template', name);
    return templateView(row);
  }

  async listTemplates(caller: Caller): Promise<TemplateView[]> {
    const rows = await this.store.handle.db
      .selectFrom('task_templates')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .orderBy('name')
      .execute();
    return rows.map(templateView);
  }

  /** Deletes a template; tasks submitted from it keep running (their template_id becomes null). */
  async deleteTemplate(caller: Caller, name: string): Promise<TemplateView> {
    const template = await this.getTemplate(caller, name);
    const { db, dialect } = this.store.handle;
    await auditedWrite(
      db,
      dialect,
      (trx) =>
        trx
          .deleteFrom('task_templates')
          .where('owner_id', '=', caller.userId)
          .where('id', '=', template.id)
          .execute(),
      () => ({ caller, action: 'task_template.delete', resourceType: 'task_template', resourceId: name }),
    );
    return template;
  }
}

function isEnded(status: string): boolean {
  return (ENDED_TASK_STATUSES as readonly string[]).includes(status);
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A task row by id, in the caller's transaction (it was just read or written under the owner). */
async function taskRow(trx: Kysely<SwarmDatabase>, id: string) {
  return trx.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}
