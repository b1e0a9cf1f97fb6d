import type { Kysely } from 'kysely';
import {
  fromDbJson,
  SYSTEM_EVENT_SOURCE,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { causes } from './causes.js';
import { raise } from './publish.js';

/** An event as the dispatcher hands it to subscribers (src/triggers/dispatch.ts). */
interface RunEndEvent {
  readonly id: string;
  readonly ownerId: string;
  readonly source: string;
  readonly type: string;
  readonly payload: unknown;
  readonly runId: string | null;
}

type Severity = 'info' | 'warning' | 'critical';

/** The severity a completed run's workflow asked for (`alerts.on_completion`), by run id. */
async function optedIn(db: Kysely<SwarmDatabase>, runIds: readonly string[]): Promise<Map<string, Severity>> {
  const found = new Map<string, Severity>();
  if (runIds.length === 0) return found;
  const rows = await db
    .selectFrom('workflow_runs as r')
    .innerJoin('workflows as w', 'w.id', 'r.workflow_id')
    .select(['r.id', 'w.steps'])
    .where('r.id', 'in', runIds)
    .execute();
  for (const row of rows) {
    // `workflows.steps` holds the normalised workflow.
    const level = fromDbJson<{ alerts?: { on_completion?: unknown } }>(row.steps)?.alerts?.on_completion;
    if (level === 'info' || level === 'warning' || level === 'critical') found.set(row.id, level);
  }
  return found;
}

const isRunCompleted = (e: RunEndEvent): boolean =>
  e.source === SYSTEM_EVENT_SOURCE && e.type === 'run.completed' && e.runId !== null;

/**
 * `task_completion` alerts, as a subscriber of the event dispatcher: a `run.completed` event of
 * a workflow that opted in (`alerts: {on_completion: <severity>}`) raises one alert for its run,
 * in the transaction that dispatches the event, so each completed run raises exactly one.
 */
export const completionAlerts = {
  async wants(db: Kysely<SwarmDatabase>, events: readonly RunEndEvent[]): Promise<ReadonlySet<string>> {
    const candidates = events.filter(isRunCompleted);
    const levels = await optedIn(db, [...new Set(candidates.map((e) => e.runId!))]);
    return new Set(candidates.filter((e) => levels.has(e.runId!)).map((e) => e.id));
  },
  async take(trx: Kysely<SwarmDatabase>, dialect: DialectAdapter, event: RunEndEvent): Promise<unknown> {
    const severity = (await optedIn(trx, [event.runId!])).get(event.runId!);
    if (severity === undefined) return null;
    const workflow = (event.payload as { workflow?: unknown } | null)?.workflow;
    return raise(trx, dialect, {
      ownerId: event.ownerId,
      type: 'task_completion',
      severity,
      cause: causes.completion(event.runId!),
      title: `workflow ${typeof workflow === 'string' ? workflow : '?'} completed (run ${event.runId})`,
      relatedRunId: event.runId,
      // Once per run, even if the event were taken again.
      count: 1,
    });
  },
};
