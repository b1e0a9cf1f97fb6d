import semver from 'semver';
import { parseMcpAgentName } from '../agent/index.js';
import type { AgentRef, Backoff, RetryPolicy } from './types.js';

/**
 * Small readers shared by the source forms. The document has already been shape-checked by Ajv,
 * but reading continues past shape errors (so every issue is reported at once): each reader
 * takes a value only when it has the right type and otherwise leaves the Ajv issue to speak.
 */

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
export function int(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}
export function obj(value: unknown): Json {
  return isObject(value) ? value : {};
}

/** Step ids are JSONata names, so `steps.<id>.output` works without quoting. */
export const STEP_ID = /^[a-z][a-z0-9_]*$/;
const AGENT_NAME = /^(builtin\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `name@range` → AgentRef, or a message saying what is wrong (range absent = `*`). */
export function parseAgentRef(text: string): AgentRef | string {
  const at = text.indexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  const range = at < 0 ? '*' : text.slice(at + 1).trim();
  // An MCP tool (`mcp/<server>/<tool>`) is an agent too; its server is checked by the resolver.
  if (name.startsWith('mcp/') && parseMcpAgentName(name) === null)
    return `invalid agent reference "${text}" (expected mcp/<server>/<tool>, an MCP server's tool)`;
  if (!AGENT_NAME.test(name) && parseMcpAgentName(name) === null)
    return `invalid agent reference "${text}" (expected name@range, e.g. summarize@^1.0.0)`;
  if (range === '' || semver.validRange(range) === null)
    return `invalid version range "${range}" in "${text}"`;
  return { name, range };
}

export function refText(ref: AgentRef): string {
  return `${ref.name}@${ref.range}`;
}

export const DEFAULT_RETRY: RetryPolicy = {
  max_attempts: 1,
  backoff: 'exponential',
  initial_delay_ms: 1000,
  max_delay_ms: 60_000,
  jitter: true,
};

/**
 * Fills a retry policy. Without max_delay_ms the cap is max(60 s, initial delay), so raising the
 * initial delay alone is not an error; an explicit cap below the initial delay is.
 */
export function readRetry(
  value: unknown,
  field: string,
): { retry: RetryPolicy; issue?: { field: string; message: string } } {
  const r = obj(value);
  const initial = int(r.initial_delay_ms) ?? DEFAULT_RETRY.initial_delay_ms;
  const explicitMax = int(r.max_delay_ms);
  const retry: RetryPolicy = {
    max_attempts: int(r.max_attempts) ?? DEFAULT_RETRY.max_attempts,
    backoff: (str(r.backoff) as Backoff | undefined) ?? DEFAULT_RETRY.backoff,
    initial_delay_ms: initial,
    max_delay_ms: explicitMax ?? Math.max(DEFAULT_RETRY.max_delay_ms, initial),
    jitter: typeof r.jitter === 'boolean' ? r.jitter : DEFAULT_RETRY.jitter,
  };
  if (explicitMax !== undefined && explicitMax < initial) {
    return {
      retry,
      issue: { field: `${field}.max_delay_ms`, message: `must be at least initial_delay_ms (${initial})` },
    };
  }
  return { retry };
}
