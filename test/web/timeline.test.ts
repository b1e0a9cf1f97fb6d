import { describe, expect, it } from 'vitest';
import { formatDuration, layoutTimeline, ticksFor, type AttemptLike } from '../../web/src/dag/timeline.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const attempt = (over: Partial<AttemptLike> & Pick<AttemptLike, 'taskId' | 'queuedAt'>): AttemptLike => ({
  stepId: 's',
  itemIndex: null,
  attempt: 1,
  status: 'completed',
  startedAt: null,
  completedAt: null,
  ...over,
});

describe('layoutTimeline', () => {
  it('splits each attempt into queued and running time, as fractions of the span', () => {
    const layout = layoutTimeline(
      [
        attempt({ taskId: 'a', queuedAt: at(0), startedAt: at(100), completedAt: at(400) }),
        attempt({ taskId: 'b', stepId: 'b', queuedAt: at(400), startedAt: at(600), completedAt: at(1000) }),
      ],
      T0 + 5000,
    );
    expect(layout.start).toBe(T0);
    expect(layout.end).toBe(T0 + 1000);
    const [a, b] = layout.rows;
    expect(a!.queued.x).toBeCloseTo(0);
    expect(a!.queued.w).toBeCloseTo(0.1);
    expect(a!.running!.x).toBeCloseTo(0.1);
    expect(a!.running!.w).toBeCloseTo(0.3);
    expect(b!.queued).toEqual({ x: expect.closeTo(0.4), w: expect.closeTo(0.2) });
    expect(b!.running!.x + b!.running!.w).toBeCloseTo(1);
    expect(a!.queuedMs).toBe(100);
    expect(b!.runningMs).toBe(400);
    expect(a!.open).toBe(false);
  });

  it('draws retries as separate rows in attempt order, and open attempts up to now', () => {
    const now = T0 + 2000;
    const layout = layoutTimeline(
      [
        // Written out of order: the layout sorts by queue time, then attempt.
        attempt({ taskId: 't', attempt: 2, status: 'running', queuedAt: at(500), startedAt: at(900) }),
        attempt({
          taskId: 't',
          attempt: 1,
          status: 'failed',
          queuedAt: at(0),
          startedAt: at(0),
          completedAt: at(500),
        }),
        attempt({ taskId: 'u', stepId: 'u', status: 'queued', queuedAt: at(1000) }),
      ],
      now,
    );
    expect(layout.rows.map((r) => [r.label, r.status])).toEqual([
      ['s #1', 'failed'],
      ['s #2', 'running'],
      ['u #1', 'queued'],
    ]);
    expect(layout.end).toBe(now);
    const [, retry, waiting] = layout.rows;
    expect(retry!.open).toBe(true);
    expect(retry!.running!.x + retry!.running!.w).toBeCloseTo(1);
    // Still queued: a queued bar up to now and no running bar.
    expect(waiting!.running).toBeNull();
    expect(waiting!.queued.x + waiting!.queued.w).toBeCloseTo(1);
    expect(waiting!.queuedMs).toBe(1000);
  });

  it('labels fan-out items and earlier run attempts, and never draws negative widths', () => {
    const layout = layoutTimeline(
      [
        attempt({
          taskId: 'x',
          itemIndex: 7,
          runAttempt: 2,
          // Started "before" it was queued: clocks of two writers disagree.
          queuedAt: at(50),
          startedAt: at(40),
          completedAt: at(60),
        }),
      ],
      T0,
    );
    const [row] = layout.rows;
    expect(row!.label).toBe('s[7] #1 (run #2)');
    expect(row!.queued.w).toBeGreaterThanOrEqual(0);
    expect(row!.running!.w).toBeGreaterThanOrEqual(0);
  });

  it('is empty without attempts and handles 10,000 rows quickly', () => {
    expect(layoutTimeline([], T0).rows).toEqual([]);
    const many = Array.from({ length: 10_000 }, (_, i) =>
      attempt({
        taskId: `t${i}`,
        itemIndex: i,
        queuedAt: at(i),
        startedAt: at(i + 5),
        completedAt: at(i + 10),
      }),
    );
    const t = performance.now();
    const layout = layoutTimeline(many, T0);
    expect(performance.now() - t).toBeLessThan(1000);
    expect(layout.rows).toHaveLength(10_000);
    expect(layout.rows[9999]!.label).toBe('s[9999] #1');
  });
});

describe('ticks and durations', () => {
  it('picks a nice interval and labels it', () => {
    const ticks = ticksFor(10_000);
    expect(ticks.map((t) => t.label)).toEqual(['0 ms', '2.0 s', '4.0 s', '6.0 s', '8.0 s', '10 s']);
    expect(ticks[ticks.length - 1]!.x).toBe(1);
    expect(ticksFor(0)).toHaveLength(1);
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(125_000)).toBe('2m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
  });
});
