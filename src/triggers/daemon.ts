import type { Logger } from 'pino';
import type { Engine } from '../engine/index.js';
import { EVENTS_CHANNEL, type Store } from '../storage/index.js';
import { EventDispatcher, type EventSubscriber } from './dispatch.js';
import { pruneTriggerRecords, type Retention } from './prune.js';
import { fireDebounced } from './flow.js';
import { Scheduler } from './scheduler.js';

export interface TriggerDaemonOptions {
  readonly store: Store;
  readonly engine: Engine;
  readonly logger: Logger;
  /** Outgoing webhooks and the like: they hear of every event as it is dispatched. */
  readonly subscribers?: readonly EventSubscriber[];
  /** How often schedules are looked at: well under a second, for seconds-level cron. @default 250 */
  readonly scheduleIntervalMs?: number;
  /** How often pending events are looked for when no publish woke the dispatcher. @default 1000 */
  readonly eventIntervalMs?: number;
  readonly misfireGraceMs?: number;
  /** Events this deep in their causation chain start no run (`SWARM_MAX_EVENT_DEPTH`). @default 8 */
  readonly maxEventDepth?: number;
  /** How long dispatched events and firings are kept (pruned every minute). @default 7 and 30 days */
  readonly retention?: Retention;
  /** Called after runs or tasks were started, so an in-process worker looks at once. */
  readonly onStarted?: () => void;
}

/**
 * The scheduler and the event dispatcher of one server process. Any number of processes may run
 * one against the same database: ticks and events are claimed there, so each fires once.
 */
export class TriggerDaemon {
  readonly scheduler: Scheduler;
  readonly dispatcher: EventDispatcher;
  private timers: NodeJS.Timeout[] = [];
  private unlisten: Promise<(() => Promise<void>) | null> = Promise.resolve(null);
  private readonly busy = { schedule: Promise.resolve(), events: Promise.resolve() };
  private eventsAgain = false;
  private running = false;

  constructor(private readonly options: TriggerDaemonOptions) {
    this.scheduler = new Scheduler(options.store, options.engine, {
      logger: options.logger,
      ...(options.misfireGraceMs === undefined ? {} : { misfireGraceMs: options.misfireGraceMs }),
    });
    this.dispatcher = new EventDispatcher(
      options.store,
      options.engine,
      options.subscribers ?? [],
      options.logger,
      options.maxEventDepth === undefined ? {} : { maxEventDepth: options.maxEventDepth },
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.timers.push(setInterval(() => this.tickSchedules(), this.options.scheduleIntervalMs ?? 250));
    this.timers.push(setInterval(() => this.dispatchEvents(), this.options.eventIntervalMs ?? 1000));
    this.timers.push(setInterval(() => this.prune(), 60_000));
    // Events published anywhere (another process on PostgreSQL) wake the dispatcher at once.
    this.unlisten = this.options.store.handle
      .listen(EVENTS_CHANNEL, () => this.dispatchEvents())
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'LISTEN for events failed; dispatching by polling');
        return null;
      });
    this.tickSchedules();
    this.dispatchEvents();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await (
      await this.unlisten
    )?.();
    await this.busy.schedule;
    await this.busy.events;
  }

  private prune(): void {
    const retention = this.options.retention ?? { eventsDays: 7, firingsDays: 30 };
    pruneTriggerRecords(this.options.store, retention).then(
      (pruned) => {
        if (pruned.events + pruned.firings > 0)
          this.options.logger.debug(pruned, 'pruned events and firings');
      },
      (error: unknown) => this.options.logger.warn({ err: error }, 'pruning events and firings failed'),
    );
  }

  /** One pass at a time: a slow pass is not overlapped by the next timer tick. */
  private tickSchedules(): void {
    this.busy.schedule = this.busy.schedule.then(async () => {
      if (!this.running) return;
      try {
        if ((await this.scheduler.fireDue()) > 0) this.options.onStarted?.();
      } catch (error) {
        this.options.logger.error({ err: error }, 'the scheduler pass failed');
      }
      try {
        const { store, engine, logger } = this.options;
        if ((await fireDebounced(store, engine, logger)) > 0) this.options.onStarted?.();
      } catch (error) {
        this.options.logger.error({ err: error }, 'firing debounced triggers failed');
      }
    });
  }

  private dispatchEvents(): void {
    // A wake-up during a pass makes one more pass, not a queue of them.
    if (this.eventsAgain) return;
    this.eventsAgain = true;
    this.busy.events = this.busy.events.then(async () => {
      this.eventsAgain = false;
      if (!this.running) return;
      try {
        for (;;) {
          const report = await this.dispatcher.dispatchPending();
          if (report.runsStarted > 0) this.options.onStarted?.();
          if (report.dispatched < 100 || !this.running) break;
        }
      } catch (error) {
        this.options.logger.error({ err: error }, 'the event dispatch pass failed');
      }
    });
  }
}
