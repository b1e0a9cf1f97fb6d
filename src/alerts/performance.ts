import { alertEvaluations, toDbTimestamp, type Store } from '../storage/index.js';
import { causes } from './causes.js';
import { raise, resolveCauses } from './publish.js';
import type { AlertSettings } from './settings.js';

const DAY_MS = 86_400_000;
const LEASE_MS = 5 * 60_000;
const MAX_AGENTS = 5000;

export interface PerformanceReport {
  readonly agents: number;
  readonly degraded: number;
  readonly resolved: number;
}

/**
 * Compares each agent that completed tasks in the recent window with its baseline: the p95
 * duration of its latest tasks in the window against the p95 over the `baselineDays` before it.
 * Over `slowFactor` times raises `performance_degradation` (each pass it stays over counts a
 * repeat); back under resolves it. Claimed in the database and run once per
 * `performanceIntervalMs` across all processes; null when not due here.
 */
export async function evaluatePerformance(
  store: Store,
  settings: AlertSettings,
  holder: string,
  now: Date = new Date(),
): Promise<PerformanceReport | null> {
  const { db, dialect } = store.handle;
  const claimed = await alertEvaluations.claimEvaluation(db, 'performance', holder, {
    now,
    leaseMs: LEASE_MS,
    intervalMs: Math.max(0, settings.performanceIntervalMs - 100),
    // The first pass is due at once.
    start: new Date(0),
  });
  if (claimed === null) return null;
  const windowStart = new Date(now.getTime() - settings.slowWindowMinutes * 60_000);
  const recentAfter = toDbTimestamp(windowStart);
  const upTo = toDbTimestamp(now);
  const baselineAfter = toDbTimestamp(new Date(windowStart.getTime() - settings.baselineDays * DAY_MS));
  const agents = await alertEvaluations.agentsEndedBetween(db, recentAfter, upTo, MAX_AGENTS, ['COMPLETED']);
  let degraded = 0;
  let resolved = 0;
  for (const ref of agents) {
    const { agentId, ownerId } = ref;
    const agent = `${ref.name}@${ref.version}`;
    const recent = await alertEvaluations.agentDurationP95(db, ref, {
      after: recentAfter,
      upTo,
      latest: settings.slowRecentTasks,
      minSamples: settings.slowMinSamples,
    });
    if (recent === null) continue;
    const baseline = await alertEvaluations.agentDurationP95(db, ref, {
      after: baselineAfter,
      upTo: recentAfter,
      minSamples: settings.slowMinSamples,
    });
    if (baseline === null) continue;
    const cause = causes.slow(agent);
    if (recent.p95 > settings.slowFactor * baseline.p95) {
      degraded += 1;
      await dialect.writeTransaction(db, (trx) =>
        raise(
          trx,
          dialect,
          {
            ownerId,
            type: 'performance_degradation',
            severity: 'warning',
            cause,
            title: `agent ${agent} is slower: p95 ${recent.p95} ms against ${baseline.p95} ms`,
            message: `the p95 duration of its latest ${recent.samples} tasks is over ${settings.slowFactor}× the p95 of the ${baseline.samples} before (SWARM_ALERT_SLOW_FACTOR); resolved when back under`,
            relatedAgentId: agentId,
            metadata: {
              recent_p95_ms: recent.p95,
              recent_samples: recent.samples,
              baseline_p95_ms: baseline.p95,
              baseline_samples: baseline.samples,
              factor: settings.slowFactor,
            },
          },
          now,
        ),
      );
    } else {
      resolved += (
        await dialect.writeTransaction(db, (trx) => resolveCauses(trx, dialect, ownerId, [cause], now))
      ).length;
    }
  }
  await alertEvaluations.finishEvaluation(db, 'performance', holder, upTo, now);
  return { agents: agents.length, degraded, resolved };
}
