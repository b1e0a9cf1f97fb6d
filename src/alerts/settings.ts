/** The thresholds of the alerts Swarm raises (docs/alerts.md), from the SWARM_ALERT_* settings. */
export interface AlertSettings {
  /** Failed tasks in a row that raise `agent_failure` (SWARM_ALERT_AGENT_FAILURES). @default 5 */
  readonly agentFailures: number;
  /** How often task outcomes are looked at (SWARM_ALERT_INTERVAL_MS). @default 5000 */
  readonly intervalMs: number;
  /** How often agents' durations are compared with their baselines. @default 300000 */
  readonly performanceIntervalMs: number;
  /**
   * `performance_degradation` when an agent's recent p95 duration is over this many times its
   * baseline's (SWARM_ALERT_SLOW_FACTOR). @default 2
   */
  readonly slowFactor: number;
  /** The recent window: its last tasks within this many minutes (SWARM_ALERT_SLOW_WINDOW_MIN). @default 60 */
  readonly slowWindowMinutes: number;
  /** At most this many of the latest tasks make the recent p95. @default 50 */
  readonly slowRecentTasks: number;
  /** The baseline: the 7 days before the recent window. @default 7 */
  readonly baselineDays: number;
  /** Fewer completed tasks than this in either, no comparison (SWARM_ALERT_SLOW_MIN_SAMPLES). @default 20 */
  readonly slowMinSamples: number;
}

export const DEFAULT_ALERT_SETTINGS: AlertSettings = {
  agentFailures: 5,
  intervalMs: 5000,
  performanceIntervalMs: 300_000,
  slowFactor: 2,
  slowWindowMinutes: 60,
  slowRecentTasks: 50,
  baselineDays: 7,
  slowMinSamples: 20,
};
