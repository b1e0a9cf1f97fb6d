import type { Kysely, Selectable } from 'kysely';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { LlmProvidersTable, SwarmDatabase } from '../schema-types.js';
import { byCodeUnits, fromDbBool, fromDbJson, newId, nowTimestamp, toDbBool, toDbJson } from '../values.js';
import { recordAudit } from './audit-logs.js';

/**
 * LLM providers (`llm_providers`), per-workflow agent overrides (`agent_configurations`) and the
 * usage an LLM call records (`metrics`, the run's totals). A provider's API key is never here:
 * only the id of the secret that holds it, and that secret's name for display.
 */
export const LLM_PROVIDER_KINDS = ['openai', 'anthropic', 'ollama', 'custom'] as const;
export type LlmProviderKind = (typeof LLM_PROVIDER_KINDS)[number];

export interface LlmProviderRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly provider: LlmProviderKind;
  /** The model agents of this provider get when they name none. */
  readonly model: string | null;
  readonly baseUrl: string | null;
  /** The secret holding the API key (a global secret of the owner), or null. */
  readonly apiKeySecretId: string | null;
  /** That secret's name; null when there is none or it was removed. */
  readonly apiKeySecret: string | null;
  readonly active: boolean;
  readonly isDefault: boolean;
  /** Prices (`input_cost_per_1k`, `output_cost_per_1k`) and the like. */
  readonly configuration: Record<string, unknown>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewLlmProvider {
  readonly name: string;
  readonly provider: LlmProviderKind;
  readonly model: string | null;
  readonly baseUrl: string | null;
  readonly apiKeySecretId: string | null;
  readonly active: boolean;
  readonly isDefault: boolean;
  readonly configuration: Record<string, unknown>;
}

/** An `agent_configurations` row: what it overrides for the agent (in one workflow, or everywhere). */
export interface AgentConfigurationRecord {
  readonly id: string;
  readonly agentId: string;
  readonly workflowId: string | null;
  readonly llmModel: string | null;
  readonly systemPrompt: string | null;
  readonly parameters: Record<string, unknown>;
}

/** One LLM call's usage, as a `metrics` row (name `llm`) and added to the run's totals. */
export interface LlmUsage {
  readonly runId: string | null;
  readonly taskId: string | null;
  readonly stepId: string | null;
  readonly agent: { readonly name: string; readonly version: string };
  readonly provider: string;
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cost: number;
  readonly durationMs: number;
}

type Db = Kysely<SwarmDatabase>;
type ProviderRow = Selectable<LlmProvidersTable> & { secret_name: string | null };

function toProvider(row: ProviderRow): LlmProviderRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    provider: row.provider as LlmProviderKind,
    model: row.model,
    baseUrl: row.base_url,
    apiKeySecretId: row.api_key_secret_id,
    apiKeySecret: row.secret_name,
    active: fromDbBool(row.active),
    isDefault: fromDbBool(row.is_default),
    configuration: fromDbJson<Record<string, unknown>>(row.configuration) ?? {},
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function providersOf(db: Db, caller: Caller) {
  return db
    .selectFrom('llm_providers')
    .leftJoin('secrets', 'secrets.id', 'llm_providers.api_key_secret_id')
    .selectAll('llm_providers')
    .select('secrets.name as secret_name')
    .where('llm_providers.owner_id', '=', caller.userId);
}

export async function listProviders(db: Db, caller: Caller): Promise<LlmProviderRecord[]> {
  const rows = await providersOf(db, caller).execute();
  return rows.map(toProvider).sort((a, b) => byCodeUnits(a.name, b.name));
}

export async function findProvider(db: Db, caller: Caller, name: string): Promise<LlmProviderRecord | null> {
  const row = await providersOf(db, caller).where('llm_providers.name', '=', name).executeTakeFirst();
  return row === undefined ? null : toProvider(row);
}

/** The caller's default provider (`is_default`), or null. */
export async function findDefaultProvider(db: Db, caller: Caller): Promise<LlmProviderRecord | null> {
  const row = await providersOf(db, caller)
    .where('llm_providers.is_default', '=', toDbBool(true))
    .orderBy('llm_providers.name')
    .executeTakeFirst();
  return row === undefined ? null : toProvider(row);
}

/**
 * Creates or replaces the caller's provider `name` (keeping its id). A new default provider
 * stops being the default for the others, in the same transaction.
 */
