import { v5 as uuidv5 } from 'uuid';
import { importRows, type ImportContext, type TableReport } from './context.js';
import { workflowOf } from './definitions.js';
import type { LegacyRow } from './source.js';
import { RUN_STATUSES, TASK_STATUSES, TRIGGER_TYPES } from '../storage/index.js';

/** Work the legacy engine had not finished: Swarm did not start it, so it must not run it. */
const UNFINISHED_RUN = new Set(['pending', 'running']);
const UNFINISHED_TASK = new Set(['PENDING', 'ASSIGNED', 'RUNNING']);
const CANCELLED_BY = 'import-registry';

const ASSIGNMENT_STATUSES = ['running', 'completed', 'released', 'lost'] as const;
/** Namespace of the worker-assignment ids derived from a legacy vm_assignments row (see below). */
const ASSIGNMENT_NAMESPACE = '6f1d1a52-3f7e-4c55-9a39-5d0e8c6b2a17';

/** Runs keep their ids; the workflow's name and version are copied in, as Swarm's own runs do. */
export function importRuns(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  return importRows('workflow_runs', 'workflow_runs', rows, async (row) => {
    const r = ctx.reader('workflow_runs', row);
    const id = r.text('id');
    const legacyWorkflow = r.text('workflow_id');
    const workflowId = await workflowOf(ctx, legacyWorkflow);
    if (id === null || workflowId === null) {
      r.warn(`${id === null ? 'has no id' : `its workflow ${legacyWorkflow} is missing`}; not imported`);
      return false;
    }
    const workflow = (await ctx.resolve('workflows', legacyWorkflow!))!;
    const triggerType = r.text('trigger_type');
    const knownTrigger = triggerType === null || (TRIGGER_TYPES as readonly string[]).includes(triggerType);
    if (!knownTrigger)
      r.warn(`trigger_type "${triggerType}" is not one of ${TRIGGER_TYPES.join(', ')}; left empty`);
    const startedAt = r.timestamp('started_at');
    const completedAt = r.timestamp('completed_at');
    const createdAt = r.timestamp('created_at') ?? startedAt ?? ctx.now;
    const legacyStatus = r.oneOf('status', RUN_STATUSES, 'failed', { ifNull: 'pending' });
    const unfinished = UNFINISHED_RUN.has(legacyStatus);
    const inserted = await ctx.insertIfAbsent('workflow_runs', {
      id,
      owner_id: ctx.ownerId,
      workflow_id: workflowId,
      workflow_name: workflow.name,
      workflow_version: r.text('workflow_version') ?? workflow.version,
      status: unfinished ? 'cancelled' : legacyStatus,
      ...(unfinished
        ? {
            cancelled_by: CANCELLED_BY,
            cancellation_reason: `${legacyStatus} in the legacy registry when imported`,
          }
        : {}),
      current_step: r.text('current_step'),
      trigger_type: knownTrigger ? triggerType : null,
      trigger_data: r.json('trigger_data'),
      step_results: r.json('step_results') ?? undefined,
      error: r.text('error'),
      error_step: r.text('error_step'),
      started_at: startedAt,
      completed_at: completedAt,
      duration_ms: between(startedAt, completedAt),
      total_vm_time_ms: r.int('total_vm_time_ms') ?? undefined,
      total_api_tokens: r.int('total_api_tokens') ?? undefined,
      created_at: createdAt,
      updated_at: completedAt ?? startedAt ?? createdAt,
    });
    // Skipped by id means this run is already there (an earlier import): its steps may link to it.
    if (inserted) ctx.runs.set(id, true);
    return inserted;
  });
}

/**
 * Every step execution becomes a task of its run. A step whose agent the owner does not have
 * keeps the agent's name and version but no agent_id; one whose run is not there becomes a
 * standalone task, so its record is not lost.
 */
