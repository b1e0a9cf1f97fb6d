import type { Kysely, Selectable } from 'kysely';
import { SwarmError } from '../../errors/index.js';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { ConnectorsTable, SwarmDatabase } from '../schema-types.js';
import { byCodeUnits, fromDbBool, fromDbJson, newId, nowTimestamp, toDbJson } from '../values.js';
import { recordAudit } from './audit-logs.js';

/**
 * Connectors (`connectors`, seed 004), per owner: settings for reaching an outside service
 * (`http`, `smtp`…). No credential is ever here: the config names the owner's secrets by NAME and
 * src/connectors/ reads their values when the connector is used.
 */
export interface ConnectorRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly type: string;
  readonly active: boolean;
  readonly config: Readonly<Record<string, unknown>>;
  /** The secret the config names (at most one per connector type), or null. */
  readonly secretsRef: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewConnector {
  readonly name: string;
  /** `http`, `smtp`, `google_sheets`… (seed 004). */
  readonly type: string;
  /** Settings only: credentials belong in secrets (`secretsRef` names one). */
  readonly config: Record<string, unknown>;
  readonly secretsRef?: string | null;
}

type Db = Kysely<SwarmDatabase>;

function toConnector(row: Selectable<ConnectorsTable>): ConnectorRecord {
  const config = fromDbJson<unknown>(row.config);
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    type: row.type,
    active: fromDbBool(row.active),
    config:
      typeof config === 'object' && config !== null && !Array.isArray(config)
        ? (config as Record<string, unknown>)
        : {},
    secretsRef: row.secrets_ref,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function connectorsOf(db: Db, caller: Caller) {
  return db.selectFrom('connectors').selectAll().where('owner_id', '=', caller.userId);
}

export async function listConnectors(db: Db, caller: Caller): Promise<ConnectorRecord[]> {
  const rows = await connectorsOf(db, caller).execute();
  return rows.map(toConnector).sort((a, b) => byCodeUnits(a.name, b.name));
}

/** The caller's connector by name, or by id when no name matches. */
export async function findConnector(
  db: Db,
  caller: Caller,
  nameOrId: string,
): Promise<ConnectorRecord | null> {
  const row =
    (await connectorsOf(db, caller).where('name', '=', nameOrId).executeTakeFirst()) ??
    (await connectorsOf(db, caller).where('id', '=', nameOrId).executeTakeFirst());
  return row === undefined ? null : toConnector(row);
}

function conflict(name: string): SwarmError {
  return new SwarmError('CONFLICT', `a connector named "${name}" exists already`, {
    issues: [{ field: 'name', message: 'is taken: remove that connector first, or change it with PATCH' }],
    context: { what: 'connector', id: name },
  });
}

/** A connector row of the caller's (seed 004's demo data has one). Returns its id. */
export async function insertConnector(db: Db, caller: Caller, connector: NewConnector): Promise<string> {
  const id = newId();
  await db
    .insertInto('connectors')
    .values({
      id,
      owner_id: caller.userId,
      name: connector.name,
      type: connector.type,
      config: toDbJson(connector.config, 'config'),
      secrets_ref: connector.secretsRef ?? null,
    })
    .execute();
  return id;
}

/** Creates the caller's connector; a name already taken is a CONFLICT and nothing changes. */
export async function createConnector(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  connector: NewConnector,
): Promise<ConnectorRecord> {
  return dialect.writeTransaction(db, async (trx) => {
    const taken = await connectorsOf(trx, caller).where('name', '=', connector.name).executeTakeFirst();
    if (taken !== undefined) throw conflict(connector.name);
    const now = nowTimestamp();
    await trx
      .insertInto('connectors')
      .values({
        id: newId(),
        owner_id: caller.userId,
        name: connector.name,
        type: connector.type,
        config: toDbJson(connector.config, 'config'),
        secrets_ref: connector.secretsRef ?? null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const saved = (await findConnector(trx, caller, connector.name))!;
    await audit(trx, caller, 'connector.create', saved);
    return saved;
  });
}

/** Replaces the caller's connector's config (and name); null when it is not the caller's. */
export async function updateConnector(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  id: string,
  change: {
    readonly name: string;
    readonly config: Record<string, unknown>;
    readonly secretsRef: string | null;
  },
): Promise<ConnectorRecord | null> {
  return dialect.writeTransaction(db, async (trx) => {
    const existing = await connectorsOf(trx, caller).where('id', '=', id).executeTakeFirst();
    if (existing === undefined) return null;
    if (change.name !== existing.name) {
      const taken = await connectorsOf(trx, caller).where('name', '=', change.name).executeTakeFirst();
      if (taken !== undefined) throw conflict(change.name);
    }
    await trx
      .updateTable('connectors')
      .set({
        name: change.name,
        config: toDbJson(change.config, 'config'),
        secrets_ref: change.secretsRef,
        updated_at: nowTimestamp(),
      })
      .where('id', '=', id)
      .where('owner_id', '=', caller.userId)
      .execute();
    const saved = (await findConnector(trx, caller, change.name))!;
    await audit(trx, caller, 'connector.update', saved);
    return saved;
  });
}

export async function removeConnector(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  id: string,
): Promise<ConnectorRecord | null> {
  return dialect.writeTransaction(db, async (trx) => {
    const row = await connectorsOf(trx, caller).where('id', '=', id).executeTakeFirst();
    if (row === undefined) return null;
    await trx.deleteFrom('connectors').where('id', '=', id).where('owner_id', '=', caller.userId).execute();
    const removed = toConnector(row);
    await audit(trx, caller, 'connector.remove', removed);
    return removed;
  });
}

function audit(trx: Db, caller: Caller, action: string, connector: ConnectorRecord): Promise<void> {
  // Settings and the secret's NAME only: no value ever reaches this table or the audit log.
  return recordAudit(trx, {
    caller,
    action,
    resourceType: 'connector',
    resourceId: connector.id,
    metadata: { name: connector.name, type: connector.type, secret: connector.secretsRef },
  });
}
