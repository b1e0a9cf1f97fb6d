import type { Kysely } from 'kysely';
import { agentsNamed, isBuiltinAgent, type DialectAdapter, type SwarmDatabase } from '../../storage/index.js';
import { agentLimit, ownerQuota, type FlowLimit } from './keys.js';

/** When a look last found none of a kind of work, and when this process last enqueued some. */
class Sightings {
  private emptyAt = Number.NEGATIVE_INFINITY;
  private enqueuedAt = 0;
  constructor(private readonly pauseMs: number) {}
  noteWork(): void {
    this.enqueuedAt = performance.now();
  }
  noteNone(): void {
    this.emptyAt = performance.now();
  }
  lastEnqueueAt(): number {
    return this.enqueuedAt;
  }
  /** Seen absent within the pause, and none enqueued in this process since. */
  recentlyAbsent(): boolean {
    return this.emptyAt > this.enqueuedAt && performance.now() - this.emptyAt < this.pauseMs;
  }
}

/**
 * Whether a claim looks for keyed tasks at all. A database without keyed work must cost the
 * claim nothing (no statement, no round trip), so once a look finds none, claims skip the look
 * for PROBE_MS; queueing keyed work ends the pause at once, in this process or, announced
 * (noteAnnouncedWork), in another: an enqueue, a reclaimed lease, tasks a stopping worker hands
 * back (src/queue/announce.ts). Keyed tasks put back for later (a retry's back-off, a sleep) are
 * parked at once, and a look that finds any parked task does not pause; they can wait past their
 * time, by at most PROBE_MS, only when their delay is shorter than that.
 */
export const PROBE_MS = 1000;
const keyed = new Sightings(PROBE_MS);
export const noteKeyedWork = (): void => keyed.noteWork();
export const noteNoKeyedWork = (): void => keyed.noteNone();
/** When this process last enqueued keyed work (performance.now()). */
export const lastKeyedEnqueueAt = (): number => keyed.lastEnqueueAt();
export const shouldLookForKeyedWork = (): boolean => !keyed.recentlyAbsent();

/**
 * Which kind a busy worker's claim looks at first. Keyed and unkeyed claims take turns going
 * first, so neither kind starves the other of a worker's room; but while the last unfiltered
 * look found no unkeyed work (within UNKEYED_PAUSE_MS, and no unkeyed work enqueued in this
 * process since), the keyed claim goes first every time: a claim it fills skips a look that
 * would find nothing. One it does not fill still looks at the unkeyed queue after it, so unkeyed
 * work that came from elsewhere waits at most UNKEYED_PAUSE_MS behind keyed work that fills
 * every claim, and never while a claim has room.
 */
export const UNKEYED_PAUSE_MS = 100;
const unkeyed = new Sightings(UNKEYED_PAUSE_MS);
export const noteUnkeyedWork = (): void => unkeyed.noteWork();
export const noteNoUnkeyedWork = (): void => unkeyed.noteNone();
export const unkeyedRecentlyEmpty = (): boolean => unkeyed.recentlyAbsent();

/**
 * What a notification of queued work (TASKS_CHANNEL, src/queue/announce.ts) says: the kinds of
 * work queued or put back. A worker hears it once that has committed, in whichever process, and
 * ends its pause for those kinds at once (noteAnnouncedWork): keyed tasks another process
 * enqueues or puts back wait no PROBE_MS.
 */
export function announcementOf(kinds: { readonly keyed: boolean; readonly unkeyed: boolean }): string {
  return [kinds.keyed ? 'keyed' : null, kinds.unkeyed ? 'unkeyed' : null].filter((k) => k !== null).join(',');
}

/** Notes the work a notification announced; one without a payload may be of either kind. */
export function noteAnnouncedWork(payload: string): void {
  const kinds = payload === '' ? ['keyed', 'unkeyed'] : payload.split(',');
  if (kinds.includes('keyed')) noteKeyedWork();
  if (kinds.includes('unkeyed')) noteUnkeyedWork();
}

/**
 * Adds each owner's quota (users.max_running_tasks, set by an admin) to every task of that
 * owner: one indexed read per enqueue, of the owners in the batch.
 */
export async function withOwnerQuotas<
  T extends { readonly ownerId: string; readonly flow?: readonly FlowLimit[] },
>(db: Kysely<SwarmDatabase>, tasks: readonly T[]): Promise<readonly T[]> {
  const owners = [...new Set(tasks.map((task) => task.ownerId).filter((id) => typeof id === 'string'))];
  if (owners.length === 0) return tasks;
  const quotas = await db
    .selectFrom('users')
    .select(['id', 'max_running_tasks'])
    .where('id', 'in', owners)
    .where('max_running_tasks', 'is not', null)
    .execute();
  if (quotas.length === 0) return tasks;
  const quotaOf = new Map(quotas.map((row) => [row.id, ownerQuota(row.id, row.max_running_tasks!)]));
  return tasks.map((task) => {
    const quota = quotaOf.get(task.ownerId);
    return quota === undefined ? task : { ...task, flow: [...(task.flow ?? []), quota] };
  });
}

/**
 * Adds each registered agent's `resources.max_concurrency` to every task naming it (the agent's
 * version as the task names it; the limit's key is the agent's name, so its versions share it,
 * and the last limit enqueued is the one that holds). One read of the distinct agents of the
 * batch (agentsNamed); none when it names only builtins or no agent (capability routing: the agent is not
 * known before the claim, so no agent limit applies).
 */
export async function withAgentLimits<
  T extends {
    readonly ownerId: string;
    readonly agentName?: string;
    readonly agentVersion?: string;
    readonly flow?: readonly FlowLimit[];
  },
>(db: Kysely<SwarmDatabase>, dialect: DialectAdapter, tasks: readonly T[]): Promise<readonly T[]> {
  const named = new Map<string, { ownerId: string; name: string; version: string }>();
  for (const { ownerId, agentName: name, agentVersion: version } of tasks)
    if (name !== undefined && version !== undefined && !isBuiltinAgent(name))
      named.set(agentOf(ownerId, name, version), { ownerId, name, version });
  if (named.size === 0) return tasks;
  const limits = new Map<string, FlowLimit>();
  for (const row of await agentsNamed(db, dialect, [...named.values()]))
    if (row.max_concurrency !== null)
      limits.set(
        agentOf(row.owner_id, row.name, row.version),
        agentLimit(row.owner_id, row.name, row.max_concurrency),
      );
  if (limits.size === 0) return tasks;
  return tasks.map((task) => {
    const limit =
      task.agentName === undefined || task.agentVersion === undefined
        ? undefined
        : limits.get(agentOf(task.ownerId, task.agentName, task.agentVersion));
    return limit === undefined ? task : { ...task, flow: [...(task.flow ?? []), limit] };
  });
}

function agentOf(ownerId: string, name: string, version: string): string {
  return JSON.stringify([ownerId, name, version]);
}
