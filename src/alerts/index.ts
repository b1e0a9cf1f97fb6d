/**
 * Alerts Swarm raises itself (docs/alerts.md): from task outcomes and durations, evaluated
 * periodically and once across processes (AlertDaemon), and from completed runs of workflows
 * that opt in (completionAlerts, an event subscriber). Each opening and resolution publishes
 * `alert.raised` / `alert.resolved`.
 */
export { AlertDaemon } from './daemon.js';
export { completionAlerts } from './completion.js';
export { evaluateTaskOutcomes, type OutcomesReport } from './outcomes.js';
export { evaluatePerformance, type PerformanceReport } from './performance.js';
export { raise, resolveCauses, alertEvent, AUTO_RESOLVER } from './publish.js';
export { resolveByHand } from './resolve.js';
export { causes } from './causes.js';
export { DEFAULT_ALERT_SETTINGS, type AlertSettings } from './settings.js';
