/**
 * `on_budget: ask`: a model call refused by the step's or the run's budget becomes an approval
 * for the run's owner instead of a failed step. The loop sleeps on an `approval` waitpoint
 * (`budget-<n>`, the n-th ask of this task) with its conversation in the sleep's state; approved,
 * the budget that was hit is raised for this task by one more allowance of its own size and the
 * loop carries on; rejected or timed out, the step fails with the refusal it would have failed
 * with, naming who decided. The owner's day and month budgets are never asked about: they guard
 * every run of the owner, and one step's approval is not the place to lift them.
 */
import { describeDecision, NEVER, type ApprovalDecision, type ApprovalSpec } from '../approval.js';
import { RuntimeError } from '../errors.js';
import type { RuntimeContext, WaitpointRequest } from '../types.js';
import {
  isRaisable,
  SCOPE_NAMES,
  type BudgetDimension,
  type BudgetRaises,
  type RaisableScope,
} from './spending.js';

/** What an agent's runtime block says about budgets (runtime.on_budget). */
export interface BudgetPolicy {
  readonly onBudget: 'fail' | 'ask';
  /** runtime.budget_approval_timeout; null: the approval waits until decided or cancelled. */
  readonly timeoutMs: number | null;
  /** name@version, for the question. */
  readonly agent: string;
}

/** An ask in flight: its waitpoint, the refusal it stands for, and what an approval adds. */
export interface PendingAsk {
  readonly key: string;
  readonly scope: RaisableScope;
  readonly dimension: BudgetDimension;
  readonly allowance: number;
  readonly message: string;
  readonly errorContext: Record<string, unknown>;
  readonly spec: ApprovalSpec;
  readonly timeoutAt: string | null;
}

/** What the loop's state keeps of its budget asks. */
export interface BudgetState {
  readonly asks: number;
  readonly raises: BudgetRaises;
  readonly asking: PendingAsk | null;
}

export const NO_ASKS: BudgetState = { asks: 0, raises: {}, asking: null };

/**
 * The ask a model call's refusal turns into, or null when it stays a failure: another error,
 * `on_budget: fail`, an owner-wide budget, or no worker to wait on.
 */
export function askFor(
  error: unknown,
  policy: BudgetPolicy | undefined,
  budget: BudgetState,
  context: RuntimeContext,
  now: number,
): BudgetState | null {
  if (!(error instanceof RuntimeError) || error.code !== 'BUDGET_EXCEEDED') return null;
  if (policy?.onBudget !== 'ask' || context.waitpoint === undefined) return null;
  const c = error.context;
  const scope = c.scope;
  const dimension = c.dimension === 'cost_usd' ? 'cost_usd' : 'tokens';
  if (!isRaisable(scope)) return null;
  const allowance = Number(dimension === 'tokens' ? c.max_tokens : c.max_cost_usd);
  // A budget of nothing raised by nothing would ask forever.
  if (!(allowance > 0)) return null;
  const limit = allowance + (budget.raises[scope]?.[dimension] ?? 0);
  const spent = Number(dimension === 'tokens' ? c.spent_tokens : c.spent_cost);
  const next = Number(dimension === 'tokens' ? c.next_call_tokens : c.next_call_cost);
  const figure = (n: number) => (dimension === 'tokens' ? `${n} tokens` : `$${Math.round(n * 1e6) / 1e6}`);
  const asks = budget.asks + 1;
  const timeoutAt = policy.timeoutMs === null ? null : new Date(now + policy.timeoutMs).toISOString();
  const spec: ApprovalSpec = {
    message:
      `Agent ${policy.agent} hit its budget: ${SCOPE_NAMES[scope]} is ${figure(limit)}, ${figure(spent)} ` +
      `spent, and the next model call needs about ${figure(next)} more. Continue? Approving raises it ` +
      `to ${figure(limit + allowance)} for this step.`,
    data: {
      agent: policy.agent,
      scope,
      unit: dimension,
      limit,
      spent,
      next_call: next,
      limit_if_approved: limit + allowance,
      ask: asks,
    },
    // Nobody named: the run's owner (or whoever acts for them) decides.
    approvers: {},
    form: null,
  };
  return {
    ...budget,
    asks,
    asking: {
      key: `budget-${asks}`,
      scope,
      dimension,
      allowance,
      message: error.message,
      errorContext: c,
      spec,
      timeoutAt,
    },
  };
}

/** The waitpoint an ask sleeps on, and until when (its timeout, or never). */
export function askRequest(ask: PendingAsk): { until: Date; request: WaitpointRequest } {
  const timeoutAt = ask.timeoutAt === null ? undefined : new Date(ask.timeoutAt);
  return {
    until: timeoutAt ?? NEVER,
    request: {
      key: ask.key,
      kind: 'approval',
      spec: ask.spec,
      onTimeout: 'reject',
      ...(timeoutAt === undefined ? {} : { timeoutAt }),
    },
  };
}

/**
 * A resumed attempt's answer to its ask: still waiting (sleep again), or approved (the budget
 * state with the raise, to carry on with). Rejected, timed out or cancelled: throws.
 */
export async function settleAsk(
  budget: BudgetState,
  context: RuntimeContext,
): Promise<{ waiting: true } | { waiting: false; budget: BudgetState }> {
  const ask = budget.asking!;
  if (context.waitpoint === undefined)
    throw new RuntimeError('INTERNAL', 'the worker gives this runtime no waitpoints', { retryable: false });
  const outcome = await context.waitpoint(ask.key);
  // null: the sleep that writes it did not commit (it is written again with the next one).
  if (outcome === null || outcome.status === 'waiting') return { waiting: true };
  if (outcome.status === 'cancelled')
    throw new RuntimeError('CONFLICT', 'the budget approval was cancelled with its run', {
      retryable: false,
    });
  if (outcome.status === 'timed_out')
    throw new RuntimeError(
      'BUDGET_EXCEEDED',
      `${ask.message}; nobody decided whether to continue before ${outcome.resolvedAt ?? ask.timeoutAt ?? 'its timeout'} (${ask.key} timed out, counted as rejected)`,
      {
        retryable: false,
        context: { ...ask.errorContext, approval: ask.key, decided_by: { via: 'timeout' } },
      },
    );
  const decision = outcome.result as ApprovalDecision;
  if (decision.decision !== 'approve')
    throw new RuntimeError(
      'BUDGET_EXCEEDED',
      `${ask.message}; continuing was rejected by ${describeDecision(decision.decided_by, decision.comment)}`,
      {
        retryable: false,
        context: {
          ...ask.errorContext,
          approval: ask.key,
          decided_by: decision.decided_by,
          comment: decision.comment,
        },
      },
    );
  const before = budget.raises[ask.scope] ?? { tokens: 0, cost_usd: 0 };
  const raised = { ...before, [ask.dimension]: before[ask.dimension] + ask.allowance };
  context.log(
    'info',
    `${ask.key} approved by ${describeDecision(decision.decided_by, decision.comment)}: ${SCOPE_NAMES[ask.scope]} is raised by ${ask.dimension === 'tokens' ? `${ask.allowance} tokens` : `$${ask.allowance}`} for this step`,
    { approval: ask.key, decided_by: decision.decided_by, decided_at: decision.decided_at },
  );
  return {
    waiting: false,
    budget: { ...budget, raises: { ...budget.raises, [ask.scope]: raised }, asking: null },
  };
}
