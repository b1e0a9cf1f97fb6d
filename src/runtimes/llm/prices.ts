/**
 * What a model call costs: the provider's own answer when it gives one (`usage.cost`, as
 * OpenRouter does), else the prices set on the provider (`configuration.input_cost_per_1k`,
 * `output_cost_per_1k`), else this table of list prices for common models. Prices move: the
 * table says when it was last checked, and a provider's configuration always wins.
 */
import type { LlmProviderRecord } from '../../storage/index.js';

/** When the list prices below were last checked against the vendors' pages. */
export const PRICES_CHECKED = '2025-06-01';

/** US dollars per 1,000 tokens, by model name prefix (the longest matching prefix wins). */
const LIST_PRICES: Readonly<Record<string, { readonly input: number; readonly output: number }>> = {
  'gpt-4o-mini': { input: 0.00015, output: 0.0006 },
  'gpt-4o': { input: 0.0025, output: 0.01 },
  'gpt-4.1-nano': { input: 0.0001, output: 0.0004 },
  'gpt-4.1-mini': { input: 0.0004, output: 0.0016 },
  'gpt-4.1': { input: 0.002, output: 0.008 },
  'o3-mini': { input: 0.0011, output: 0.0044 },
  'o4-mini': { input: 0.0011, output: 0.0044 },
  'claude-3-5-haiku': { input: 0.0008, output: 0.004 },
  'claude-3-5-sonnet': { input: 0.003, output: 0.015 },
  'claude-3-7-sonnet': { input: 0.003, output: 0.015 },
  'claude-sonnet-4': { input: 0.003, output: 0.015 },
  'claude-opus-4': { input: 0.015, output: 0.075 },
};

export interface Price {
  /** US dollars per 1,000 tokens. */
  readonly input: number;
  readonly output: number;
  readonly source: 'provider' | 'list' | 'none';
}

/** The price of `model` at `provider`. Local models (ollama) and unknown ones cost nothing. */
export function priceOf(provider: LlmProviderRecord, model: string): Price {
  const configured = (key: string) => {
    const value = provider.configuration[key];
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
  };
  const input = configured('input_cost_per_1k');
  const output = configured('output_cost_per_1k');
  if (input !== null || output !== null)
    return { input: input ?? 0, output: output ?? 0, source: 'provider' };
  if (provider.provider === 'ollama') return { input: 0, output: 0, source: 'none' };
  const prefix = Object.keys(LIST_PRICES)
    .filter((p) => model === p || model.startsWith(`${p}-`) || model.startsWith(`${p}:`))
    .sort((a, b) => b.length - a.length)[0];
  const listed = prefix === undefined ? undefined : LIST_PRICES[prefix];
  return listed === undefined ? { input: 0, output: 0, source: 'none' } : { ...listed, source: 'list' };
}

/** Dollars for the tokens at the price, rounded to a billionth. */
export function costAt(price: Price, inputTokens: number, outputTokens: number): number {
  return Math.round(((inputTokens / 1000) * price.input + (outputTokens / 1000) * price.output) * 1e9) / 1e9;
}

/** The cost a provider's answer states itself (`usage.cost`), if it does. */
export function answeredCost(body: unknown): number | null {
  if (typeof body !== 'object' || body === null) return null;
  const usage = (body as { usage?: unknown }).usage;
  if (typeof usage !== 'object' || usage === null) return null;
  const cost = (usage as { cost?: unknown }).cost;
  return typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : null;
}