export async function importSteps(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  let unfinished = 0;
  const report = await importRows('step_executions', 'tasks', rows, async (row) => {
    const r = ctx.reader('step_executions', row);
    const id = r.text('id');
    if (id === null) {
      r.warn('has no id; not imported');
      return false;
    }
    const legacyRun = r.text('run_id');
    const runId = legacyRun !== null && (await ctx.hasRun(legacyRun)) ? legacyRun : null;
    if (legacyRun !== null && runId === null)
      r.warn(`its run ${legacyRun} is missing; imported without a run`);
    const legacyAgent = r.text('agent_id');
    const agent = legacyAgent === null ? null : await ctx.resolve('agents', legacyAgent);
    if (legacyAgent !== null && agent === null)
      r.warn(`its agent ${legacyAgent} is missing; agent_id left empty`);
    const legacyStatus = r.oneOf('status', TASK_STATUSES, 'FAILED', {
      ifNull: 'PENDING',
      map: (s) =>
        s
          .trim()
          .toUpperCase()
          .replace(/^CANCELED$/, 'CANCELLED'),
    });
    // Imported unfinished work is cancelled: a PENDING row would be claimed by Swarm's workers.
    const isUnfinished = UNFINISHED_TASK.has(legacyStatus);
    const status = isUnfinished ? 'CANCELLED' : legacyStatus;
    const startedAt = r.timestamp('started_at');
    const completedAt = r.timestamp('completed_at');
    const createdAt = r.timestamp('queued_at') ?? startedAt ?? ctx.now;
    const retries = r.int('retry_count');
    const inserted = await ctx.insertIfAbsent('tasks', {
      id,
      owner_id: ctx.ownerId,
      run_id: runId,
      step_id: r.text('step_id'),
      agent_id: agent?.id ?? null,
      agent_name: r.text('agent_name') ?? agent?.name ?? null,
      agent_version: r.text('agent_version') ?? agent?.version ?? null,
      task_type: 'workflow_step',
      status,
      ...(isUnfinished
        ? {
            cancelled_at: ctx.now,
            cancelled_by: CANCELLED_BY,
            cancellation_reason: `${legacyStatus} in the legacy registry when imported`,
          }
        : {}),
      input_data: r.json('inputs') ?? undefined,
      result_data: r.json('outputs'),
      worker_id: r.text('vm_id'),
      run_at: createdAt,
      started_at: startedAt,
      completed_at: completedAt,
      duration_ms: r.int('duration_ms') ?? between(startedAt, completedAt),
      api_tokens_used: r.int('api_tokens_used') ?? undefined,
      error_message: r.text('error'),
      retry_count: retries !== null && retries >= 0 && retries <= 2_147_483_647 ? retries : undefined,
      created_at: createdAt,
      updated_at: completedAt ?? startedAt ?? createdAt,
    });
    ctx.stepRuns.set(id, runId);
    if (inserted && isUnfinished) unfinished += 1;
    return inserted;
  });
  if (unfinished > 0) {
    ctx.warnings.push(
      `${unfinished} step execution(s) were still pending or running in the legacy engine; they are ` +
        'imported as CANCELLED (cancelled_by import-registry) so that no Swarm worker runs them',
    );
  }
  return report;
}

/**
 * VM assignments have the VM as their key, not an id of their own. Their id here is derived
 * from the row (UUIDv5), so importing the same file again finds them already present.
 */
export function importAssignments(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  return importRows('vm_assignments', 'worker_assignments', rows, async (row) => {
    const r = ctx.reader('vm_assignments', row);
    const vm = r.text('vm_id');
    const ticket = r.text('ticket_id');
    if (vm === null || ticket === null) {
      r.warn('has no vm_id or ticket_id; not imported');
      return false;
    }
    const rawAssigned = r.text('assigned_at');
    return ctx.insertIfAbsent('worker_assignments', {
      id: uuidv5(`${vm}\u0000${ticket}\u0000${rawAssigned ?? ''}`, ASSIGNMENT_NAMESPACE),
      worker_id: vm,
      task_id: ticket,
      run_id: ctx.stepRuns.get(ticket) ?? null,
      status: r.oneOf('status', ASSIGNMENT_STATUSES, 'lost', { ifNull: 'running' }),
      assigned_at: r.timestamp('assigned_at') ?? ctx.now,
      heartbeat_at: r.timestamp('heartbeat_at'),
    });
  });
}

/** Artifacts keep their ticket as task_id (not a foreign key); binary content goes to content_blob. */
export function importArtifacts(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  return importRows('execution_artifacts', 'execution_artifacts', rows, async (row) => {
    const r = ctx.reader('execution_artifacts', row);
    const id = r.text('id');
    if (id === null) {
      r.warn('has no id; not imported');
      return false;
    }
    const ticket = r.text('ticket_id');
    const content = r.raw('content');
    return ctx.insertIfAbsent('execution_artifacts', {
      id,
      owner_id: ctx.ownerId,
      run_id: ticket === null ? null : (ctx.stepRuns.get(ticket) ?? null),
      task_id: ticket,
      artifact_type: r.text('artifact_type'),
      content: Buffer.isBuffer(content) ? null : r.text('content'),
      content_blob: Buffer.isBuffer(content) ? content : null,
      created_at: r.timestamp('created_at') ?? ctx.now,
    });
  });
}

/** Milliseconds from start to end, when both are known and in order. */
function between(start: string | null, end: string | null): number | null {
  if (start === null || end === null) return null;
  const ms = Date.parse(end) - Date.parse(start);
  return ms >= 0 ? ms : null;
}
