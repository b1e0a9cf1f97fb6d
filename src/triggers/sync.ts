import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import { nextTick, Registry, type TriggerSpec, type WorkflowView } from '../registry/index.js';
import { sealText, type Keyring } from '../secrets/index.js';
import {
  newId,
  recordAudit,
  toDbTimestamp,
  type Caller,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import type { TriggerRow } from './types.js';

/** A new webhook signing secret: 32 random bytes, prefixed so it is recognisable in a vault. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

export interface SyncedTrigger {
  readonly id: string;
  readonly workflow: string;
  readonly type: 'webhook' | 'schedule' | 'event';
  /** Only when a webhook trigger was created now: its secret, shown this once. */
  readonly secret?: string;
  readonly path?: string;
}

/**
 * Makes the triggers table say what the latest version of each of the caller's workflows says
 * (or of one workflow): a workflow has at most one trigger row, whatever its version. Manual
 * workflows have none. A webhook keeps its path (unless the definition names another) and its
 * secret; a schedule keeps its next tick unless its cron or time zone changed. Idempotent.
 */
export async function syncTriggers(
  store: Store,
  keyring: Keyring,
  caller: Caller,
  workflows: readonly WorkflowView[],
  options: { bySwarm?: boolean } = {},
): Promise<SyncedTrigger[]> {
  const synced: SyncedTrigger[] = [];
  const { db, dialect } = store.handle;
  // Each workflow's trigger changes and their audit rows commit together. Swarm's own syncs
  // (at start) are audited without an actor: no one asked for them.
  const sync: Sync = { keyring, caller, actor: options.bySwarm === true ? null : caller };
  for (const workflow of workflows) {
    const result = await dialect.writeTransaction(db, (trx) => syncOne(trx, sync, workflow));
    if (result !== null) synced.push(result);
  }
  return synced;
}

interface Sync {
  readonly keyring: Keyring;
  /** Whose triggers. */
  readonly caller: Caller;
  /** Who the audit log names; null for Swarm itself. */
  readonly actor: Caller | null;
}

function auditTrigger(
  db: Kysely<SwarmDatabase>,
  sync: Sync,
  action: 'trigger.create' | 'trigger.update' | 'trigger.delete',
  id: string,
  metadata: Record<string, unknown>,
): Promise<void> {
  return recordAudit(db, {
    ...(sync.actor === null ? { metadata: { ...metadata, by: 'swarm' } } : { caller: sync.actor, metadata }),
    ownerId: sync.caller.userId,
    action,
    resourceType: 'trigger',
    resourceId: id,
  });
}

/** A webhook path another trigger already has (another workflow's, or another owner's). */
export async function assertPathFree(
  store: Store | Kysely<SwarmDatabase>,
  caller: Caller,
  workflow: string,
  path: string,
): Promise<void> {
  const db = 'handle' in store ? store.handle.db : store;
  const taken = await db
    .selectFrom('triggers')
    .select(['owner_id', 'workflow_name'])
    .where('webhook_path', '=', path)
    .executeTakeFirst();
  if (taken !== undefined && (taken.owner_id !== caller.userId || taken.workflow_name !== workflow)) {
    throw new SwarmError(
      'CONFLICT',
      `webhook path "${path}" is taken by another trigger; choose another trigger.path`,
      {
        context: { field: 'trigger.path' },
      },
    );
  }
}

