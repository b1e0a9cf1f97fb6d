/** The API's shapes the workflow, agent, trigger, event and webhook views read. */
import type { InputStep, JsonSchema } from '../lib/run-input.js';

export interface WorkflowView {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly description?: string | null;
  readonly enabled: boolean;
  readonly status: string;
  readonly trigger?: { readonly type?: string; readonly [key: string]: unknown };
  /** The normalised DAG: what the graph draws and the input form reads. */
  readonly workflow: { readonly steps: readonly InputStep[]; readonly [key: string]: unknown };
  /** The document as written: what the YAML shows. */
  readonly definition?: Record<string, unknown>;
  readonly createdAt?: string;
}

export interface RunBrief {
  readonly id: string;
  readonly status: string;
  readonly startedAt: string | null;
}

export interface AgentView {
  readonly id?: string | null;
  readonly name: string;
  readonly version: string;
  readonly builtin: boolean;
  readonly status: string;
  readonly manifest: {
    readonly input_schema?: JsonSchema;
    readonly runtime?: { type?: string };
    [key: string]: unknown;
  };
  readonly trustScore?: number | null;
  readonly healthScore?: number | null;
  readonly createdAt?: string | null;
}

export interface AgentStats {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly status: string;
  readonly runtimeType: string;
  readonly trustScore: number;
  readonly healthScore: number;
  readonly tasksCompleted: number;
  readonly tasksFailed: number;
  readonly successRate: number | null;
  readonly avgDurationMs: number | null;
  readonly lastSeenAt: string | null;
  readonly lastTaskCompletedAt: string | null;
}

export interface TrustPoint {
  readonly at: string;
  readonly version: string;
  readonly eventType: string;
  readonly before: number;
  readonly after: number;
  readonly delta: number;
  readonly reason: string | null;
}

export interface TriggerView {
  readonly id: string;
  readonly workflow: string;
  readonly type: 'webhook' | 'schedule' | 'event';
  readonly enabled: boolean;
  readonly path: string | null;
  readonly url: string | null;
  readonly previousSecretValidUntil: string | null;
  readonly cron: string | null;
  readonly timezone: string | null;
  readonly nextRunAt: string | null;
  readonly lastRunAt: string | null;
  readonly eventSource: string | null;
  readonly eventType: string | null;
  readonly fireCount: number;
}

export interface FiringView {
  readonly id: string;
  readonly key: string;
  readonly status: string;
  readonly runId: string | null;
  readonly error: string | null;
  readonly reason: string | null;
  readonly scheduledFor: string | null;
  readonly createdAt: string;
}

export interface EventView {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly payload?: unknown;
  readonly status: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly runId: string | null;
  readonly depth: number;
  readonly createdAt: string;
}

export interface WebhookView {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly description: string | null;
  readonly eventTypes: readonly string[];
  readonly active: boolean;
  readonly failureCount: number;
  readonly lastDeliveryAt: string | null;
  readonly createdAt: string;
}

export interface DeliveryView {
  readonly id: string;
  readonly eventType: string;
  readonly status: string;
  readonly attemptCount: number;
  readonly nextAttemptAt: string | null;
  readonly lastStatusCode: number | null;
  readonly lastLatencyMs: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: string | null;
  readonly createdAt: string;
}

/** "84%", or "–" when there is nothing to count. */
export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '–' : `${Math.round(rate * 100)}%`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  return ms < 1000
    ? `${ms} ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${(ms / 60_000).toFixed(1)} min`;
}
