/**
 * The vocabulary of an agent manifest: which names, capabilities and permissions are well formed,
 * and the small checks every part of the validator shares. Kept apart from validate.ts so the
 * builtin agents and the runtime checks read the same lists.
 */
import type { FieldIssue } from '../../errors/index.js';

/** Agent names: lower-case, URL- and file-name-safe. `/` is reserved for `builtin/<name>`. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
export const NAME_MAX_LENGTH = 100;
export const BUILTIN_PREFIX = 'builtin/';

/** Routing tags such as `text:summarize` or `data:v1`: segments joined by `:`. */
export const CAPABILITY_PATTERN = /^[a-z0-9][a-z0-9_.-]*(:[a-z0-9_.-]+)*$/;

/**
 * What an agent may touch. The worker grants exactly these and nothing else:
 * - `network:http`  outgoing HTTP(S) requests
 * - `network:smtp`  outgoing mail through an SMTP connector
 * - `fs:read`       reading files outside the agent's own folder and scratch directory
 * - `fs:write`      writing files outside its scratch directory
 * - `event:emit`    emitting `{source, type, payload}` events that can start workflows
 * - `secret:NAME`   receiving the secret NAME (nothing else ever hands a secret to a step)
 */
export const FIXED_PERMISSIONS = [
  'network:http',
  'network:smtp',
  'fs:read',
  'fs:write',
  'event:emit',
] as const;
export const SECRET_PERMISSION_PATTERN = /^secret:[A-Za-z_][A-Za-z0-9_]*$/;

/** The agents Swarm ships; `runtime: {type: builtin, name}` must name one of them. */
export const BUILTIN_NAMES = [
  'noop',
  'transform',
  'http_request',
  'delay',
  'condition',
  'emit_event',
  'send_email',
  'approval',
  'consensus',
  'orchestrate',
  'wait_for_event',
] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];

export const RESOURCE_LIMITS = {
  memory_mb: { min: 16, max: 65_536, default: 128 },
  timeout_seconds: { min: 1, max: 86_400, default: 300 },
} as const;
/** resources.max_concurrency: optional, no default (no limit). */
export const MAX_CONCURRENCY = { min: 1, max: 100_000 } as const;

/** A non-empty string, or '' after reporting why not (`hint` says what belongs there). */
export function requiredString(value: unknown, field: string, hint: string, issues: FieldIssue[]): string {
  if (typeof value === 'string' && value.trim() !== '') return value;
  const got = value === undefined ? 'is required' : `must be a non-empty string, got ${describe(value)}`;
  issues.push({ field, message: `${got}: ${hint}` });
  return '';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** "string", "number", "array", "null"…: what the user actually wrote, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value} ${String(value)}`;
}

/**
 * Checks a list of unique strings, each passing `check` (which returns a message or null).
 * Every bad or duplicate entry is reported at its own index; the good ones are kept in order.
 */
export function checkStringList(
  value: unknown,
  field: string,
  issues: FieldIssue[],
  check: (item: string) => string | null,
): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    issues.push({ field, message: `must be an array of strings, got ${describe(value)}` });
    return [];
  }
  const seen = new Map<string, number>();
  const out: string[] = [];
  value.forEach((item: unknown, index) => {
    const at = `${field}[${index}]`;
    if (typeof item !== 'string') {
      issues.push({ field: at, message: `must be a string, got ${describe(item)}` });
      return;
    }
    const problem = check(item);
    if (problem !== null) {
      issues.push({ field: at, message: problem });
      return;
    }
    const first = seen.get(item);
    if (first !== undefined) {
      issues.push({ field: at, message: `duplicate of ${field}[${first}] ("${item}")` });
      return;
    }
    seen.set(item, index);
    out.push(item);
  });
  return out;
}

/** Reports keys of `value` not in `allowed`, with a hint when one looks like a typo. */
export function checkUnknownKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  prefix: string,
  issues: FieldIssue[],
  what: string,
): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const guess = allowed.find((candidate) => editDistance(candidate, key) <= 2);
    issues.push({
      field: `${prefix}${key}`,
      message: `unknown property for ${what}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}; allowed: ${allowed.join(', ')}`,
    });
  }
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
