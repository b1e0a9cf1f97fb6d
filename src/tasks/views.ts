import { viewStored } from '../blobs/index.js';
import type { Selectable } from 'kysely';
import { DEFAULT_RETRY_POLICY } from '../queue/index.js';
import { fromDbBool, fromDbJson, type SwarmDatabase } from '../storage/index.js';
import { listedChainValues, type ChainValues } from './chain-values.js';
import type { ChainView, TaskView, TemplateView } from './types.js';

type TaskRow = Selectable<SwarmDatabase['tasks']>;
type ChainRow = Selectable<SwarmDatabase['task_chains']>;
type TemplateRow = Selectable<SwarmDatabase['task_templates']>;

/** Where a template keeps an agent default: capability_required holds `@<agent ref>`. */
export const TEMPLATE_AGENT_PREFIX = '@';

export function taskView(row: TaskRow): TaskView {
  const options =
    fromDbJson<{ initialDelayMs?: number; maxDelayMs?: number; jitter?: boolean }>(row.retry_options) ?? {};
  const started = row.started_at !== null || row.retry_count > 0 || row.status === 'COMPLETED';
  return {
    id: row.id,
    agent:
      row.agent_name === null
        ? null
        : `${row.agent_name}${row.agent_version === null ? '' : `@${row.agent_version}`}`,
    capability: row.capability_required,
    type: row.task_type,
    status: row.status,
    priority: row.priority,
    // In lists a large value is a link to its blob; `get` reads it whole (viewJson).
    input: viewStored(fromDbJson(row.input_data)),
    result: viewStored(fromDbJson(row.result_data)),
    error: row.error_message ?? (row.status === 'PENDING' ? null : row.last_error),
    error_code: row.error_code,
    attempts: started ? row.retry_count + 1 : row.retry_count,
    max_retries: row.max_retries,
    retry_policy: {
      backoff: row.retry_policy,
      initial_delay_ms: options.initialDelayMs ?? DEFAULT_RETRY_POLICY.initialDelayMs,
      max_delay_ms: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
      jitter: options.jitter ?? DEFAULT_RETRY_POLICY.jitter,
    },
    timeout_seconds: row.timeout_seconds,
    routing_strategy: row.routing_strategy,
    depends_on: fromDbJson<string[]>(row.depends_on) ?? [],
    blocked_by: fromDbJson<string[]>(row.blocked_by) ?? [],
    is_blocked: fromDbBool(row.is_blocked),
    chain_id: row.chain_id,
    template_id: row.template_id,
    run_id: row.run_id,
    idempotency_key: row.idempotency_key,
    expires_at: row.expires_at,
    created_at: row.created_at,
    started_at: row.started_at,
    completed_at: row.completed_at,
    cancelled_at: row.cancelled_at,
    cancellation_reason: row.cancellation_reason,
    duration_ms: row.duration_ms === null ? null : Number(row.duration_ms),
  };
}

/** In lists a large output is a link to its blob; `getChain` passes them whole (viewedChainValues). */
export function chainView(row: ChainRow, values: ChainValues = listedChainValues(row)): ChainView {
  const { results } = values;
  const steps = fromDbJson<unknown[]>(row.steps) ?? [];
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    current_step: row.current_step,
    steps,
    step_results: steps.flatMap((_, i) => (results[String(i)] === undefined ? [] : [results[String(i)]!])),
    result: values.result,
    error: row.error_message,
    created_at: row.created_at,
    started_at: row.started_at,
    completed_at: row.completed_at,
  };
}

export function templateView(row: TemplateRow): TemplateView {
  const agent = row.capability_required.startsWith(TEMPLATE_AGENT_PREFIX)
    ? row.capability_required.slice(TEMPLATE_AGENT_PREFIX.length)
    : null;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    agent,
    capability: agent === null ? row.capability_required : null,
    type: row.task_type,
    input: fromDbJson(row.default_input_data),
    priority: row.default_priority,
    timeout_seconds: row.default_timeout,
    max_retries: row.default_max_retries,
    times_used: row.times_used,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