export async function setProvider(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  provider: NewLlmProvider,
): Promise<{ provider: LlmProviderRecord; created: boolean }> {
  return dialect.writeTransaction(db, async (trx) => {
    const now = nowTimestamp();
    const existing = await findProvider(trx, caller, provider.name);
    const values = {
      provider: provider.provider,
      model: provider.model,
      base_url: provider.baseUrl,
      api_key_secret_id: provider.apiKeySecretId,
      active: toDbBool(provider.active),
      is_default: toDbBool(provider.isDefault),
      configuration: toDbJson(provider.configuration),
      updated_at: now,
    };
    if (provider.isDefault) {
      await trx
        .updateTable('llm_providers')
        .set({ is_default: toDbBool(false) })
        .where('owner_id', '=', caller.userId)
        .where('name', '<>', provider.name)
        .execute();
    }
    if (existing === null) {
      await trx
        .insertInto('llm_providers')
        .values({ id: newId(), owner_id: caller.userId, name: provider.name, created_at: now, ...values })
        .execute();
    } else {
      await trx
        .updateTable('llm_providers')
        .set(values)
        .where('id', '=', existing.id)
        .where('owner_id', '=', caller.userId)
        .execute();
    }
    const saved = (await findProvider(trx, caller, provider.name))!;
    await recordAudit(trx, {
      caller,
      action: 'llm_provider.set',
      resourceType: 'llm_provider',
      resourceId: saved.id,
      // The API key's secret is named by id; its value never reaches this table.
      metadata: {
        name: saved.name,
        provider: provider.provider,
        model: provider.model,
        isDefault: provider.isDefault,
        created: existing === null,
      },
    });
    return { provider: saved, created: existing === null };
  });
}

export async function removeProvider(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  name: string,
): Promise<LlmProviderRecord | null> {
  return dialect.writeTransaction(db, async (trx) => {
    const existing = await findProvider(trx, caller, name);
    if (existing === null) return null;
    await trx
      .deleteFrom('llm_providers')
      .where('id', '=', existing.id)
      .where('owner_id', '=', caller.userId)
      .execute();
    await recordAudit(trx, {
      caller,
      action: 'llm_provider.remove',
      resourceType: 'llm_provider',
      resourceId: existing.id,
      metadata: { name: existing.name },
    });
    return existing;
  });
}

async function agentId(db: Db, caller: Caller, agent: { name: string; version: string }) {
  const row = await db
    .selectFrom('agents')
    .select('id')
    .where('owner_id', '=', caller.userId)
    .where('name', '=', agent.name)
    .where('version', '=', agent.version)
    .executeTakeFirst();
  return row?.id ?? null;
}

/**
 * The configuration that applies to the caller's agent in `runId`'s workflow: a row for that
 * workflow (any version of it) wins over a row without a workflow (the agent's own override).
 * Null when neither exists, or the agent is not registered (builtins).
 */
export async function findAgentConfiguration(
  db: Db,
  caller: Caller,
  agent: { name: string; version: string },
  runId: string | null,
): Promise<AgentConfigurationRecord | null> {
  const id = await agentId(db, caller, agent);
  if (id === null) return null;
  let workflowName: string | null = null;
  if (runId !== null) {
    const run = await db
      .selectFrom('workflow_runs')
      .innerJoin('workflows', 'workflows.id', 'workflow_runs.workflow_id')
      .select('workflows.name')
      .where('workflow_runs.id', '=', runId)
      .where('workflow_runs.owner_id', '=', caller.userId)
      .executeTakeFirst();
    workflowName = run?.name ?? null;
  }
  const rows = await db
    .selectFrom('agent_configurations')
    .leftJoin('workflows', 'workflows.id', 'agent_configurations.workflow_id')
    .selectAll('agent_configurations')
    .select('workflows.name as workflow_name')
    .where('agent_configurations.owner_id', '=', caller.userId)
    .where('agent_configurations.agent_id', '=', id)
    .execute();
  const pick =
    rows.find((r) => workflowName !== null && r.workflow_name === workflowName) ??
    rows.find((r) => r.workflow_id === null);
  if (pick === undefined) return null;
  return {
    id: pick.id,
    agentId: pick.agent_id,
    workflowId: pick.workflow_id,
    llmModel: pick.llm_model,
    systemPrompt: pick.system_prompt,
    parameters: fromDbJson<Record<string, unknown>>(pick.parameters) ?? {},
  };
}

/**
 * Records one LLM call: a `metrics` row named `llm`, and the tokens and cost added to the run's
 * `total_api_tokens` / `total_cost` (an increment, so concurrent steps add up).
 */
export async function recordLlmUsage(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  usage: LlmUsage,
): Promise<void> {
  await dialect.writeTransaction(db, async (trx) => {
    const tokens = usage.inputTokens + usage.outputTokens;
    await trx
      .insertInto('metrics')
      .values({
        id: newId(),
        owner_id: caller.userId,
        agent_id: await agentId(trx, caller, usage.agent),
        run_id: usage.runId,
        task_id: usage.taskId,
        name: 'llm',
        execution_time_ms: usage.durationMs,
        token_usage: tokens,
        prompt_tokens: usage.inputTokens,
        completion_tokens: usage.outputTokens,
        estimated_cost: usage.cost,
        success_flag: toDbBool(true),
        provider: usage.provider,
        model: usage.model,
        labels: toDbJson({
          provider: usage.provider,
          model: usage.model,
          agent: `${usage.agent.name}@${usage.agent.version}`,
          ...(usage.stepId === null ? {} : { step: usage.stepId }),
        }),
      })
      .execute();
    if (usage.runId !== null) {
      await trx
        .updateTable('workflow_runs')
        .set((eb) => ({
          total_api_tokens: eb('total_api_tokens', '+', tokens),
          total_cost: eb('total_cost', '+', usage.cost),
        }))
        .where('id', '=', usage.runId)
        .where('owner_id', '=', caller.userId)
        .execute();
    }
  });
}
