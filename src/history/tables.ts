import type { Kysely } from 'kysely';
import type { SwarmDatabase } from '../storage/index.js';

/**
 * The record tables the archive and the pruner read or delete from that schema-types does not
 * type yet (they are written by the conversation and alert features); only the columns used here.
 */
interface MessagesTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  sender_id: string | null;
  recipient_id: string | null;
  message_type: string;
  content: string;
  metadata: string;
  created_at: string;
}

interface AlertsTable {
  id: string;
  owner_id: string;
  resolved: boolean | number;
  resolved_at: string | null;
  created_at: string;
}

export type HistoryDb = Kysely<SwarmDatabase & { messages: MessagesTable; alerts: AlertsTable }>;

export function historyDb(db: Kysely<SwarmDatabase>): HistoryDb {
  return db.withTables<{ messages: MessagesTable; alerts: AlertsTable }>();
}

/** The run statuses that end a run: only these are archived and pruned. */
export const FINISHED_RUN_STATUSES = ['completed', 'failed', 'timeout', 'cancelled'] as const;
export type FinishedRunStatus = (typeof FINISHED_RUN_STATUSES)[number];
