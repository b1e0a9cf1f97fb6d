import {
  alertEvaluations,
  resolvedByHandSince,
  toDbTimestamp,
  type NewAlert,
  type Store,
} from '../storage/index.js';
import { causes } from './causes.js';
import { raise, resolveCauses } from './publish.js';
import type { AlertSettings } from './settings.js';

/**
 * Tasks commit a moment after the time they record as their end (`completed_at` is taken before
 * the transaction): each pass looks this far back again. Looking twice is harmless, because an
 * agent's alerts are raised from its state (its failures since its last success), not per task.
 */
const LATE_COMMIT_MS = 60_000;
/** Budget refusals are counted once each: only those that ended this long ago, so all have committed. */
const SETTLED_MS = 2_000;
/** How long a pass may hold the evaluation before another process may take it over. */
const LEASE_MS = 60_000;
const MAX_AGENTS_PER_PASS = 5000;

export interface OutcomesReport {
  readonly agents: number;
  readonly raised: number;
  readonly resolved: number;
}

/**
 * One pass over the task outcomes since the last (claimed in the database, so one process
 * does it whatever number share the database): for each agent with news, its alerts from its
 * state — `agent_failure` after N failures in a row, `task_timeout`, `system_error` for a task that
 * killed the workers running it — all resolved by its next success; and `budget_exceeded` per run
 * a budget stopped. Null when another process holds the pass or it is not due.
 *
 * It costs the task completion path nothing but the two index entries of migration 0020: the
 * pass reads the tasks' rows afterwards, a query per agent with news.
 */
export async function evaluateTaskOutcomes(
  store: Store,
  settings: AlertSettings,
  holder: string,
  now: Date = new Date(),
): Promise<OutcomesReport | null> {
  const { db, dialect } = store.handle;
  const watermark = await alertEvaluations.claimEvaluation(db, 'tasks', holder, {
    now,
    leaseMs: LEASE_MS,
    intervalMs: Math.max(0, settings.intervalMs - 100),
    start: new Date(now.getTime() - SETTLED_MS),
  });
  if (watermark === null) return null;
  const upTo = toDbTimestamp(new Date(now.getTime() - SETTLED_MS));
  if (upTo <= watermark) {
    await alertEvaluations.finishEvaluation(db, 'tasks', holder, watermark, now);
    return { agents: 0, raised: 0, resolved: 0 };
  }
  const lookBack = toDbTimestamp(new Date(Date.parse(watermark) - LATE_COMMIT_MS));
  const agents = await alertEvaluations.agentsEndedBetween(db, lookBack, upTo, MAX_AGENTS_PER_PASS);
  let raised = 0;
  let resolved = 0;
  for (const ref of agents) {
    const streak = await alertEvaluations.agentStreak(db, ref);
    const agent = `${streak.name}@${streak.version}`;
    const related = {
      ownerId: streak.ownerId,
      relatedAgentId: streak.agentId,
      relatedTaskId: streak.lastTaskId,
      relatedRunId: streak.lastRunId,
    };
    if (streak.latestCompleted) {
      const cleared = [causes.agentFailure(agent), causes.taskTimeout(agent), causes.crashLoop(agent)];
      resolved += (
        await dialect.writeTransaction(db, (trx) => resolveCauses(trx, dialect, streak.ownerId, cleared, now))
      ).length;
      continue;
    }
    const alerts: NewAlert[] = [];
    if (streak.failures >= settings.agentFailures)
      alerts.push({
        ...related,
        type: 'agent_failure',
        severity: 'critical',
        cause: causes.agentFailure(agent),
        title: `agent ${agent} failed ${streak.failures} tasks in a row`,
        message: `${streak.failures} of its tasks failed or timed out since its last success (SWARM_ALERT_AGENT_FAILURES=${settings.agentFailures}); resolved by its next success`,
        count: streak.failures,
      });
    if (streak.timeouts > 0)
      alerts.push({
        ...related,
        type: 'task_timeout',
        severity: 'warning',
        cause: causes.taskTimeout(agent),
        title: `agent ${agent}: ${streak.timeouts} task(s) timed out`,
        message: 'its tasks ran out of time since its last success; resolved by its next success',
        count: streak.timeouts,
      });
    if (streak.crashLoops > 0)
      alerts.push({
        ...related,
        type: 'system_error',
        severity: 'critical',
        cause: causes.crashLoop(agent),
        title: `agent ${agent}: a task lost its worker repeatedly (crash loop)`,
        message:
          'a task ended after losing its lease SWARM_MAX_LEASE_LOSSES times: the workers running it died or stalled; resolved by the agent’s next success',
        count: streak.crashLoops,
      });
    if (alerts.length > 0)
      raised += await dialect.writeTransaction(db, async (trx) => {
        let opened = 0;
        for (const alert of alerts) {
          // Resolved by hand since its latest evidence: looking back again opens nothing until
          // the agent fails again (its next failure counts on from the streak).
          if (
            streak.lastEndedAt !== null &&
            (await resolvedByHandSince(trx, alert.ownerId, alert.cause, streak.lastEndedAt))
          )
            continue;
          if ((await raise(trx, dialect, alert, now))?.opened) opened += 1;
        }
        return opened;
      });
  }
  raised += await raiseBudgetAlerts(store, watermark, upTo, now);
  await alertEvaluations.finishEvaluation(db, 'tasks', holder, upTo, now);
  return { agents: agents.length, raised, resolved };
}

/** `budget_exceeded`, once per run (or task outside runs) a budget refused a model call in. */
async function raiseBudgetAlerts(store: Store, after: string, upTo: string, now: Date): Promise<number> {
  const { db, dialect } = store.handle;
  let raised = 0;
  for (;;) {
    const refusals = await alertEvaluations.budgetRefusalsBetween(db, after, upTo, 500);
    if (refusals.length === 0) return raised;
    await dialect.writeTransaction(db, async (trx) => {
      for (const refusal of refusals) {
        const where =
          refusal.runId === null
            ? `task ${refusal.taskId}`
            : `run ${refusal.runId} (step ${refusal.stepId ?? '?'})`;
        const outcome = await raise(
          trx,
          dialect,
          {
            ownerId: refusal.ownerId,
            type: 'budget_exceeded',
            severity: 'warning',
            cause: causes.budget(refusal),
            title: `budget exceeded in ${where}`,
            message: refusal.error,
            relatedAgentId: refusal.agentId,
            relatedTaskId: refusal.taskId,
            relatedRunId: refusal.runId,
            // Once per run: a second refusal in it changes nothing.
            count: 1,
          },
          now,
        );
        if (outcome?.opened) raised += 1;
      }
    });
    if (refusals.length < 500) return raised;
    after = refusals.at(-1)!.completedAt;
  }
}
