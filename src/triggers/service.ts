import { NotFoundError, SwarmError, type FieldIssue } from '../errors/index.js';
import { invalidDefinition, nextTick, nextTicks } from '../registry/index.js';
import { openText, sealText, type Keyring } from '../secrets/index.js';
import { auditedWrite, toDbTimestamp, type Caller, type Store } from '../storage/index.js';
import { newWebhookSecret } from './sync.js';
import { viewOfTrigger, type FiringView, type TriggerRow, type TriggerView } from './types.js';

/** How long a rotated-out webhook secret is still accepted, by default: senders get a day. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 86_400;

/** The signing secrets a webhook trigger accepts now: the current one, and a rotated-out one in its grace. */
export function webhookSecrets(keyring: Keyring, trigger: TriggerRow, now = new Date()): string[] {
  const binding = { id: trigger.id, ownerId: trigger.owner_id };
  const secrets: string[] = [];
  if (trigger.webhook_secret !== null)
    secrets.push(
      openText(keyring, trigger.webhook_secret, binding, `webhook secret of ${trigger.workflow_name}`),
    );
  if (
    trigger.webhook_secret_previous !== null &&
    trigger.webhook_secret_previous_until !== null &&
    Date.parse(trigger.webhook_secret_previous_until) > now.getTime()
  ) {
    secrets.push(
      openText(
        keyring,
        trigger.webhook_secret_previous,
        binding,
        `previous webhook secret of ${trigger.workflow_name}`,
      ),
    );
  }
  return secrets;
}

/**
 * The webhook trigger at `/hooks/<path>`, whoever owns it (the path is the address), and — read
 * in the same query — whether `fireKey` fired it before, and which run that started.
 */
export async function findWebhookTrigger(
  store: Store,
  path: string,
  fireKey: string | null = null,
): Promise<
  { trigger: TriggerRow; fired: { runId: string | null; status: string | null } | null } | undefined
> {
  const row = await store.handle.db
    .selectFrom('triggers')
    .leftJoin('trigger_firings as firing', (join) =>
      join.onRef('firing.trigger_id', '=', 'triggers.id').on('firing.fire_key', '=', fireKey ?? ''),
    )
    .selectAll('triggers')
    .select(['firing.id as fired_id', 'firing.run_id as fired_run_id', 'firing.status as fired_status'])
    .where('triggers.type', '=', 'webhook')
    .where('triggers.webhook_path', '=', path)
    .where('triggers.workflow_name', 'is not', null)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const { fired_id, fired_run_id, fired_status, ...trigger } = row;
  return {
    trigger,
    fired: fired_id === null || fireKey === null ? null : { runId: fired_run_id, status: fired_status },
  };
}

