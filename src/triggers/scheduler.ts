import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Engine, PreparedRun } from '../engine/index.js';
import { nextTick, ticksBetween } from '../registry/index.js';
import { toDbBool, toDbTimestamp, type Store, type SwarmDatabase } from '../storage/index.js';
import { enqueueScheduledTask, type ScheduledTaskRow } from '../tasks/index.js';
import { again, firingError, prepareFiring, recordFiring } from './fire.js';
import { planTicks } from './schedule.js';
import type { TriggerRow } from './types.js';

export interface SchedulerOptions {
  /**
   * How late a tick may be and still count as on time. Later ticks were missed (no scheduler
   * ran): the misfire policy decides. @default 60 000 ms
   */
  readonly misfireGraceMs?: number;
  readonly logger?: Logger;
}

/** At most this many due ticks are looked at per schedule per pass; older ones count as missed. */
const MAX_TICKS_PER_PASS = 10_000;

interface Plan {
  fire: Date[];
  skipped: Date[];
  next: Date | null;
}

/** The ticks due since `dueAt` and the schedule's next tick after now. */
function plan(
  cron: string,
  timezone: string,
  dueAt: Date,
  now: Date,
  policy: 'skip' | 'catch_up',
  limit: number,
  graceMs: number,
): Plan {
  const { ticks } = ticksBetween(cron, timezone, new Date(dueAt.getTime() - 1), now, MAX_TICKS_PER_PASS);
  const due = ticks.length === 0 ? [dueAt] : ticks;
  const planned = planTicks(due, now, policy, limit, graceMs);
  return { ...planned, next: nextTick(cron, timezone, now) };
}

const tickData = (tick: Date, cron: string, timezone: string, now: Date) => ({
  scheduled_for: tick.toISOString(),
  fired_at: now.toISOString(),
  cron,
  timezone,
  late_ms: Math.max(0, now.getTime() - tick.getTime()),
});

/**
 * Fires due schedules. A pass reads schedules whose `next_run_at` has come, plans their ticks
 * (misfire policy included) and claims them: `UPDATE … SET next_run_at = <next> WHERE
 * next_run_at = <the one read>` in the transaction that starts the runs, so of any number of
 * schedulers racing for a tick exactly one wins and the others change nothing. The firing keys
 * (`tick:<time>`) make a repeat impossible even if a claim were lost.
 */
