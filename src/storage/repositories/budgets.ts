import { sql, type Kysely } from 'kysely';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase } from '../schema-types.js';
import { fromDbJson, newId, toDbTimestamp } from '../values.js';

/**
 * What model calls may spend: owners' caps per UTC day and month (`owner_budgets`), the budgets
 * a workflow gives a run and its steps, what has been spent against each (the `metrics` rows of
 * model calls: `llm` from the llm runtime, `usage` from agents' reports), and providers' calls
 * per minute (`provider_usage_windows`).
 */

type Db = Kysely<SwarmDatabase>;
export type BudgetPeriod = 'day' | 'month';
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['day', 'month'];

export interface Spend {
  readonly tokens: number;
  readonly cost: number;
}

export interface OwnerBudget {
  readonly period: BudgetPeriod;
  readonly maxTokens: number | null;
  readonly maxCostUsd: number | null;
  /** The start of the current period (UTC). */
  readonly since: string;
  readonly spent: Spend;
  readonly updatedAt: string;
}

/** A cap that applies to the next model call, and what has been spent against it. */
export interface SpendLimit {
  readonly scope: 'step' | 'run' | BudgetPeriod;
  readonly maxTokens: number | null;
  readonly maxCostUsd: number | null;
  readonly spent: Spend;
}

