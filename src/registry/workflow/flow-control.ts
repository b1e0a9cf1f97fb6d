import type { FieldIssue } from '../../errors/index.js';
import { parseDuration } from './duration.js';
import { parseExpression } from './expressions.js';
import { int, isObject, str, type Json } from './refs.js';
import {
  CONCURRENCY_STRATEGIES,
  type ConcurrencySpec,
  type ConcurrencyStrategy,
  type FiringFlowSpec,
} from './types.js';

/**
 * Flow control in a definition (docs/run-concurrency.md): the workflow's `concurrency` and an
 * event or webhook trigger's `debounce` / `throttle`. Ajv has checked types, ranges and enums;
 * here the keys must parse as bare JSONata and the periods as durations.
 */

/** The longest debounce or throttle period: a day (a debounce holds its firing that long). */
export const MAX_FLOW_PERIOD_MS = 86_400_000;

function keyIssue(value: unknown, field: string, issues: FieldIssue[]): string | undefined {
  const key = str(value);
  if (key === undefined) return undefined;
  if (/^\s*\{\{[\s\S]*\}\}\s*$/.test(key)) {
    issues.push({ field, message: 'is a bare JSONata expression: write it without {{ }}' });
    return undefined;
  }
  const parsed = parseExpression(key);
  if (!parsed.ok) issues.push({ field, message: `expression does not parse: ${parsed.message}` });
  return parsed.ok ? key : undefined;
}

export function readConcurrency(value: unknown, issues: FieldIssue[]): ConcurrencySpec | undefined {
  if (!isObject(value)) return undefined;
  const key = keyIssue(value.key, 'concurrency.key', issues);
  const limit = int(value.limit) ?? 1;
  const written = str(value.strategy) ?? 'queue';
  const strategy = (CONCURRENCY_STRATEGIES as readonly string[]).includes(written)
    ? (written as ConcurrencyStrategy)
    : 'queue';
  return { ...(key === undefined ? {} : { key }), limit, strategy };
}

/** A trigger's `debounce` or `throttle` (which the caller allows only on event and webhook triggers). */
export function readFiringFlow(
  value: Json,
  issues: FieldIssue[],
): { debounce?: FiringFlowSpec; throttle?: FiringFlowSpec & { limit: number } } {
  const read = (name: 'debounce' | 'throttle'): FiringFlowSpec | undefined => {
    const spec = value[name];
    if (!isObject(spec)) return undefined;
    const key = keyIssue(spec.key, `trigger.${name}.key`, issues);
    const period = parseDuration(spec.period, MAX_FLOW_PERIOD_MS);
    if (typeof period === 'string') issues.push({ field: `trigger.${name}.period`, message: period });
    else if (period < 1) issues.push({ field: `trigger.${name}.period`, message: 'must be longer than 0' });
    return {
      ...(key === undefined ? {} : { key }),
      period: str(spec.period) ?? '',
      period_ms: typeof period === 'number' ? period : 0,
    };
  };
  const debounce = read('debounce');
  const throttle = read('throttle');
  if (debounce !== undefined && throttle !== undefined)
    issues.push({ field: 'trigger.throttle', message: 'use either debounce or throttle, not both' });
  const limit = isObject(value.throttle) ? (int(value.throttle.limit) ?? 1) : 1;
  return {
    ...(debounce === undefined ? {} : { debounce }),
    ...(throttle === undefined ? {} : { throttle: { ...throttle, limit } }),
  };
}
