import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { isDatabaseUnavailable, type Store } from '../storage/index.js';
import { causes } from './causes.js';
import { evaluateTaskOutcomes } from './outcomes.js';
import { evaluatePerformance } from './performance.js';
import { raise } from './publish.js';
import type { AlertSettings } from './settings.js';

/**
 * The alert evaluations of one server process, on timers. Any number of processes run one
 * against the same database: each pass is claimed there, so it happens once per interval.
 */
export class AlertDaemon {
  /** This process, as the holder of an evaluation's lease. */
  readonly holder = `alerts-${randomUUID()}`;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> = Promise.resolve();
  private running = false;
  /** When a pass first found the database unreachable; reported once it answers again. */
  private unreachableSince: Date | null = null;

  constructor(
    private readonly store: Store,
    private readonly settings: AlertSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.timer = setInterval(() => void this.pass(), this.settings.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
  }

  /**
   * One pass of each evaluation that is due (a slow pass is never overlapped by the next tick).
   * A pass that finds the database unreachable notes when; the first pass that reaches it again
   * raises `system_error` (for the first admin: an outage is no one owner's) with how long it
   * lasted as this process saw it.
   */
  pass(): Promise<void> {
    this.busy = this.busy.then(async () => {
      if (!this.running) return;
      const now = new Date();
      try {
        if (this.unreachableSince !== null) await this.reportOutage(this.unreachableSince, now);
        this.unreachableSince = null;
        await evaluateTaskOutcomes(this.store, this.settings, this.holder, now);
        await evaluatePerformance(this.store, this.settings, this.holder, now);
      } catch (error) {
        if (isDatabaseUnavailable(error)) this.unreachableSince ??= now;
        this.logger.warn({ err: error }, 'the alert evaluation pass failed');
      }
    });
    return this.busy;
  }

  private async reportOutage(since: Date, now: Date): Promise<void> {
    const admin = await this.store.system.findFirstAdmin();
    if (admin === null) return;
    const seconds = Math.max(1, Math.round((now.getTime() - since.getTime()) / 1000));
    const { db, dialect } = this.store.handle;
    await dialect.writeTransaction(db, (trx) =>
      raise(
        trx,
        dialect,
        {
          ownerId: admin.id,
          type: 'system_error',
          severity: 'critical',
          cause: causes.databaseUnreachable,
          title: `the database was unreachable for about ${seconds} s`,
          message: `a server could not reach the database from ${since.toISOString()} until ${now.toISOString()}; each outage a server sees counts one`,
          metadata: { from: since.toISOString(), to: now.toISOString(), seconds },
        },
        now,
      ),
    );
  }
}
