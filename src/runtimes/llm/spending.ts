/**
 * The scheduler's side of model calls: budgets checked before each call, provider rate limits,
 * and waits (a provider's `Retry-After`, a minute's limit reached) that put the task to sleep
 * instead of failing it. No I/O here.
 */
import type { SpendLimit } from '../../storage/index.js';
import { RuntimeError } from '../errors.js';
import type { ToolSpec, Turn } from './tool-wire.js';

/** A model call that cannot be made before `until` (no attempt is spent waiting for it). */
export class ProviderWait extends Error {
  constructor(
    readonly until: Date,
    readonly why: string,
  ) {
    super(`waiting until ${until.toISOString()}: ${why}`);
    this.name = 'ProviderWait';
  }
}

/** The longest a provider's Retry-After is taken at its word. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** `Retry-After` as milliseconds from `now` (seconds, or an HTTP date); null when absent or unreadable. */
export function retryAfterMs(header: unknown, now: number): number | null {
  if (typeof header !== 'string' || header.trim() === '') return null;
  const text = header.trim();
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** The start of the minute `now` is in: provider limits count per clock minute. */
export function minuteOf(now: number): Date {
  return new Date(now - (now % 60_000));
}

/** A provider's `requests_per_minute` / `tokens_per_minute`, or null when it has neither. */
export function rateLimitsOf(
  configuration: Readonly<Record<string, unknown>>,
): { requestsPerMinute: number | null; tokensPerMinute: number | null } | null {
  const limit = (key: string) => {
    const value = configuration[key];
    return Number.isInteger(value) && (value as number) > 0 ? (value as number) : null;
  };
  const requestsPerMinute = limit('requests_per_minute');
  const tokensPerMinute = limit('tokens_per_minute');
  return requestsPerMinute === null && tokensPerMinute === null
    ? null
    : { requestsPerMinute, tokensPerMinute };
}

/**
 * The input tokens the next call will send, at least: the previous call's input and output (the
 * conversation only grows), or else about 4 characters a token of what is sent.
 */
export function estimateInputTokens(
  system: string | undefined,
  turns: readonly Turn[],
  tools: readonly ToolSpec[],
): number {
  const sent = JSON.stringify({ system, turns, tools }).length;
  let previous = 0;
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    if (turn.role === 'assistant' && turn.call !== undefined) {
      previous = turn.call.inputTokens + turn.call.outputTokens;
      break;
    }
  }
  return Math.max(previous, Math.ceil(sent / 4));
}

export const SCOPE_NAMES: Record<SpendLimit['scope'], string> = {
  step: "the step's budget",
  run: "the run's budget",
  day: "the owner's daily budget",
  month: "the owner's monthly budget",
};

/** The budgets an approval may raise for one task (on_budget: ask); the owner's day and month are never raised. */
export const RAISABLE_SCOPES = ['step', 'run'] as const;
export type RaisableScope = (typeof RAISABLE_SCOPES)[number];
export type BudgetDimension = 'tokens' | 'cost_usd';
/** What approvals added to a task's step and run budgets, on top of the workflow's figures. */
export type BudgetRaises = Partial<
  Record<RaisableScope, { readonly tokens: number; readonly cost_usd: number }>
>;

export function isRaisable(scope: unknown): scope is RaisableScope {
  return (RAISABLE_SCOPES as readonly unknown[]).includes(scope);
}

/**
 * Refuses the call (BUDGET_EXCEEDED) when, with its estimated tokens and cost, what has been
 * spent would pass any of the caps: a call that would pass a budget is not made. `raises` adds
 * what approvals allowed this task to its step and run budgets. The owner's caps are checked
 * first, so a call they stop never turns into a question nobody may answer.
 */
export function checkBudgets(
  limits: readonly SpendLimit[],
  estimate: { tokens: number; cost: number },
  raises: BudgetRaises = {},
): void {
  const ordered = [
    ...limits.filter((l) => !isRaisable(l.scope)),
    ...limits.filter((l) => isRaisable(l.scope)),
  ];
  for (const limit of ordered) {
    const { tokens, cost } = limit.spent;
    const extra = isRaisable(limit.scope) ? raises[limit.scope] : undefined;
    const maxTokens = limit.maxTokens === null ? null : limit.maxTokens + (extra?.tokens ?? 0);
    const maxCost = limit.maxCostUsd === null ? null : limit.maxCostUsd + (extra?.cost_usd ?? 0);
    if (maxTokens !== null && tokens + estimate.tokens > maxTokens)
      throw budgetError(
        limit,
        'tokens',
        estimate,
        `${tokens} tokens spent, and the next model call needs about ${estimate.tokens} more: ${SCOPE_NAMES[limit.scope]} is ${maxTokens} tokens${extra?.tokens ? ` (raised by approval from ${limit.maxTokens})` : ''}`,
      );
    if (maxCost !== null && cost + estimate.cost > maxCost)
      throw budgetError(
        limit,
        'cost_usd',
        estimate,
        `$${round(cost)} spent, and the next model call costs about $${round(estimate.cost)}: ${SCOPE_NAMES[limit.scope]} is $${round(maxCost)}${extra?.cost_usd ? ` (raised by approval from $${limit.maxCostUsd})` : ''}`,
      );
  }
}

function round(value: number): string {
  return String(Math.round(value * 1e6) / 1e6);
}

function budgetError(
  limit: SpendLimit,
  dimension: BudgetDimension,
  estimate: { tokens: number; cost: number },
  detail: string,
): RuntimeError {
  return new RuntimeError('BUDGET_EXCEEDED', `budget exceeded: ${detail}; the call was not made`, {
    retryable: false,
    context: {
      scope: limit.scope,
      dimension,
      max_tokens: limit.maxTokens,
      max_cost_usd: limit.maxCostUsd,
      spent_tokens: limit.spent.tokens,
      spent_cost: limit.spent.cost,
      next_call_tokens: estimate.tokens,
      next_call_cost: estimate.cost,
    },
  });
}