async function syncOne(
  db: Kysely<SwarmDatabase>,
  sync: Sync,
  workflow: WorkflowView,
): Promise<SyncedTrigger | null> {
  const { keyring, caller } = sync;
  const spec = workflow.workflow.trigger as TriggerSpec;
  const found = await db
    .selectFrom('triggers')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .where('workflow_name', '=', workflow.name)
    .executeTakeFirst();
  const adopted = found === undefined ? await adoptImported(db, keyring, caller, workflow) : undefined;
  const existing = found ?? adopted;
  if (existing !== undefined && (spec.type === 'manual' || existing.type !== spec.type)) {
    await db.deleteFrom('triggers').where('id', '=', existing.id).execute();
    await auditTrigger(db, sync, 'trigger.delete', existing.id, {
      workflow: workflow.name,
      type: existing.type,
    });
  }
  if (spec.type === 'manual') return null;
  if (existing !== undefined && existing.type !== spec.type) return syncOne(db, sync, workflow);
  const now = new Date();
  const base = { workflow_id: workflow.id, config: JSON.stringify(spec), updated_at: toDbTimestamp(now) };
  if (existing === undefined) {
    const id = newId();
    let secret: string | undefined;
    let path: string | undefined;
    const row: Record<string, unknown> = {
      id,
      owner_id: caller.userId,
      workflow_name: workflow.name,
      type: spec.type,
      ...base,
    };
    if (spec.type === 'webhook') {
      const chosen = spec.path ?? `${workflow.name}-${randomBytes(6).toString('hex')}`;
      await assertPathFree(db, caller, workflow.name, chosen);
      path = chosen;
      secret = newWebhookSecret();
      Object.assign(row, {
        webhook_path: path,
        webhook_secret: sealText(keyring, secret, { id, ownerId: caller.userId }),
      });
    } else if (spec.type === 'schedule') {
      Object.assign(row, scheduleColumns(spec, now));
    } else {
      Object.assign(row, { event_source: spec.source, event_type: spec.event_type });
    }
    const inserted = await db
      .insertInto('triggers')
      .values(row as never)
      .onConflict((oc) => oc.columns(['owner_id', 'workflow_name']).doNothing())
      .executeTakeFirst();
    // Another process synced the same workflow at the same moment: its row stands.
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return syncOne(db, sync, workflow);
    await auditTrigger(db, sync, 'trigger.create', id, { workflow: workflow.name, type: spec.type, path });
    return {
      id,
      workflow: workflow.name,
      type: spec.type,
      ...(secret === undefined ? {} : { secret }),
      ...(path === undefined ? {} : { path }),
    };
  }
  const changes: Record<string, unknown> = { ...base };
  if (spec.type === 'webhook' && spec.path !== undefined && spec.path !== existing.webhook_path) {
    await assertPathFree(db, caller, workflow.name, spec.path);
    changes.webhook_path = spec.path;
  }
  if (spec.type === 'schedule') {
    const changed =
      existing.cron_expression !== spec.cron ||
      existing.timezone !== spec.timezone ||
      existing.next_run_at === null;
    Object.assign(changes, { misfire_policy: spec.misfire, catch_up_limit: spec.catch_up_limit });
    if (changed) Object.assign(changes, scheduleColumns(spec, now));
  }
  if (spec.type === 'event')
    Object.assign(changes, { event_source: spec.source, event_type: spec.event_type });
  await db.updateTable('triggers').set(changes).where('id', '=', existing.id).execute();
  // A sync that changed nothing but its timestamp (every start re-syncs) is no audit event.
  const changed =
    adopted !== undefined ||
    existing.workflow_id !== workflow.id ||
    !isDeepStrictEqual(JSON.parse(existing.config ?? 'null'), JSON.parse(JSON.stringify(spec))) ||
    changes.webhook_path !== undefined;
  if (changed)
    await auditTrigger(db, sync, 'trigger.update', existing.id, {
      workflow: workflow.name,
      type: spec.type,
      ...(adopted === undefined ? {} : { adopted: true }),
    });
  return {
    id: existing.id,
    workflow: workflow.name,
    type: spec.type,
    ...(spec.type === 'webhook'
      ? { path: (changes.webhook_path as string | undefined) ?? existing.webhook_path ?? '' }
      : {}),
  };
}

/**
 * A trigger imported from a legacy registry names a workflow version, not a workflow, and may
 * hold its webhook secret in the clear: the first one of the workflow's versions becomes the
 * workflow's trigger, its secret sealed. Others stay unattached and never fire.
 */
async function adoptImported(
  db: Kysely<SwarmDatabase>,
  keyring: Keyring,
  caller: Caller,
  workflow: WorkflowView,
): Promise<TriggerRow | undefined> {
  const row = await db
    .selectFrom('triggers')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .where('workflow_name', 'is', null)
    .where('workflow_id', 'in', (eb) =>
      eb
        .selectFrom('workflows')
        .select('id')
        .where('owner_id', '=', caller.userId)
        .where('name', '=', workflow.name),
    )
    .orderBy('created_at')
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const secret =
    row.webhook_secret === null || /^v\d+:/.test(row.webhook_secret)
      ? row.webhook_secret
      : sealText(keyring, row.webhook_secret, { id: row.id, ownerId: row.owner_id });
  await db
    .updateTable('triggers')
    .set({ workflow_name: workflow.name, webhook_secret: secret })
    .where('id', '=', row.id)
    .execute();
  return { ...row, workflow_name: workflow.name, webhook_secret: secret };
}

function scheduleColumns(spec: Extract<TriggerSpec, { type: 'schedule' }>, now: Date): Partial<TriggerRow> {
  const next = nextTick(spec.cron, spec.timezone, now);
  return {
    cron_expression: spec.cron,
    timezone: spec.timezone,
    misfire_policy: spec.misfire,
    catch_up_limit: spec.catch_up_limit,
    next_run_at: next === null ? null : toDbTimestamp(next),
  };
}

/**
 * Syncs every owner's workflows: at server start, so workflows stored without going through the
 * API (the examples, a legacy import, `db copy`) get their triggers. Returns the new webhook
 * triggers (whose secrets are then only available by rotating them).
 */
export async function syncAllTriggers(
  store: Store,
  keyring: Keyring,
  onError: (workflow: string, error: unknown) => void = () => {},
): Promise<SyncedTrigger[]> {
  const owners = await store.handle.db.selectFrom('workflows').select('owner_id').distinct().execute();
  const synced: SyncedTrigger[] = [];
  for (const { owner_id } of owners) {
    const caller: Caller = { userId: owner_id, role: 'member' };
    for (const workflow of await new Registry(store).as(caller).workflows.list()) {
      // One workflow that cannot have its trigger (an imported path another owner holds) must
      // not keep the server from starting: it is reported, and the others are synced.
      try {
        synced.push(...(await syncTriggers(store, keyring, caller, [workflow], { bySwarm: true })));
      } catch (error) {
        onError(workflow.name, error);
      }
    }
  }
  return synced;
}
