import type { FieldIssue } from '../../errors/index.js';
import { parseDuration } from './duration.js';
import { fieldOf } from './schema.js';
import { isObject, type Json } from './refs.js';
import type { Located } from './source.js';
import { STEP_FLOW_SCOPES, type StepFlowLimit, type StepFlowScope } from './types.js';

/** The longest rate-limit period: a day (the claim keeps a period's starts). */
const MAX_PERIOD_MS = 86_400_000;

/**
 * A step's `concurrency` (one limit or a list) and `rate_limit` (docs/flow-control.md). The
 * schema has checked their shape; here the period is parsed, an agent scope is only allowed on
 * an agent step, and the key expressions are returned located, to be checked with the others.
 */
export function readStepFlow(
  raw: Json,
  at: string,
  isAgentStep: boolean,
  issues: FieldIssue[],
): { limits: StepFlowLimit[]; keys: Located<string>[] } | undefined {
  if (raw.concurrency === undefined && raw.rate_limit === undefined) return undefined;
  const limits: StepFlowLimit[] = [];
  const keys: Located<string>[] = [];
  const read = (value: unknown, field: string, kind: 'concurrency' | 'rate') => {
    if (!isObject(value)) return;
    const scope = (STEP_FLOW_SCOPES as readonly unknown[]).includes(value.scope)
      ? (value.scope as StepFlowScope)
      : 'step';
    if (scope === 'agent' && !isAgentStep)
      issues.push({
        field: fieldOf(field, 'scope'),
        message: 'agent is only allowed on a step that names an agent',
      });
    const limit = value.limit;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) return;
    const key = typeof value.key === 'string' ? value.key : undefined;
    if (key !== undefined) keys.push({ value: key, field: fieldOf(field, 'key') });
    if (kind === 'concurrency') {
      limits.push({ kind, limit, scope, ...(key === undefined ? {} : { key }) });
      return;
    }
    const period = parseDuration(value.period, MAX_PERIOD_MS);
    if (typeof period === 'string') {
      if (value.period !== undefined) issues.push({ field: fieldOf(field, 'period'), message: period });
      return;
    }
    limits.push({ kind, limit, period_ms: period, scope, ...(key === undefined ? {} : { key }) });
  };
  const concurrency = raw.concurrency;
  if (Array.isArray(concurrency))
    concurrency.forEach((item, i) => read(item, fieldOf(fieldOf(at, 'concurrency'), i), 'concurrency'));
  else if (concurrency !== undefined) read(concurrency, fieldOf(at, 'concurrency'), 'concurrency');
  if (raw.rate_limit !== undefined) read(raw.rate_limit, fieldOf(at, 'rate_limit'), 'rate');
  return { limits, keys };
}
