import type { Kysely } from 'kysely';
import type { SwarmDatabase } from '../storage/index.js';
import type { RunSteps, StepState } from './plan.js';
import type { RunRow } from './run-state.js';

/** Tokens as the API shows them: input and output where the provider said, and their total. */
export interface TokenCounts {
  readonly input: number;
  readonly output: number;
  readonly total: number;
}

/** A step as the API shows it: its state, how long it ran, and the LLM tokens and cost of its attempts. */
export interface StepView extends StepState {
  /** From its start to its end (or null while it runs or when it never started). */
  readonly durationMs: number | null;
  readonly tokens: TokenCounts;
  readonly cost: number;
}

/** One run's usage: its totals split into input and output, and each step's. */
export interface RunUsage {
  readonly input: number;
  readonly output: number;
  readonly steps: ReadonlyMap<string, { tokens: TokenCounts; cost: number }>;
}

const NONE: TokenCounts = Object.freeze({ input: 0, output: 0, total: 0 });
const NO_USAGE: RunUsage = { input: 0, output: 0, steps: new Map() };

/** Whether a run recorded any LLM usage: only then are its `metrics` rows read. */
const hasUsage = (row: RunRow) => Number(row.total_api_tokens) > 0 || Number(row.total_cost) > 0;

/**
 * The usage records (`metrics` rows named `llm` or `usage`: one per LLM call or reported usage)
 * of the given runs, summed per run and per step (through the task that made them). Runs with
 * no usage (their totals are 0) are not read at all; the others are found through the
 * owner-and-time index (no row of a run is older than the run).
 */
export async function readRunUsage(
  db: Kysely<SwarmDatabase>,
  rows: readonly RunRow[],
): Promise<Map<string, RunUsage>> {
  const result = new Map<string, RunUsage>();
  const used = rows.filter(hasUsage);
  if (used.length === 0) return result;
  const byOwner = new Map<string, RunRow[]>();
  for (const row of used) byOwner.set(row.owner_id, [...(byOwner.get(row.owner_id) ?? []), row]);
  for (const [ownerId, runs] of byOwner) {
    const oldest = runs.reduce((min, r) => (r.created_at < min ? r.created_at : min), runs[0]!.created_at);
    const records = await db
      .selectFrom('metrics')
      .leftJoin('tasks', 'tasks.id', 'metrics.task_id')
      .select((eb) => [
        'metrics.run_id as runId',
        'tasks.step_id as stepId',
        eb.fn.sum<number | string | null>('metrics.prompt_tokens').as('input'),
        eb.fn.sum<number | string | null>('metrics.completion_tokens').as('output'),
        eb.fn.sum<number | string | null>('metrics.token_usage').as('total'),
        eb.fn.sum<number | string | null>('metrics.estimated_cost').as('cost'),
      ])
      .where('metrics.owner_id', '=', ownerId)
      .where('metrics.created_at', '>=', oldest)
      .where(
        'metrics.run_id',
        'in',
        runs.map((r) => r.id),
      )
      .where('metrics.name', 'in', ['llm', 'usage'])
      .groupBy(['metrics.run_id', 'tasks.step_id'])
      .execute();
    for (const record of records) {
      if (record.runId === null) continue;
      const usage = result.get(record.runId) ?? { input: 0, output: 0, steps: new Map() };
      const input = Number(record.input ?? 0);
      const output = Number(record.output ?? 0);
      const tokens = { input, output, total: Number(record.total ?? 0) || input + output };
      const cost = Number(record.cost ?? 0);
      const steps = usage.steps as Map<string, { tokens: TokenCounts; cost: number }>;
      if (record.stepId !== null) steps.set(record.stepId, { tokens, cost });
      result.set(record.runId, { input: usage.input + input, output: usage.output + output, steps });
    }
  }
  return result;
}

/** Milliseconds between two ISO moments, or null when either is missing. */
function between(start: string | undefined, end: string | undefined): number | null {
  if (start === undefined || end === undefined) return null;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isNaN(ms) ? null : Math.max(0, ms);
}

/** The run's steps with their durations, tokens and cost. */
export function stepViews(steps: RunSteps, usage: RunUsage | undefined): Record<string, StepView> {
  const known = usage ?? NO_USAGE;
  return Object.fromEntries(
    Object.entries(steps).map(([id, state]) => {
      const used = known.steps.get(id);
      return [
        id,
        {
          ...state,
          durationMs: between(state.started_at, state.completed_at),
          tokens: used?.tokens ?? NONE,
          cost: used?.cost ?? 0,
        },
      ];
    }),
  );
}

/** The run's totals: `total_api_tokens` and `total_cost` as kept on the run, split by the records. */
export function runTotals(row: RunRow, usage: RunUsage | undefined): { tokens: TokenCounts; cost: number } {
  return {
    tokens: { input: usage?.input ?? 0, output: usage?.output ?? 0, total: Number(row.total_api_tokens) },
    cost: Number(row.total_cost),
  };
}
