import type { Kysely } from 'kysely';
import type { DialectAdapter } from '../storage/index.js';
import { announcementOf, noteKeyedWork, noteUnkeyedWork } from './flow/index.js';

/** Where new tasks are announced, so idle workers wake at once (PostgreSQL LISTEN/NOTIFY). */
export const TASKS_CHANNEL = 'swarm_tasks';

/** Which kinds of work some tasks are: keyed (under flow limits) or not. */
export function kindsOf(tasks: readonly { readonly concurrency_key: string | null }[]): {
  keyed: boolean;
  unkeyed: boolean;
} {
  return {
    keyed: tasks.some((task) => task.concurrency_key !== null),
    unkeyed: tasks.some((task) => task.concurrency_key === null),
  };
}

/**
 * Tells every worker that claimable work of these kinds is on the queue: a notification that
 * names them (announcementOf), sent when `db`'s transaction commits, and a note in this process
 * at once. Every path that queues work claimable now says so — an enqueue, and tasks put back
 * (a lease reclaimed, tasks a stopping worker hands back) — so a worker whose keyed look found
 * nothing a moment ago (PROBE_MS) looks again, in whichever process.
 */
export async function announceQueuedWork<DB>(
  db: Kysely<DB>,
  dialect: DialectAdapter,
  kinds: { readonly keyed: boolean; readonly unkeyed: boolean },
): Promise<void> {
  if (!kinds.keyed && !kinds.unkeyed) return;
  await dialect.notify(db as unknown as Kysely<unknown>, TASKS_CHANNEL, announcementOf(kinds));
  if (kinds.keyed) noteKeyedWork();
  if (kinds.unkeyed) noteUnkeyedWork();
}
