import { Counter, Histogram, Registry } from 'prom-client';

/**
 * The process's own counters and histograms, fed from the places that already hold the numbers
 * (the worker's claim loop and attempt ends, the engine's run ends, the HTTP hook, …). Recording
 * is a synchronous in-memory update: no await, no database write on the hot path. Figures that
 * must hold across processes (queue depth, active workers, runs by status) are not kept here:
 * they are read from the database when /metrics is scraped (./scrape.ts).
 *
 * Labels are bounded: statuses, route patterns, workflow and agent names, providers and models —
 * never a run, task or delivery id.
 */
export const processRegistry = new Registry();

const registers = [processRegistry];
/** Seconds, from 1 ms to 10 min: queue waits and step durations span that range. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

export const instruments = {
  claimDuration: new Histogram({
    name: 'swarm_queue_claim_duration_seconds',
    help: 'Time one claim of ready tasks took (a round trip of the claim transaction)',
    buckets: DURATION_BUCKETS,
    registers,
  }),
  taskWait: new Histogram({
    name: 'swarm_task_wait_seconds',
    help: 'Enqueue-to-start: from the moment a task became claimable (run_at) to its claim',
    buckets: DURATION_BUCKETS,
    registers,
  }),
  tasksClaimed: new Counter({
    name: 'swarm_tasks_claimed_total',
    help: 'Tasks claimed, by how: from the queue (queue), or released by a completion and taken by its worker in the same transaction (on_complete)',
    labelNames: ['how'] as const,
    registers,
  }),
  taskDuration: new Histogram({
    name: 'swarm_task_duration_seconds',
    help: 'Duration of task attempts, by agent and how the attempt ended',
    labelNames: ['agent', 'status'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  }),
  runDuration: new Histogram({
    name: 'swarm_run_duration_seconds',
    help: 'Duration of finished runs, by workflow and final status',
    labelNames: ['workflow', 'status'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  }),
  retries: new Counter({
    name: 'swarm_task_retries_total',
    help: 'Failed attempts put back on the queue for another try',
    registers,
  }),
  leaseLosses: new Counter({
    name: 'swarm_task_lease_losses_total',
    help: 'Leases that ran out (a worker died or stalled) and were reclaimed',
    registers,
  }),
  tokens: new Counter({
    name: 'swarm_llm_tokens_total',
    help: 'LLM tokens used, by provider, model and kind (input or output)',
    labelNames: ['provider', 'model', 'kind'] as const,
    registers,
  }),
  cost: new Counter({
    name: 'swarm_llm_cost_total',
    help: 'Estimated LLM cost (in the providers’ configured currency), by provider and model',
    labelNames: ['provider', 'model'] as const,
    registers,
  }),
  webhookReceipts: new Counter({
    name: 'swarm_webhook_receipts_total',
    help: 'Incoming webhook requests (POST /hooks/…), by HTTP status answered',
    labelNames: ['status'] as const,
    registers,
  }),
  webhookDeliveries: new Counter({
    name: 'swarm_webhook_deliveries_total',
    help: 'Outgoing webhook delivery attempts recorded, by outcome (succeeded, failed)',
    labelNames: ['status'] as const,
    registers,
  }),
  eventDispatchLag: new Histogram({
    name: 'swarm_event_dispatch_lag_seconds',
    help: 'From an event’s publication to its dispatch to triggers and subscribers',
    buckets: DURATION_BUCKETS,
    registers,
  }),
  httpRequests: new Counter({
    name: 'swarm_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  }),
  httpDuration: new Histogram({
    name: 'swarm_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers,
  }),
};

/** Label values longer than this are cut: a name is bounded by the registry, but not its length. */
const MAX_LABEL = 100;

/** A label value from a user-chosen name (workflow, agent, model): bounded in length, never empty. */
export function labelOf(value: string | null | undefined, fallback = 'none'): string {
  if (value === null || value === undefined || value === '') return fallback;
  return value.length > MAX_LABEL ? value.slice(0, MAX_LABEL) : value;
}

/** Seconds since an ISO timestamp (or a Date), never negative; null when it cannot be read. */
export function secondsSince(from: string | Date | null | undefined, now = Date.now()): number | null {
  if (from === null || from === undefined) return null;
  const t = typeof from === 'string' ? Date.parse(from) : from.getTime();
  if (Number.isNaN(t)) return null;
  return Math.max(0, (now - t) / 1000);
}

/**
 * One LLM call's (or an agent's reported) usage: tokens by kind and cost, by provider and model.
 * `total` is used when the split into input and output is unknown (counted as kind `total`).
 */
export function recordUsageMetrics(
  provider: string | null,
  model: string | null,
  input: number | null,
  output: number | null,
  cost: number,
  total?: number,
): void {
  const labels = { provider: labelOf(provider), model: labelOf(model) };
  if (input !== null && input > 0) instruments.tokens.inc({ ...labels, kind: 'input' }, input);
  if (output !== null && output > 0) instruments.tokens.inc({ ...labels, kind: 'output' }, output);
  if (input === null && output === null && total !== undefined && total > 0)
    instruments.tokens.inc({ ...labels, kind: 'total' }, total);
  if (cost > 0) instruments.cost.inc(labels, cost);
}
