import type { Kysely } from 'kysely';
import { InputError } from '../errors/index.js';
import { compileExpression, type ConcurrencyStrategy, type NormalizedWorkflow } from '../registry/index.js';
import { newId, type DialectAdapter, type SwarmDatabase } from '../storage/index.js';

/**
 * Workflow-level concurrency (docs/run-concurrency.md): at most `limit` running runs per value
 * of the workflow's `concurrency.key`. Keys are scoped by owner and workflow name, so two owners
 * (or two workflows) with the same key value never share slots. Whoever starts or ends a run of
 * a key first locks the key's row (run_concurrency_keys), so counting the key's running runs
 * and acting on the count is one step even with several processes on PostgreSQL.
 */

/** The longest key value kept; longer values are refused (they are for grouping, not data). */
export const MAX_CONCURRENCY_KEY_LENGTH = 255;

/** A run's place under its workflow's concurrency. */
export interface RunConcurrency {
  readonly key: string;
  readonly limit: number;
  readonly strategy: ConcurrencyStrategy;
}

/** One key of one owner's workflow. */
export interface ConcurrencyGroup {
  readonly ownerId: string;
  readonly workflowName: string;
  readonly key: string;
}

/**
 * The run's key: `concurrency.key` evaluated over `{input, trigger, variables}` (no key: one for
 * the whole workflow, ""). A key that fails or is no string, number or boolean is the starter's
 * bad input, named `concurrency.key`.
 */
export async function concurrencyOf(
  workflow: NormalizedWorkflow,
  input: unknown,
  trigger: unknown,
): Promise<RunConcurrency | undefined> {
  const spec = workflow.concurrency;
  if (spec === undefined) return undefined;
  let key = '';
  if (spec.key !== undefined) {
    let value: unknown;
    try {
      value = await compileExpression(spec.key).evaluate({
        input,
        trigger,
        variables: workflow.variables,
      });
    } catch (error) {
      throw new InputError('concurrency.key', `failed to evaluate: ${(error as Error).message}`);
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      throw new InputError(
        'concurrency.key',
        `must evaluate to a string, number or boolean, got ${value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 100)}`,
      );
    key = String(value);
    if (key.length > MAX_CONCURRENCY_KEY_LENGTH)
      throw new InputError(
        'concurrency.key',
        `evaluated to ${key.length} characters; at most ${MAX_CONCURRENCY_KEY_LENGTH} are allowed`,
      );
  }
  return { key, limit: spec.limit, strategy: spec.strategy };
}

/**
 * Locks the key's row for the rest of the transaction, making it first if needed. On SQLite the
 * write transaction (BEGIN IMMEDIATE) already excludes every other writer.
 */
export async function lockGroup(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  group: ConcurrencyGroup,
): Promise<void> {
  await trx
    .insertInto('run_concurrency_keys')
    .values({
      id: newId(),
      owner_id: group.ownerId,
      workflow_name: group.workflowName,
      concurrency_key: group.key,
    })
    .onConflict((oc) => oc.columns(['owner_id', 'workflow_name', 'concurrency_key']).doNothing())
    .execute();
  if (!dialect.capabilities.skipLocked) return;
  await trx
    .selectFrom('run_concurrency_keys')
    .select('id')
    .where('owner_id', '=', group.ownerId)
    .where('workflow_name', '=', group.workflowName)
    .where('concurrency_key', '=', group.key)
    .forUpdate()
    .execute();
}

/** The key's runs in one status, oldest first (by start for running runs, by creation for waiting ones). */
export async function runsOfGroup(
  trx: Kysely<SwarmDatabase>,
  group: ConcurrencyGroup,
  status: 'running' | 'pending',
  limit?: number,
): Promise<{ id: string; concurrency_limit: number | null }[]> {
  let query = trx
    .selectFrom('workflow_runs')
    .select(['id', 'concurrency_limit'])
    .where('owner_id', '=', group.ownerId)
    .where('workflow_name', '=', group.workflowName)
    .where('concurrency_key', '=', group.key)
    .where('status', '=', status)
    .orderBy(status === 'running' ? 'started_at' : 'created_at')
    .orderBy('id');
  if (limit !== undefined) query = query.limit(limit);
  return query.execute();
}

/** The groups of these runs (those under a concurrency key), each once. */
export async function groupsOfRuns(
  trx: Kysely<SwarmDatabase>,
  runIds: readonly string[],
): Promise<ConcurrencyGroup[]> {
  if (runIds.length === 0) return [];
  const rows = await trx
    .selectFrom('workflow_runs')
    .select(['owner_id', 'workflow_name', 'concurrency_key'])
    .distinct()
    .where('id', 'in', [...runIds])
    .where('concurrency_key', 'is not', null)
    .execute();
  return rows.map((r) => ({
    ownerId: r.owner_id,
    workflowName: r.workflow_name ?? '',
    key: r.concurrency_key!,
  }));
}

/** Groups with runs waiting for a slot (the safety-net sweep's work list). */
export async function waitingGroups(db: Kysely<SwarmDatabase>, limit: number): Promise<ConcurrencyGroup[]> {
  const rows = await db
    .selectFrom('workflow_runs')
    .select(['owner_id', 'workflow_name', 'concurrency_key'])
    .distinct()
    .where('status', '=', 'pending')
    .where('concurrency_key', 'is not', null)
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    ownerId: r.owner_id,
    workflowName: r.workflow_name ?? '',
    key: r.concurrency_key!,
  }));
}
