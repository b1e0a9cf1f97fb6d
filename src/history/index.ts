export {
  archiveFinishedRuns,
  CONVERSATION_CAP,
  type ArchivedMessage,
  type ArchivedMetrics,
} from './archive.js';
export { claimLease } from './lease.js';
export { pruneRecords, type PruneReport, type PruneOptions } from './retention.js';
export { startHistoryService, RETENTION_JOB, type HistoryServiceOptions } from './service.js';
export { listHistory, getHistory, archivedRunView, type HistoryEntry, type HistoryFilters } from './read.js';
