import type { Kysely } from 'kysely';
import { InputError } from '../errors/index.js';
import { toDbTimestamp, type Caller, type SwarmDatabase } from '../storage/index.js';
import { activeWorkers, queueDepth, type DepthRow } from './figures.js';

/** Rows read per source (runs, step attempts, usage records); past it the figures are marked truncated. */
export const OVERVIEW_ROW_LIMIT = 20_000;
/** The most buckets one answer has: a finer `bucket` for the range is refused. */
export const MAX_BUCKETS = 500;
const MAX_RANGE_MS = 31 * 24 * 3600 * 1000;
const RELATIVE = /^([1-9][0-9]{0,3})([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export interface OverviewBucket {
  /** The bucket's start (ISO); it covers [start, start + bucketSeconds). */
  readonly start: string;
  readonly runsStarted: number;
  readonly runsCompleted: number;
  /** Runs that ended failed or timed out. */
  readonly runsFailed: number;
  readonly runsCancelled: number;
  /** Completed ÷ (completed + failed), of the runs that ended in the bucket; null when none ended. */
  readonly successRate: number | null;
  readonly durationP50Ms: number | null;
  readonly durationP95Ms: number | null;
  /** Step attempts (tasks of runs) that ended in the bucket, and that per minute. */
  readonly steps: number;
  readonly stepsPerMinute: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly tokens: number;
  readonly cost: number;
}

export type OverviewTotals = Omit<OverviewBucket, 'start' | 'stepsPerMinute'>;

export interface Overview {
  readonly since: string;
  readonly until: string;
  readonly bucketSeconds: number;
  readonly buckets: OverviewBucket[];
  readonly totals: OverviewTotals;
  /** The caller's tasks on the queue now, by status and priority. */
  readonly queueDepth: DepthRow[];
  /** Workers holding a live lease on one of the caller's tasks now. */
  readonly activeWorkers: number;
  /** True when a source had more rows in the range than OVERVIEW_ROW_LIMIT: the newest were kept. */
  readonly truncated: boolean;
}

/** `since` as a moment: an ISO timestamp, or a span back from now (`90m`, `1h`, `24h`, `7d`). */
export function parseSince(value: string | undefined, now: Date): Date {
  const text = value ?? '1h';
  const relative = RELATIVE.exec(text);
  let since: Date;
  if (relative !== null) {
    since = new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  } else {
    try {
      since = new Date(toDbTimestamp(text, 'since'));
    } catch {
      throw new InputError(
        'since',
        `expected an ISO-8601 timestamp or a span such as 1h, 24h, 7d; got "${text}"`,
      );
    }
  }
  if (since.getTime() >= now.getTime()) throw new InputError('since', 'must be in the past');
  if (now.getTime() - since.getTime() > MAX_RANGE_MS) throw new InputError('since', 'at most 31 days back');
  return since;
}

/** The bucket width: the one asked for, else about 60 buckets over the range (at least 10 s). */
export function bucketSecondsFor(rangeMs: number, asked: number | undefined): number {
  if (asked === undefined) return Math.max(10, Math.ceil(rangeMs / 1000 / 60));
  if (!Number.isInteger(asked) || asked < 1)
    throw new InputError('bucket', 'a whole number of seconds, at least 1');
  if (Math.ceil(rangeMs / 1000 / asked) > MAX_BUCKETS)
    throw new InputError('bucket', `too fine for the range: at most ${MAX_BUCKETS} buckets`);
  return asked;
}

/** Nearest-rank percentile of sorted values; null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface Acc {
  runsStarted: number;
  runsCompleted: number;
  runsFailed: number;
  runsCancelled: number;
  durations: number[];
  steps: number;
  inputTokens: number;
  outputTokens: number;
  tokens: number;
  cost: number;
}

const emptyAcc = (): Acc => ({
  runsStarted: 0,
  runsCompleted: 0,
  runsFailed: 0,
  runsCancelled: 0,
  durations: [],
  steps: 0,
  inputTokens: 0,
  outputTokens: 0,
  tokens: 0,
  cost: 0,
});

function summary(acc: Acc): OverviewTotals {
  const ended = acc.runsCompleted + acc.runsFailed;
  const sorted = [...acc.durations].sort((a, b) => a - b);
  return {
    runsStarted: acc.runsStarted,
    runsCompleted: acc.runsCompleted,
    runsFailed: acc.runsFailed,
    runsCancelled: acc.runsCancelled,
    successRate: ended === 0 ? null : acc.runsCompleted / ended,
    durationP50Ms: percentile(sorted, 0.5),
    durationP95Ms: percentile(sorted, 0.95),
    steps: acc.steps,
    inputTokens: acc.inputTokens,
    outputTokens: acc.outputTokens,
    tokens: acc.tokens,
    // Summed floats: rounded to a millionth so the sum reads the same on both dialects.
    cost: Math.round(acc.cost * 1e6) / 1e6,
  };
}

/**
 * The overview of the caller's own work since a moment, in buckets: runs started and ended,
 * success rate, duration percentiles, steps, tokens and cost; plus the queue and workers now.
 * Worked out in JS from the range's rows (at most OVERVIEW_ROW_LIMIT per source), so both
 * dialects give the same answer from the same rows.
 */
export async function overview(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  options: { since?: string; bucket?: number; now?: Date },
): Promise<Overview> {
  const now = options.now ?? new Date();
  const since = parseSince(options.since, now);
  const bucketSeconds = bucketSecondsFor(now.getTime() - since.getTime(), options.bucket);
  const bucketMs = bucketSeconds * 1000;
  const count = Math.max(1, Math.ceil((now.getTime() - since.getTime()) / bucketMs));
  const from = toDbTimestamp(since);
  const owner = caller.userId;

  const [runs, steps, usage, depth, workers] = await Promise.all([
    db
      .selectFrom('workflow_runs')
      .select(['started_at', 'completed_at', 'status', 'duration_ms'])
      .where('owner_id', '=', owner)
      .where((eb) => eb.or([eb('started_at', '>=', from), eb('completed_at', '>=', from)]))
      .orderBy('created_at', 'desc')
      .limit(OVERVIEW_ROW_LIMIT + 1)
      .execute(),
    db
      .selectFrom('tasks')
      .select(['completed_at'])
      .where('owner_id', '=', owner)
      .where('run_id', 'is not', null)
      .where('status', 'in', ['COMPLETED', 'FAILED', 'TIMEOUT'])
      .where('completed_at', '>=', from)
      .orderBy('completed_at', 'desc')
      .limit(OVERVIEW_ROW_LIMIT + 1)
      .execute(),
    db
      .selectFrom('metrics')
      .select(['created_at', 'prompt_tokens', 'completion_tokens', 'token_usage', 'estimated_cost'])
      .where('owner_id', '=', owner)
      .where('name', 'in', ['llm', 'usage'])
      .where('created_at', '>=', from)
      .orderBy('created_at', 'desc')
      .limit(OVERVIEW_ROW_LIMIT + 1)
      .execute(),
    queueDepth(db, owner),
    activeWorkers(db, owner, now),
  ]);

  const accs = Array.from({ length: count }, emptyAcc);
  const total = emptyAcc();
  /** The accumulators of the bucket a moment falls in, or none when it is outside the range. */
  const at = (time: string | null): Acc[] => {
    if (time === null) return [];
    const offset = Date.parse(time) - since.getTime();
    // A moment at (or, with another clock, just past) `now` falls in the last bucket.
    const acc = offset < 0 ? undefined : accs[Math.min(count - 1, Math.floor(offset / bucketMs))];
    return acc === undefined ? [] : [acc, total];
  };
  for (const run of runs.slice(0, OVERVIEW_ROW_LIMIT)) {
    for (const acc of at(run.started_at)) acc.runsStarted++;
    for (const acc of at(run.completed_at)) {
      if (run.status === 'completed') acc.runsCompleted++;
      else if (run.status === 'failed' || run.status === 'timeout') acc.runsFailed++;
      else if (run.status === 'cancelled') acc.runsCancelled++;
      if (run.status !== 'cancelled' && run.duration_ms !== null) acc.durations.push(Number(run.duration_ms));
    }
  }
  for (const step of steps.slice(0, OVERVIEW_ROW_LIMIT)) for (const acc of at(step.completed_at)) acc.steps++;
  for (const row of usage.slice(0, OVERVIEW_ROW_LIMIT))
    for (const acc of at(row.created_at)) {
      acc.inputTokens += Number(row.prompt_tokens ?? 0);
      acc.outputTokens += Number(row.completion_tokens ?? 0);
      acc.tokens += Number(row.token_usage ?? 0);
      acc.cost += Number(row.estimated_cost ?? 0);
    }

  return {
    since: since.toISOString(),
    until: now.toISOString(),
    bucketSeconds,
    buckets: accs.map((acc, i) => ({
      start: new Date(since.getTime() + i * bucketMs).toISOString(),
      ...summary(acc),
      stepsPerMinute: Math.round((acc.steps / bucketSeconds) * 60 * 1000) / 1000,
    })),
    totals: summary(total),
    queueDepth: depth,
    activeWorkers: workers,
    truncated: [runs, steps, usage].some((rows) => rows.length > OVERVIEW_ROW_LIMIT),
  };
}
