import { RuntimeError } from './errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const DURATION = /^(\d{1,7})(s|m|h|d)$/;
/** The longest wait a duration may give: a year. */
export const MAX_DURATION_SECONDS = 366 * 86_400;

/**
 * A duration in whole seconds: a number of seconds, or text such as `90s`, `15m`, `24h`, `7d`
 * (the units the metrics routes accept). Refused with the field named when it is not one, or
 * not between one second and a year.
 */
export function parseDuration(field: string, value: number | string): number {
  let seconds: number;
  if (typeof value === 'number') seconds = value;
  else {
    const match = DURATION.exec(value.trim());
    if (match === null)
      throw RuntimeError.invalidInput(
        field,
        `must be seconds or a duration such as 30s, 15m, 24h, 7d; got ${JSON.stringify(value)}`,
      );
    seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_DURATION_SECONDS)
    throw RuntimeError.invalidInput(
      field,
      `must be a whole number of seconds from 1 to ${MAX_DURATION_SECONDS} (a year)`,
    );
  return seconds;
}
