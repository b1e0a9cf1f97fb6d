import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../storage/index.js';
import { evaluateTaskOutcomes } from './outcomes.js';
import { evaluatePerformance } from './performance.js';
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

  /** One pass of each evaluation that is due (a slow pass is never overlapped by the next tick). */
  pass(): Promise<void> {
    this.busy = this.busy.then(async () => {
      if (!this.running) return;
      try {
        await evaluateTaskOutcomes(this.store, this.settings, this.holder);
        await evaluatePerformance(this.store, this.settings, this.holder);
      } catch (error) {
        this.logger.warn({ err: error }, 'the alert evaluation pass failed');
      }
    });
    return this.busy;
  }
}
