import type { FastifyInstance } from 'fastify';
import { InputError, NotFoundError } from '../../errors/index.js';
import { BUDGET_PERIODS, type BudgetPeriod, type OwnerBudget, type Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const budgetSchema = {
  $id: 'Budget',
  type: 'object',
  required: ['period', 'tokens', 'costUsd', 'since', 'spent', 'updatedAt'],
  properties: {
    period: { type: 'string', enum: ['day', 'month'], description: 'A UTC day or month' },
    tokens: { type: ['integer', 'null'], description: 'Most tokens per period; null: no token cap' },
    costUsd: { type: ['number', 'null'], description: 'Most US dollars per period; null: no cost cap' },
    since: { type: 'string', description: 'The start of the current period' },
    spent: {
      type: 'object',
      required: ['tokens', 'costUsd'],
      properties: { tokens: { type: 'integer' }, costUsd: { type: 'number' } },
    },
    updatedAt: { type: 'string' },
  },
} as const;

const periodParams = {
  type: 'object',
  required: ['period'],
  properties: { period: { type: 'string', enum: [...BUDGET_PERIODS] } },
} as const;

const view = (b: OwnerBudget) => ({
  period: b.period,
  tokens: b.maxTokens,
  costUsd: b.maxCostUsd,
  since: b.since,
  spent: { tokens: b.spent.tokens, costUsd: Math.round(b.spent.cost * 1e9) / 1e9 },
  updatedAt: b.updatedAt,
});

/**
 * `/api/v1/budgets`: the caller's caps on model calls per UTC day and month. Before every model
 * call the scheduler adds what was spent in the period to the call's estimate: past a cap, the
 * call is not made and its step fails with BUDGET_EXCEEDED (docs/runtimes.md § Budgets).
 */
export function budgetRoutes(app: FastifyInstance, store: Store): void {
  app.addSchema(budgetSchema);

  app.get(
    '/api/v1/budgets',
    {
      config: { scope: 'providers:read' },
      schema: {
        tags: ['llm'],
        summary: 'Your day and month budgets for model calls, with what this period has spent',
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Budget#' } } },
          },
        },
      },
    },
    async (request) => ({ items: (await store.as(callerOf(request)).budgets.list()).map(view) }),
  );

  app.put<{ Params: { period: BudgetPeriod }; Body: { tokens?: number | null; cost_usd?: number | null } }>(
    '/api/v1/budgets/:period',
    {
      config: { scope: 'providers:write' },
      schema: {
        tags: ['llm'],
        summary: 'Sets your budget for a UTC day or month: tokens, US dollars, or both',
        params: periodParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            tokens: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000_000_000 },
            cost_usd: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1_000_000_000 },
          },
        },
        response: { 200: { $ref: 'Budget#' }, 400: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const { tokens = null, cost_usd: costUsd = null } = request.body ?? {};
      if (tokens === null && costUsd === null)
        throw new InputError('tokens', 'give tokens, cost_usd or both (to remove the budget, DELETE it)');
      const budgets = store.as(callerOf(request)).budgets;
      await budgets.set(request.params.period, { maxTokens: tokens, maxCostUsd: costUsd });
      const set = (await budgets.list()).find((b) => b.period === request.params.period);
      return view(set!);
    },
  );

  app.delete<{ Params: { period: BudgetPeriod } }>(
    '/api/v1/budgets/:period',
    {
      config: { scope: 'providers:write' },
      schema: {
        tags: ['llm'],
        summary: 'Removes your budget for a day or month',
        params: periodParams,
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      if (!(await store.as(callerOf(request)).budgets.remove(request.params.period)))
        throw new NotFoundError('budget', request.params.period);
      return reply.status(204).send();
    },
  );
}