export class Scheduler {
  private readonly graceMs: number;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly options: SchedulerOptions = {},
  ) {
    this.graceMs = options.misfireGraceMs ?? 60_000;
  }

  /** Fires what is due at `now`; returns how many ticks fired (runs and tasks started). */
  async fireDue(now = new Date()): Promise<number> {
    let fired = 0;
    const { db } = this.store.handle;
    const triggers = await db
      .selectFrom('triggers')
      .selectAll()
      .where('type', '=', 'schedule')
      .where('workflow_name', 'is not', null)
      .where('enabled', '=', toDbBool(true))
      .where('next_run_at', '<=', toDbTimestamp(now))
      .orderBy('next_run_at')
      .limit(100)
      .execute();
    for (const trigger of triggers) {
      try {
        fired += await this.fireTrigger(trigger, now);
      } catch (error) {
        this.options.logger?.error({ err: error, trigger: trigger.id }, 'firing a schedule failed');
      }
    }
    const tasks = await db
      .selectFrom('scheduled_tasks')
      .selectAll()
      .where('active', '=', toDbBool(true))
      .where('next_run_at', '<=', toDbTimestamp(now))
      .orderBy('next_run_at')
      .limit(100)
      .execute();
    for (const task of tasks) {
      try {
        fired += await this.fireScheduledTask(task, now);
      } catch (error) {
        this.options.logger?.error({ err: error, scheduledTask: task.id }, 'firing a scheduled task failed');
      }
    }
    return fired;
  }

  private async fireTrigger(trigger: TriggerRow, now: Date): Promise<number> {
    if (trigger.cron_expression === null || trigger.next_run_at === null) return 0;
    const cron = trigger.cron_expression;
    const ticks = plan(
      cron,
      trigger.timezone,
      new Date(trigger.next_run_at),
      now,
      trigger.misfire_policy === 'catch_up' ? 'catch_up' : 'skip',
      trigger.catch_up_limit,
      this.graceMs,
    );
    // Every tick's run is worked out before the transaction, which then only writes: a tick
    // whose first step's expression fails is recorded as a failed firing, the others start.
    // The first tick resolves the workflow and pins its agents; later ticks reuse the pins.
    let first: PreparedRun | { failed: string } | null = null;
    const whats: Array<{ run: PreparedRun } | { failed: string }> = [];
    for (const tick of ticks.fire) {
      const data = tickData(tick, cron, trigger.timezone, now);
      try {
        if (first === null) {
          first = await prepareFiring(this.store, this.engine, trigger, data);
          whats.push({ run: first });
        } else whats.push('failed' in first ? first : { run: await again(this.engine, first, data) });
      } catch (error) {
        const failed = { failed: firingError(error) };
        first ??= failed;
        whats.push(failed);
      }
    }
    const { db, dialect } = this.store.handle;
    return dialect.writeTransaction(db, async (trx) => {
      if (!(await claim(trx, 'triggers', trigger.id, trigger.next_run_at!, ticks.next))) return 0;
      let started = 0;
      for (const [i, tick] of ticks.fire.entries()) {
        const what = whats[i]!;
        const outcome = await recordFiring(
          trx,
          this.engine,
          trigger,
          `tick:${tick.toISOString()}`,
          what,
          tick,
        );
        if (outcome.status === 'started' && !outcome.duplicate) started++;
      }
      if (ticks.skipped.length > 0) {
        const first = ticks.skipped[0]!;
        const last = ticks.skipped[ticks.skipped.length - 1]!;
        await recordFiring(
          trx,
          this.engine,
          trigger,
          `skipped:${last.toISOString()}`,
          {
            skipped: `${ticks.skipped.length} missed tick(s) from ${first.toISOString()} to ${last.toISOString()} not fired (misfire policy ${trigger.misfire_policy}${trigger.misfire_policy === 'catch_up' ? `, catch_up_limit ${trigger.catch_up_limit}` : ''})`,
          },
          last,
        );
      }
      return started;
    });
  }

  private async fireScheduledTask(row: ScheduledTaskRow, now: Date): Promise<number> {
    if (row.next_run_at === null) return 0;
    const ticks = plan(
      row.cron_expression,
      row.timezone,
      new Date(row.next_run_at),
      now,
      row.misfire_policy === 'catch_up' ? 'catch_up' : 'skip',
      row.catch_up_limit,
      this.graceMs,
    );
    const { db, dialect } = this.store.handle;
    const fired = await dialect.writeTransaction(db, async (trx) => {
      if (!(await claim(trx, 'scheduled_tasks', row.id, row.next_run_at!, ticks.next))) return null;
      for (const tick of ticks.fire) await enqueueScheduledTask(trx, dialect, row, tick);
      return ticks.fire.length;
    });
    if (fired === null) return 0;
    if (ticks.skipped.length > 0)
      this.options.logger?.info(
        { scheduledTask: row.id, skipped: ticks.skipped.length },
        `scheduled task ${row.name}: missed ticks not fired (misfire policy ${row.misfire_policy})`,
      );
    return fired;
  }
}

/** Moves a schedule on from the tick read to the next one; false when another scheduler did first. */
async function claim(
  trx: Kysely<SwarmDatabase>,
  table: 'triggers' | 'scheduled_tasks',
  id: string,
  read: string,
  next: Date | null,
): Promise<boolean> {
  const result = await trx
    .updateTable(table)
    .set({ next_run_at: next === null ? null : toDbTimestamp(next), updated_at: toDbTimestamp(new Date()) })
    .where('id', '=', id)
    .where('next_run_at', '=', read)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
