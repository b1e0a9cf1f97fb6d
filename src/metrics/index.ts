export { instruments, processRegistry, labelOf, secondsSince, recordUsageMetrics } from './instruments.js';
export { queueDepth, activeWorkers, runsByStatus, QUEUED_STATUSES, type DepthRow } from './figures.js';
export { scrapeMetrics, METRICS_CONTENT_TYPE } from './scrape.js';
export {
  overview,
  parseSince,
  bucketSecondsFor,
  percentile,
  OVERVIEW_ROW_LIMIT,
  MAX_BUCKETS,
  type Overview,
  type OverviewBucket,
  type OverviewTotals,
} from './overview.js';
