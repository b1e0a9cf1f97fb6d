import type { Kysely } from 'kysely';
import type { MessagesTable, SwarmDatabase } from '../storage/index.js';

/** `messages` is typed by its repository (schema-types does not list it). */
export type HistoryDb = Kysely<SwarmDatabase & { messages: MessagesTable }>;

export function historyDb(db: Kysely<SwarmDatabase>): HistoryDb {
  return db.withTables<{ messages: MessagesTable }>();
}

/** The run statuses that end a run: only these are archived and pruned. */
export const FINISHED_RUN_STATUSES = ['completed', 'failed', 'timeout', 'cancelled'] as const;
export type FinishedRunStatus = (typeof FINISHED_RUN_STATUSES)[number];