/** Trigger management for one caller: list, enable/disable, rotate a secret, next ticks, firings. */
export class TriggerService {
  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
  ) {}

  async list(caller: Caller, filters: { type?: string } = {}): Promise<TriggerView[]> {
    let query = this.store.handle.db.selectFrom('triggers').selectAll().where('owner_id', '=', caller.userId);
    if (filters.type !== undefined) query = query.where('type', '=', filters.type);
    const rows = await query.orderBy('workflow_name').execute();
    return this.views(rows);
  }

  /** A trigger by its workflow's name or by its id. */
  async get(caller: Caller, ref: string): Promise<TriggerView> {
    const [view] = await this.views([await this.row(caller, ref)]);
    return view!;
  }

  async setEnabled(caller: Caller, ref: string, enabled: boolean): Promise<TriggerView> {
    const row = await this.row(caller, ref);
    const now = new Date();
    const changes: Record<string, unknown> = { enabled: enabled ? 1 : 0, updated_at: toDbTimestamp(now) };
    // A schedule enabled again starts from now: the ticks it slept through are not misfires.
    if (enabled && !row.enabled && row.type === 'schedule' && row.cron_expression !== null) {
      const next = nextTick(row.cron_expression, row.timezone, now);
      changes.next_run_at = next === null ? null : toDbTimestamp(next);
    }
    await auditedWrite(
      this.store.handle.db,
      this.store.handle.dialect,
      (trx) =>
        trx
          .updateTable('triggers')
          .set(changes)
          .where('id', '=', row.id)
          .where('owner_id', '=', caller.userId)
          .execute(),
      () => ({
        caller,
        action: enabled ? 'trigger.enable' : 'trigger.disable',
        resourceType: 'trigger',
        resourceId: row.id,
        metadata: { workflow: row.workflow_name, type: row.type },
      }),
    );
    return this.get(caller, row.id);
  }

  /**
   * Gives a webhook trigger a new secret, returned this once. The old one is still accepted for
   * `graceSeconds` (0: not at all), so a sender can sign with both while it moves over.
   */
  async rotateSecret(
    caller: Caller,
    ref: string,
    graceSeconds = DEFAULT_ROTATION_GRACE_SECONDS,
  ): Promise<{ trigger: TriggerView; secret: string }> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86_400) {
      const issue: FieldIssue = {
        field: 'graceSeconds',
        message: 'must be an integer from 0 to 2592000 (30 days)',
      };
      throw invalidDefinition('secret rotation', [issue]);
    }
    const row = await this.row(caller, ref);
    if (row.type !== 'webhook') {
      throw new SwarmError(
        'CONFLICT',
        `the trigger of ${row.workflow_name} is a ${row.type} trigger; only webhook triggers have a secret`,
      );
    }
    const secret = newWebhookSecret();
    const binding = { id: row.id, ownerId: row.owner_id };
    const now = new Date();
    await auditedWrite(
      this.store.handle.db,
      this.store.handle.dialect,
      (trx) =>
        trx
          .updateTable('triggers')
          .set({
            webhook_secret: sealText(this.keyring, secret, binding),
            webhook_secret_previous: graceSeconds === 0 ? null : row.webhook_secret,
            webhook_secret_previous_until:
              graceSeconds === 0 ? null : toDbTimestamp(new Date(now.getTime() + graceSeconds * 1000)),
            updated_at: toDbTimestamp(now),
          })
          .where('id', '=', row.id)
          .where('owner_id', '=', caller.userId)
          .execute(),
      () => ({
        caller,
        action: 'trigger.rotate_secret',
        resourceType: 'trigger',
        resourceId: row.id,
        metadata: { workflow: row.workflow_name, graceSeconds },
      }),
    );
    return { trigger: await this.get(caller, row.id), secret };
  }

  /** The next `count` times a schedule trigger fires (as croner computes them, DST included). */
  async next(caller: Caller, ref: string, count = 5): Promise<{ trigger: TriggerView; times: string[] }> {
    if (!Number.isInteger(count) || count < 1 || count > 100) {
      throw invalidDefinition('next schedule times', [
        { field: 'count', message: 'must be an integer from 1 to 100' },
      ]);
    }
    const row = await this.row(caller, ref);
    if (row.type !== 'schedule' || row.cron_expression === null) {
      throw new SwarmError(
        'CONFLICT',
        `the trigger of ${row.workflow_name} is a ${row.type} trigger, not a schedule`,
      );
    }
    const from = row.next_run_at === null ? new Date() : new Date(Date.parse(row.next_run_at) - 1);
    const times = nextTicks(row.cron_expression, row.timezone, from, count).map((t) => t.toISOString());
    return { trigger: await this.get(caller, row.id), times };
  }

  /** A trigger's firings, newest first. */
  async firings(caller: Caller, ref: string, limit = 50): Promise<FiringView[]> {
    const row = await this.row(caller, ref);
    const rows = await this.store.handle.db
      .selectFrom('trigger_firings')
      .selectAll()
      .where('trigger_id', '=', row.id)
      .where('owner_id', '=', caller.userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(Math.max(1, limit), 500))
      .execute();
    return rows.map((r) => ({
      id: r.id,
      key: r.fire_key,
      status: r.status,
      runId: r.run_id,
      error: r.error,
      reason: r.reason,
      scheduledFor: r.scheduled_for,
      createdAt: r.created_at,
    }));
  }

  /** Views with their firing counts, read in one query for all the rows. */
  private async views(rows: readonly TriggerRow[]): Promise<TriggerView[]> {
    if (rows.length === 0) return [];
    const stats = await this.store.handle.db
      .selectFrom('trigger_firings')
      .select((eb) => [
        'trigger_id',
        eb.fn.countAll<number | string>().as('count'),
        eb.fn.max('created_at').as('last'),
      ])
      .where(
        'trigger_id',
        'in',
        rows.map((r) => r.id),
      )
      .where('status', '=', 'started')
      .groupBy('trigger_id')
      .execute();
    const byId = new Map(stats.map((s) => [s.trigger_id, s]));
    return rows.map((row) => {
      const s = byId.get(row.id);
      return viewOfTrigger(row, {
        fireCount: s === undefined ? 0 : Number(s.count),
        lastRunAt: s?.last === undefined || s.last === null ? null : new Date(String(s.last)).toISOString(),
      });
    });
  }

  private async row(caller: Caller, ref: string): Promise<TriggerRow> {
    const row = await this.store.handle.db
      .selectFrom('triggers')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where((eb) => eb.or([eb('workflow_name', '=', ref), eb('id', '=', ref)]))
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('trigger', ref);
    return row;
  }
}
