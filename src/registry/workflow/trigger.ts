import { Cron } from 'croner';
import type { FieldIssue } from '../../errors/index.js';
import { isObject, str } from './refs.js';
import { readFiringFlow } from './flow-control.js';
import type { TriggerSpec } from './types.js';

/**
 * The trigger: manual (the default), webhook, schedule (seed 004 calls it `cron`) or event.
 * Ajv has checked the property types; here each type gets its own required and allowed fields,
 * the cron expression is compiled by croner (the scheduler's own parser) and the time zone is
 * checked against the runtime's IANA database, so a schedule that passes here can be scheduled.
 */

const FIELDS: Record<TriggerSpec['type'], { required: readonly string[]; allowed: readonly string[] }> = {
  manual: { required: [], allowed: [] },
  webhook: { required: [], allowed: ['path', 'debounce', 'throttle'] },
  schedule: { required: ['cron'], allowed: ['cron', 'timezone', 'misfire', 'catch_up_limit'] },
  event: {
    required: ['source', 'event_type'],
    allowed: ['source', 'event_type', 'allow_self', 'debounce', 'throttle'],
  },
};

const TYPED_KEYS = [
  'path',
  'cron',
  'timezone',
  'misfire',
  'catch_up_limit',
  'source',
  'event_type',
  'allow_self',
  'debounce',
  'throttle',
];

/** @-nicknames croner knows; everything else must be 5 fields (minute first) or 6 (second first). */
const NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly']);

/** The canonical IANA name of `zone` (case as the database spells it), or null when unknown. */
export function canonicalTimeZone(zone: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** Why `cron` cannot be scheduled in `timezone`, or null when it can. */
export function cronProblem(cron: string, timezone: string): string | null {
  const fields = cron.trim().split(/\s+/);
  if (!NICKNAMES.has(cron.trim().toLowerCase()) && fields.length !== 5 && fields.length !== 6) {
    return `invalid cron expression "${cron}": expected 5 fields (minute hour day month weekday) or 6 (with seconds first)`;
  }
  try {
    const job = new Cron(cron, { paused: true, timezone });
    const next = job.nextRun();
    job.stop();
    return next === null ? `cron expression "${cron}" never fires` : null;
  } catch (error) {
    return `invalid cron expression "${cron}": ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

export function readTrigger(value: unknown, issues: FieldIssue[]): TriggerSpec {
  if (value === undefined || !isObject(value)) return { type: 'manual' };
  const written = str(value.type);
  if (written === undefined || !['manual', 'webhook', 'schedule', 'cron', 'event'].includes(written)) {
    return { type: 'manual' }; // Ajv has reported it.
  }
  const type = (written === 'cron' ? 'schedule' : written) as TriggerSpec['type'];
  const rule = FIELDS[type];
  for (const key of rule.required) {
    if (value[key] === undefined)
      issues.push({ field: `trigger.${key}`, message: `is required for ${written} triggers` });
  }
  for (const key of Object.keys(value)) {
    // Keys no trigger type knows are Ajv's "unknown property".
    if (TYPED_KEYS.includes(key) && !rule.allowed.includes(key)) {
      issues.push({ field: `trigger.${key}`, message: `not allowed on ${written} triggers` });
    }
  }
  switch (type) {
    case 'manual':
      return { type };
    case 'webhook': {
      const path = str(value.path);
      const segments = path?.replace(/^\//, '').split('/') ?? [];
      const bad = segments.some((seg) => !/^[A-Za-z0-9._~-]+$/.test(seg) || seg === '.' || seg === '..');
      if (path !== undefined && bad) {
        issues.push({
          field: 'trigger.path',
          message: `invalid webhook path "${path}" (segments of letters, digits, ".", "_", "~", "-" separated by "/"; no "." or ".." segments)`,
        });
      }
      // Stored without the leading slash: the URL is always /hooks/<path>.
      const flow = readFiringFlow(value, issues);
      return path === undefined ? { type, ...flow } : { type, path: path.replace(/^\//, ''), ...flow };
    }
    case 'schedule': {
      const written = str(value.timezone) ?? 'UTC';
      const timezone = canonicalTimeZone(written);
      if (timezone === null)
        issues.push({ field: 'trigger.timezone', message: `unknown time zone "${written}"` });
      const cron = str(value.cron) ?? '';
      const problem = cron === '' ? null : cronProblem(cron, timezone ?? 'UTC');
      if (problem !== null) issues.push({ field: 'trigger.cron', message: problem });
      const misfire = str(value.misfire) === 'catch_up' ? 'catch_up' : 'skip';
      const limit = typeof value.catch_up_limit === 'number' ? value.catch_up_limit : 10;
      return { type, cron: cron.trim(), timezone: timezone ?? 'UTC', misfire, catch_up_limit: limit };
    }
    case 'event':
      return {
        type,
        source: str(value.source) ?? '',
        event_type: str(value.event_type) ?? '',
        allow_self: value.allow_self === true,
        ...readFiringFlow(value, issues),
      };
  }
}
