import { InputError } from '../errors/index.js';

/** What an event type pattern may contain (letters, digits, `_ . : -`, and `*`). */
export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9_.:*-]+$/;
const MAX_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 200;

/**
 * Whether a subscription's patterns take an event type: `*` takes every type, a pattern ending
 * in `*` (`run.*`) every type that starts with what precedes it, any other only itself.
 */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type,
  );
}

/** Checks and de-duplicates the patterns a caller gave; `*` may only end a pattern. */
export function checkEventTypes(value: unknown, field = 'eventTypes'): string[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new InputError(field, 'must be a non-empty array of event types');
  if (value.length > MAX_PATTERNS) throw new InputError(field, `at most ${MAX_PATTERNS} event types`);
  value.forEach((pattern: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof pattern !== 'string' || !EVENT_TYPE_PATTERN.test(pattern))
      throw new InputError(at, `must match ${EVENT_TYPE_PATTERN.source}`);
    if (pattern.length > MAX_PATTERN_LENGTH)
      throw new InputError(at, `at most ${MAX_PATTERN_LENGTH} characters`);
    if (pattern.slice(0, -1).includes('*'))
      throw new InputError(at, 'a * may only end a pattern ("*", "run.*")');
  });
  return [...new Set(value as string[])];
}

/** The stored patterns of a webhook row; a damaged value subscribes to nothing. */
export function storedEventTypes(text: string): string[] {
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}
