/**
 * Durations as a definition writes them: one or more `<whole number><unit>` parts, units `ms`,
 * `s`, `m`, `h`, `d` (`30s`, `5m`, `1h30m`, `2d`). Shared by validation and by the builtins that
 * take them (builtin/wait_for_event), so both accept and refuse the same text.
 */

const WHOLE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest `timeout` a wait may have: a year. */
export const MAX_WAIT_TIMEOUT_MS = 365 * 86_400_000;
/** The longest `lookback`: 30 days (events are pruned after SWARM_EVENT_RETENTION_DAYS anyway). */
export const MAX_LOOKBACK_MS = 30 * 86_400_000;

/** Milliseconds, or a message saying what is wrong with the text. */
export function parseDuration(text: unknown, max: number): number | string {
  if (typeof text !== 'string' || !WHOLE.test(text.trim()))
    return `must be a duration such as "30s", "5m", "1h30m" or "2d" (units ms, s, m, h, d), got ${JSON.stringify(text)}`;
  let ms = 0;
  for (const [, amount, unit] of text.trim().matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  if (!Number.isSafeInteger(ms) || ms > max)
    return `must be at most ${formatDuration(max)}, got ${JSON.stringify(text)}`;
  return ms;
}

function formatDuration(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${ms}ms`;
}