/** The start of the UTC day or month `now` is in. */
export function periodStart(period: BudgetPeriod, now: Date): Date {
  return period === 'day'
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

const MODEL_CALL_METRICS = ['llm', 'usage'];

/** What the caller's model calls spent since `since`. */
export async function ownerSpendSince(db: Db, ownerId: string, since: Date): Promise<Spend> {
  const row = await db
    .selectFrom('metrics')
    .select([
      sql<number | string | null>`sum(token_usage)`.as('tokens'),
      sql<number | string | null>`sum(estimated_cost)`.as('cost'),
    ])
    .where('owner_id', '=', ownerId)
    .where('created_at', '>=', toDbTimestamp(since))
    .where('name', 'in', MODEL_CALL_METRICS)
    .executeTakeFirst();
  return { tokens: Number(row?.tokens ?? 0), cost: Number(row?.cost ?? 0) };
}

export async function listOwnerBudgets(
  db: Db,
  caller: Caller,
  now: Date = new Date(),
): Promise<OwnerBudget[]> {
  const rows = await db
    .selectFrom('owner_budgets')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .orderBy('period')
    .execute();
  return Promise.all(
    rows.map(async (row) => {
      const since = periodStart(row.period, now);
      return {
        period: row.period,
        maxTokens: row.max_tokens === null ? null : Number(row.max_tokens),
        maxCostUsd: row.max_cost_usd === null ? null : Number(row.max_cost_usd),
        since: since.toISOString(),
        spent: await ownerSpendSince(db, caller.userId, since),
        updatedAt: row.updated_at,
      };
    }),
  );
}

/** Sets the caller's cap for `period` (replacing the one there was). */
export async function setOwnerBudget(
  db: Db,
  caller: Caller,
  period: BudgetPeriod,
  limits: { readonly maxTokens: number | null; readonly maxCostUsd: number | null },
): Promise<void> {
  const at = toDbTimestamp(new Date());
  await db
    .insertInto('owner_budgets')
    .values({
      id: newId(),
      owner_id: caller.userId,
      period,
      max_tokens: limits.maxTokens,
      max_cost_usd: limits.maxCostUsd,
      created_at: at,
      updated_at: at,
    })
    .onConflict((oc) =>
      oc.columns(['owner_id', 'period']).doUpdateSet({
        max_tokens: limits.maxTokens,
        max_cost_usd: limits.maxCostUsd,
        updated_at: at,
      }),
    )
    .execute();
}

/** Removes the caller's cap for `period`; false when there was none. */
export async function deleteOwnerBudget(db: Db, caller: Caller, period: BudgetPeriod): Promise<boolean> {
  const result = await db
    .deleteFrom('owner_budgets')
    .where('owner_id', '=', caller.userId)
    .where('period', '=', period)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

interface BudgetDoc {
  tokens?: unknown;
  cost_usd?: unknown;
}
const limitOf = (budget: BudgetDoc | undefined) => ({
  maxTokens: typeof budget?.tokens === 'number' ? budget.tokens : null,
  maxCostUsd: typeof budget?.cost_usd === 'number' ? budget.cost_usd : null,
});

/**
 * Every cap on the caller's next model call made for step `stepId` of run `runId` (either may be
 * null: a task outside a run): the step's and the run's budgets from the workflow, and the
 * caller's day and month budgets, each with what has been spent against it.
 */
export async function spendLimits(
  db: Db,
  caller: Caller,
  at: { readonly runId: string | null; readonly stepId: string | null },
  now: Date = new Date(),
): Promise<SpendLimit[]> {
  const limits: SpendLimit[] = (await listOwnerBudgets(db, caller, now)).map((b) => ({
    scope: b.period,
    maxTokens: b.maxTokens,
    maxCostUsd: b.maxCostUsd,
    spent: b.spent,
  }));
  if (at.runId === null) return limits;
  const run = await db
    .selectFrom('workflow_runs as r')
    .innerJoin('workflows as w', 'w.id', 'r.workflow_id')
    .select(['r.total_api_tokens', 'r.total_cost', 'w.steps'])
    .where('r.id', '=', at.runId)
    .where('r.owner_id', '=', caller.userId)
    .executeTakeFirst();
  if (run === undefined) return limits;
  // The normalised workflow (`workflows.steps`): its budget and its steps' budgets.
  const workflow = fromDbJson<{ budget?: BudgetDoc; steps?: { id?: unknown; budget?: BudgetDoc }[] }>(
    run.steps,
  );
  if (workflow?.budget !== undefined)
    limits.push({
      scope: 'run',
      ...limitOf(workflow.budget),
      spent: { tokens: Number(run.total_api_tokens), cost: Number(run.total_cost) },
    });
  const steps = Array.isArray(workflow?.steps) ? workflow.steps : [];
  const step = at.stepId === null ? undefined : steps.find((s) => s.id === at.stepId);
  if (step?.budget !== undefined) {
    const spent = await db
      .selectFrom('metrics as m')
      .innerJoin('tasks as t', 't.id', 'm.task_id')
      .select([
        sql<number | string | null>`sum(m.token_usage)`.as('tokens'),
        sql<number | string | null>`sum(m.estimated_cost)`.as('cost'),
      ])
      .where('t.run_id', '=', at.runId)
      .where('t.step_id', '=', at.stepId)
      .where('m.owner_id', '=', caller.userId)
      .where('m.name', 'in', MODEL_CALL_METRICS)
      .executeTakeFirst();
    limits.push({
      scope: 'step',
      ...limitOf(step.budget),
      spent: { tokens: Number(spent?.tokens ?? 0), cost: Number(spent?.cost ?? 0) },
    });
  }
  return limits;
}

/** A provider's limits per minute; null: no such limit. */
export interface ProviderRateLimits {
  readonly requestsPerMinute: number | null;
  readonly tokensPerMinute: number | null;
}

/**
 * Takes one request of the caller's `provider` in the minute starting `windowStart`: granted
 * while the minute's requests stay within `requestsPerMinute` and its tokens so far are below
 * `tokensPerMinute`. One statement, atomic on both dialects (the row is locked on PostgreSQL,
 * the database on SQLite), so workers sharing the database never exceed the limits together.
 */
export async function reserveProviderRequest(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  provider: string,
  windowStart: Date,
  limits: ProviderRateLimits,
): Promise<boolean> {
  const start = toDbTimestamp(windowStart);
  const conditions = [
    ...(limits.requestsPerMinute === null
      ? []
      : [sql<boolean>`provider_usage_windows.requests + 1 <= ${limits.requestsPerMinute}`]),
    ...(limits.tokensPerMinute === null
      ? []
      : [sql<boolean>`provider_usage_windows.tokens < ${limits.tokensPerMinute}`]),
  ];
  return dialect.writeTransaction(db, async (trx) => {
    const row = await trx
      .insertInto('provider_usage_windows')
      .values({ id: newId(), owner_id: caller.userId, provider, window_start: start, requests: 1, tokens: 0 })
      .onConflict((oc) => {
        const update = oc
          .columns(['owner_id', 'provider', 'window_start'])
          .doUpdateSet({ requests: sql`provider_usage_windows.requests + 1` });
        return conditions.length === 0
          ? update
          : update.where(sql<boolean>`${sql.join(conditions, sql` AND `)}`);
      })
      .returning('requests')
      .executeTakeFirst();
    // A minute's first request clears the windows an hour old (they count for nothing any
    // more): once a minute per provider, not on every call.
    if (row !== undefined && Number(row.requests) === 1)
      await trx
        .deleteFrom('provider_usage_windows')
        .where('owner_id', '=', caller.userId)
        .where('provider', '=', provider)
        .where('window_start', '<', toDbTimestamp(new Date(windowStart.getTime() - 3_600_000)))
        .execute();
    return row !== undefined;
  });
}

/** Counts a call's tokens in the minute its request was taken in. */
export async function addProviderTokens(
  db: Db,
  caller: Caller,
  provider: string,
  windowStart: Date,
  tokens: number,
): Promise<void> {
  await db
    .updateTable('provider_usage_windows')
    .set((eb) => ({ tokens: eb('tokens', '+', tokens) }))
    .where('owner_id', '=', caller.userId)
    .where('provider', '=', provider)
    .where('window_start', '=', toDbTimestamp(windowStart))
    .execute();
}
