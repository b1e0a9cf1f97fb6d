/**
 * The waterfall of a run's attempts, as a pure function: one row per attempt, each with a queued
 * segment (waiting for a worker) and a running segment, positioned as fractions (0–1) of the
 * run's time span so the component can draw them at any width.
 */

/** An attempt as `GET /api/v1/runs/{id}/attempts` returns it (the fields the timeline uses). */
export interface AttemptLike {
  readonly taskId: string;
  readonly stepId: string;
  readonly runAttempt?: number | null;
  readonly itemIndex: number | null;
  readonly attempt: number;
  readonly status: string;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

export interface Segment {
  /** Start, as a fraction of the span. */
  readonly x: number;
  /** Width, as a fraction of the span (never negative). */
  readonly w: number;
}

/**
 * A bar nested under a step's attempts: an agent loop's model call or tool call. Laid out like
 * an attempt (queued, then running), drawn indented after the step's last attempt.
 */
export interface NestedBar extends AttemptLike {
  readonly kind: 'model' | 'tool';
  readonly label: string;
}

export interface TimelineRow {
  /** 0 for an attempt; 1 for a model or tool call nested under its step. */
  readonly depth: 0 | 1;
  readonly kind: 'attempt' | 'model' | 'tool';
  readonly key: string;
  readonly stepId: string;
  readonly label: string;
  readonly status: string;
  readonly attempt: number;
  readonly queued: Segment;
  /** Null while it waits for a worker. */
  readonly running: Segment | null;
  /** Whether it has not ended yet: its bar runs to `now`. */
  readonly open: boolean;
  readonly queuedMs: number;
  readonly runningMs: number | null;
}

export interface TimelineTick {
  readonly x: number;
  readonly label: string;
}

export interface TimelineLayout {
  readonly rows: readonly TimelineRow[];
  /** The span's ends, in epoch milliseconds. */
  readonly start: number;
  readonly end: number;
  readonly ticks: readonly TimelineTick[];
}

const NICE_STEPS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
  600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
];

/** A duration as people read it: 850 ms, 1.5 s, 2m 05s, 1h 02m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Tick marks every "nice" interval so that about `count` fit the span. */
export function ticksFor(spanMs: number, count = 6): TimelineTick[] {
  if (spanMs <= 0) return [{ x: 0, label: '0 ms' }];
  const step = NICE_STEPS_MS.find((s) => spanMs / s <= count) ?? NICE_STEPS_MS[NICE_STEPS_MS.length - 1]!;
  const ticks: TimelineTick[] = [];
  for (let t = 0; t <= spanMs; t += step) ticks.push({ x: t / spanMs, label: formatDuration(t) });
  return ticks;
}

export function attemptLabel(a: AttemptLike): string {
  const item = a.itemIndex === null ? '' : `[${a.itemIndex}]`;
  const runAttempt = a.runAttempt === null || a.runAttempt === undefined ? '' : ` (run #${a.runAttempt})`;
  return `${a.stepId}${item} #${a.attempt}${runAttempt}`;
}

/**
 * Lays the attempts out in the order they were queued (ties: step, item, attempt). `now` ends
 * the bars of attempts still waiting or running, and the span if the run goes on.
 */
export function layoutTimeline(
  attempts: readonly AttemptLike[],
  now: number,
  nested: readonly NestedBar[] = [],
): TimelineLayout {
  const parsed = [...attempts, ...nested].map((a) => {
    const queued = Date.parse(a.queuedAt);
    const started = a.startedAt === null ? null : Date.parse(a.startedAt);
    const completed = a.completedAt === null ? null : Date.parse(a.completedAt);
    const open = completed === null;
    // Never before its own start: clocks of different writers may disagree by a few ms.
    const runFrom = started === null ? null : Math.max(started, queued);
    const end = Math.max(completed ?? now, runFrom ?? queued);
    return { a, queued, runFrom, end, open };
  });
  if (parsed.length === 0) return { rows: [], start: now, end: now, ticks: ticksFor(0) };
  let start = Infinity;
  let end = -Infinity;
  for (const p of parsed) {
    start = Math.min(start, p.queued);
    end = Math.max(end, p.end);
  }
  const span = Math.max(end - start, 1);
  const frac = (t: number) => (t - start) / span;
  parsed.sort(
    (p, q) =>
      p.queued - q.queued ||
      p.a.stepId.localeCompare(q.a.stepId) ||
      (p.a.itemIndex ?? -1) - (q.a.itemIndex ?? -1) ||
      p.a.attempt - q.a.attempt,
  );
  const all = parsed.map(({ a, queued, runFrom, end: stop, open }): TimelineRow => {
    const queuedUntil = runFrom ?? stop;
    const isNested = 'kind' in a;
    return {
      depth: isNested ? 1 : 0,
      kind: isNested ? (a as NestedBar).kind : 'attempt',
      key: isNested ? `${a.taskId}~${(a as NestedBar).label}` : `${a.taskId}#${a.attempt}`,
      stepId: a.stepId,
      label: isNested ? (a as NestedBar).label : attemptLabel(a),
      status: a.status,
      attempt: a.attempt,
      queued: { x: frac(queued), w: Math.max(0, frac(queuedUntil) - frac(queued)) },
      running: runFrom === null ? null : { x: frac(runFrom), w: Math.max(0, frac(stop) - frac(runFrom)) },
      open,
      queuedMs: queuedUntil - queued,
      runningMs: runFrom === null ? null : stop - runFrom,
    };
  });
  // Nested bars follow their step's last attempt, in the order they began.
  const rows = all.filter((r) => r.depth === 0);
  const byStep = new Map<string, TimelineRow[]>();
  for (const r of all) if (r.depth === 1) byStep.set(r.stepId, [...(byStep.get(r.stepId) ?? []), r]);
  for (const [stepId, bars] of byStep) {
    const at = rows.findLastIndex((r) => r.stepId === stepId);
    rows.splice(at === -1 ? rows.length : at + 1, 0, ...bars);
  }
  return { rows, start, end, ticks: ticksFor(end - start) };
}
