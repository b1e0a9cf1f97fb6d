/**
 * How a process agent's program lives: `one-shot` (the default, a fresh process per attempt) or
 * `persistent` (a warm process that takes one task after another, docs/runtimes.md). The
 * recycling knobs only mean something for a persistent agent, so they are refused otherwise
 * rather than silently ignored.
 */
import type { FieldIssue } from '../../errors/index.js';
import { describe } from './rules.js';

export const PROCESS_MODES = ['one-shot', 'persistent'] as const;
export type ProcessMode = (typeof PROCESS_MODES)[number];

export const PROCESS_MODE_KEYS = ['mode', 'max_tasks_per_process', 'idle_timeout_seconds'] as const;

export interface ProcessModeSettings {
  readonly mode?: ProcessMode;
  /** Tasks one warm process serves before it is replaced. @default 1000 */
  readonly max_tasks_per_process?: number;
  /** An idle warm process exits after this long. @default 60 */
  readonly idle_timeout_seconds?: number;
}

const BOUNDS = {
  max_tasks_per_process: { min: 1, max: 1_000_000 },
  idle_timeout_seconds: { min: 1, max: 86_400 },
} as const;

export function checkProcessMode(raw: Record<string, unknown>, issues: FieldIssue[]): ProcessModeSettings {
  const settings: { -readonly [K in keyof ProcessModeSettings]: ProcessModeSettings[K] } = {};
  if (raw.mode !== undefined) {
    if (PROCESS_MODES.includes(raw.mode as ProcessMode)) settings.mode = raw.mode as ProcessMode;
    else
      issues.push({
        field: 'runtime.mode',
        message: `must be one of ${PROCESS_MODES.join(', ')}, got ${describe(raw.mode)}`,
      });
  }
  for (const key of ['max_tasks_per_process', 'idle_timeout_seconds'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    const { min, max } = BOUNDS[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      issues.push({
        field: `runtime.${key}`,
        message: `must be an integer from ${min} to ${max}, got ${describe(value)}`,
      });
    } else if (raw.mode !== 'persistent') {
      issues.push({ field: `runtime.${key}`, message: 'applies to mode: persistent only' });
    } else settings[key] = value;
  }
  return settings;
}
