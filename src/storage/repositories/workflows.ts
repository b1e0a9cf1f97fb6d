import type { Kysely, Selectable } from 'kysely';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase, WorkflowsTable } from '../schema-types.js';
import { fromDbBool, fromDbJson, newId, nowTimestamp, toDbBool, toDbJson } from '../values.js';
import { auditedWrite } from './audit-logs.js';

export interface WorkflowRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly version: string;
  readonly description: string | null;
  readonly triggerType: string | null;
  readonly triggerConfig: unknown;
  /** The normalised DAG the engine runs. */
  readonly steps: unknown;
  /** The document as the user wrote it. */
  readonly definition: unknown;
  readonly variables: Record<string, unknown>;
  readonly onError: unknown;
  readonly onSuccess: unknown;
  readonly enabled: boolean;
  readonly status: string;
  readonly contentHash: string | null;
  readonly tags: string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type NewWorkflow = Omit<
  WorkflowRecord,
  'id' | 'ownerId' | 'enabled' | 'status' | 'createdAt' | 'updatedAt'
>;

function toWorkflow(row: Selectable<WorkflowsTable>): WorkflowRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    version: row.version,
    description: row.description,
    triggerType: row.trigger_type,
    triggerConfig: fromDbJson(row.trigger_config),
    steps: fromDbJson(row.steps),
    definition: fromDbJson(row.definition),
    variables: fromDbJson<Record<string, unknown>>(row.variables) ?? {},
    onError: fromDbJson(row.on_error),
    onSuccess: fromDbJson(row.on_success),
    enabled: fromDbBool(row.enabled),
    status: row.status,
    contentHash: row.content_hash,
    tags: fromDbJson<string[]>(row.tags) ?? [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const jsonOrNull = (value: unknown) => (value === undefined || value === null ? null : toDbJson(value));

/**
 * Inserts a workflow version. A new version inherits `enabled` and `status` from the workflow,
 * which are kept per workflow (all its versions). Null when that name and version exist.
 */
export async function insertWorkflow(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  workflow: NewWorkflow,
  state: { enabled: boolean; status: string },
): Promise<WorkflowRecord | null> {
  return auditedWrite(
    db,
    dialect,
    (trx) => insertWorkflowRow(trx, caller, workflow, state),
    (inserted) =>
      inserted === null
        ? null
        : {
            caller,
            action: 'workflow.apply',
            resourceType: 'workflow',
            resourceId: inserted.name,
            metadata: { id: inserted.id, version: inserted.version, contentHash: inserted.contentHash },
          },
  );
}

async function insertWorkflowRow(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  workflow: NewWorkflow,
  state: { enabled: boolean; status: string },
): Promise<WorkflowRecord | null> {
  const row = await db
    .insertInto('workflows')
    .values({
      id: newId(),
      owner_id: caller.userId,
      name: workflow.name,
      version: workflow.version,
      description: workflow.description,
      trigger_type: workflow.triggerType,
      trigger_config: jsonOrNull(workflow.triggerConfig),
      steps: toDbJson(workflow.steps),
      definition: jsonOrNull(workflow.definition),
      variables: toDbJson(workflow.variables),
      on_error: jsonOrNull(workflow.onError),
      on_success: jsonOrNull(workflow.onSuccess),
      enabled: toDbBool(state.enabled),
      status: state.status,
      content_hash: workflow.contentHash,
      tags: toDbJson(workflow.tags),
    })
    .onConflict((oc) => oc.columns(['owner_id', 'name', 'version']).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row === undefined ? null : toWorkflow(row);
}

/** Every version of the caller's workflows (or of one), oldest first. */
export async function listWorkflowVersions(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  name?: string,
): Promise<WorkflowRecord[]> {
  let query = db.selectFrom('workflows').selectAll().where('owner_id', '=', caller.userId);
  if (name !== undefined) query = query.where('name', '=', name);
  const rows = await query.orderBy('name').orderBy('created_at').orderBy('id').execute();
  return rows.map(toWorkflow);
}

export async function findWorkflow(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  name: string,
  version: string,
): Promise<WorkflowRecord | null> {
  const row = await db
    .selectFrom('workflows')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .where('name', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
  return row === undefined ? null : toWorkflow(row);
}

/** Sets `enabled` and/or `status` on every version of a workflow; returns how many rows changed. */
export async function setWorkflowState(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  name: string,
  state: { enabled?: boolean; status?: string },
): Promise<number> {
  return auditedWrite(
    db,
    dialect,
    async (trx) => {
      const result = await trx
        .updateTable('workflows')
        .set({
          ...(state.enabled === undefined ? {} : { enabled: toDbBool(state.enabled) }),
          ...(state.status === undefined ? {} : { status: state.status }),
          updated_at: nowTimestamp(),
        })
        .where('owner_id', '=', caller.userId)
        .where('name', '=', name)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
    (changed) =>
      changed === 0
        ? null
        : {
            caller,
            // enable/disable when that is the change; `update` for a status change.
            action:
              state.status === undefined && state.enabled !== undefined
                ? state.enabled
                  ? 'workflow.enable'
                  : 'workflow.disable'
                : 'workflow.update',
            resourceType: 'workflow',
            resourceId: name,
            metadata: { ...state },
          },
  );
}
