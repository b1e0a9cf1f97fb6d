import type { EvaluateOptions } from '../expressions/index.js';
import { flowKey, type FlowLimit } from '../queue/index.js';
import { compileExpression, type NormalizedStep } from '../registry/index.js';

/**
 * A task's flow limits (docs/flow-control.md): each `key` expression evaluated over the same
 * data as the step's input (an item's task sees `item` and `index`), then namespaced by scope
 * and owner, so a key never crosses owners. A key that is not a string is its JSON; no key (or
 * one giving nothing) is the scope's single key.
 */
export async function stepFlowLimits(
  ownerId: string,
  workflow: string,
  step: NormalizedStep,
  context: Record<string, unknown>,
  options: EvaluateOptions,
): Promise<FlowLimit[] | undefined> {
  if (step.flow === undefined) return undefined;
  const limits: FlowLimit[] = [];
  for (const limit of step.flow) {
    let value = '';
    if (limit.key !== undefined) {
      const result = await compileExpression(limit.key).evaluate(context, options);
      value = typeof result === 'string' ? result : (JSON.stringify(result) ?? '');
    }
    const key = flowKey(
      limit.kind,
      limit.scope,
      { ownerId, workflow, step: step.id, ...(step.agent === undefined ? {} : { agent: step.agent.name }) },
      value,
    );
    limits.push(
      limit.kind === 'concurrency'
        ? { key, scope: limit.scope, maxRunning: limit.limit }
        : { key, scope: limit.scope, rate: { limit: limit.limit, periodMs: limit.period_ms! } },
    );
  }
  return limits;
}
