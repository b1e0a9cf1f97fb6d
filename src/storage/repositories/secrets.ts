import { sql, type Kysely } from 'kysely';
import { InputError } from '../../errors/index.js';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase } from '../schema-types.js';
import { byCodeUnits, newId, nowTimestamp } from '../values.js';
import { recordAudit } from './audit-logs.js';

/**
 * Secrets as storage sees them: names, scope and opaque encrypted bytes. Encryption is the
 * secrets part's business; storage hands it the row id to bind a value to (`Seal`).
 */
export interface SecretRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly scope: 'global' | 'workflow';
  /** The workflow a workflow-scoped secret belongs to (all its versions), by name. */
  readonly workflow: string | null;
  /** The master-key version its value is encrypted under (0: a legacy value Swarm cannot read). */
  readonly keyVersion: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A secret with its stored bytes: only for decrypting, never for output. */
export interface SealedSecret extends SecretRecord {
  readonly encryptedValue: Buffer;
}

/** Encrypts the new value for the row `id` (the id is part of the associated data). */
export type Seal = (id: string) => { readonly encryptedValue: Buffer; readonly keyVersion: number };

type Db = Kysely<SwarmDatabase>;

interface SecretRow {
  id: string;
  owner_id: string;
  name: string;
  scope: string;
  workflow_name: string | null;
  key_version: number;
  created_at: string;
  updated_at: string;
}

function toSecret(row: SecretRow): SecretRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    scope: row.scope === 'workflow' ? 'workflow' : 'global',
    workflow: row.workflow_name,
    keyVersion: Number(row.key_version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The caller's secrets with the name of their workflow (any version row of it carries the name). */
function secretsOf(db: Db, caller: Caller) {
  return db
    .selectFrom('secrets')
    .leftJoin('workflows', 'workflows.id', 'secrets.workflow_id')
    .select([
      'secrets.id',
      'secrets.owner_id',
      'secrets.name',
      'secrets.scope',
      'workflows.name as workflow_name',
      'secrets.key_version',
      'secrets.created_at',
      'secrets.updated_at',
    ])
    .where('secrets.owner_id', '=', caller.userId);
}

/** Ids of every version row of the caller's workflow `name`. */
function workflowIds(db: Db, caller: Caller, name: string) {
  return db
    .selectFrom('workflows')
    .select('workflows.id')
    .where('workflows.owner_id', '=', caller.userId)
    .where('workflows.name', '=', name);
}

export async function listSecrets(db: Db, caller: Caller): Promise<SecretRecord[]> {
  const rows = await secretsOf(db, caller).execute();
  // Sorted here: the dialects' collations and NULL orders differ.
  return rows
    .map(toSecret)
    .sort(
      (a, b) =>
        byCodeUnits(a.name, b.name) ||
        byCodeUnits(a.workflow ?? '', b.workflow ?? '') ||
        byCodeUnits(a.id, b.id),
    );
}

/** One secret: global when `workflow` is undefined, else the one scoped to that workflow. */
async function findSecret(
  db: Db,
  caller: Caller,
  name: string,
  workflow: string | undefined,
): Promise<SecretRecord | null> {
  let query = secretsOf(db, caller).where('secrets.name', '=', name);
  query =
    workflow === undefined
      ? query.where('secrets.workflow_id', 'is', null)
      : query.where('secrets.workflow_id', 'in', workflowIds(db, caller, workflow));
  const row = await query.executeTakeFirst();
  return row === undefined ? null : toSecret(row);
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Creates the caller's secret `name` (global, or scoped to a workflow by name: then it is tied
 * to the workflow's first version row and holds for all its versions) or replaces its value,
 * keeping its id. `seal` encrypts for the row's id inside the transaction.
 */
export async function setSecret(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  target: { readonly name: string; readonly workflow?: string },
  seal: Seal,
): Promise<{ secret: SecretRecord; created: boolean }> {
  // Two first sets racing on PostgreSQL: one insert loses on the unique index, then updates.
  for (let attempt = 1; ; attempt++) {
    try {
      return await dialect.writeTransaction(db, async (trx) => {
        const existing = await findSecret(trx, caller, target.name, target.workflow);
        const now = nowTimestamp();
        if (existing !== null) {
          const sealed = seal(existing.id);
          await trx
            .updateTable('secrets')
            .set({ encrypted_value: sealed.encryptedValue, key_version: sealed.keyVersion, updated_at: now })
            .where('id', '=', existing.id)
            .where('owner_id', '=', caller.userId)
            .execute();
          const secret = { ...existing, keyVersion: sealed.keyVersion, updatedAt: now };
          await auditSecret(trx, caller, 'secret.set', secret, { created: false });
          return { secret, created: false };
        }
        let workflowId: string | null = null;
        if (target.workflow !== undefined) {
          const first = await workflowIds(trx, caller, target.workflow)
            .orderBy('workflows.created_at')
            .orderBy('workflows.id')
            .executeTakeFirst();
          if (first === undefined) throw new InputError('workflow', `no workflow named "${target.workflow}"`);
          workflowId = first.id;
        }
        const id = newId();
        const sealed = seal(id);
        await trx
          .insertInto('secrets')
          .values({
            id,
            owner_id: caller.userId,
            workflow_id: workflowId,
            name: target.name,
            encrypted_value: sealed.encryptedValue,
            key_version: sealed.keyVersion,
            scope: workflowId === null ? 'global' : 'workflow',
            created_at: now,
            updated_at: now,
          })
          .execute();
        const secret = (await findSecret(trx, caller, target.name, target.workflow))!;
        await auditSecret(trx, caller, 'secret.set', secret, { created: true });
        return { secret, created: true };
      });
    } catch (error) {
      if (attempt >= 3 || !isUniqueViolation(error)) throw error;
    }
  }
}

/** Deletes the caller's secret; null when there is none. */
export async function removeSecret(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  name: string,
  workflow?: string,
): Promise<SecretRecord | null> {
  return dialect.writeTransaction(db, async (trx) => {
    const existing = await findSecret(trx, caller, name, workflow);
    if (existing === null) return null;
    await trx
      .deleteFrom('secrets')
      .where('id', '=', existing.id)
      .where('owner_id', '=', caller.userId)
      .execute();
    await auditSecret(trx, caller, 'secret.remove', existing);
    return existing;
  });
}

/** The audit row of a secret's change: its name and scope, never its value. */
function auditSecret(
  trx: Db,
  caller: Caller,
  action: string,
  secret: SecretRecord,
  details: Record<string, unknown> = {},
): Promise<void> {
  return recordAudit(trx, {
    caller,
    action,
    resourceType: 'secret',
    resourceId: secret.id,
    metadata: { name: secret.name, scope: secret.scope, workflow: secret.workflow, ...details },
  });
}

/**
 * The caller's secrets among `names` with their stored bytes: the global ones, and when
 * `workflow` is given the ones scoped to it as well (the caller prefers those).
 */
export async function sealedSecrets(
  db: Db,
  caller: Caller,
  names: readonly string[],
  workflow?: string,
): Promise<SealedSecret[]> {
  if (names.length === 0) return [];
  const rows = await secretsOf(db, caller)
    .select('secrets.encrypted_value')
    .where('secrets.name', 'in', [...new Set(names)])
    .where((eb) =>
      workflow === undefined
        ? eb('secrets.workflow_id', 'is', null)
        : eb.or([
            eb('secrets.workflow_id', 'is', null),
            eb('secrets.workflow_id', 'in', workflowIds(db, caller, workflow)),
          ]),
    )
    .execute();
  return rows.map((row) => ({ ...toSecret(row), encryptedValue: Buffer.from(row.encrypted_value) }));
}

/** What a re-encryption did. */
export interface ReencryptReport {
  /** Values now encrypted under the target version that were not before. */
  readonly reencrypted: number;
  /** Values already under it. */
  readonly alreadyCurrent: number;
  /** Legacy values (key version 0) nobody can decrypt: left as they are. */
  readonly legacy: number;
  /** Values changed by someone else meanwhile: left as that change wrote them. */
  readonly changedMeanwhile: number;
}

/**
 * Re-encrypts every secret of every owner not under `version` (legacy ones aside) in one
 * transaction: `reseal` decrypts and encrypts again for the same row, or throws, and then nothing
 * changes. Each update is compare-and-set on the old bytes, so a value set meanwhile is never
 * overwritten with the old one.
 */
export async function reencryptSecrets(
  db: Db,
  dialect: DialectAdapter,
  version: number,
  reseal: (secret: SealedSecret) => Buffer,
): Promise<ReencryptReport> {
  return dialect.writeTransaction(db, async (trx) => {
    const counts = await trx
      .selectFrom('secrets')
      .select(['key_version', sql<number | string>`count(*)`.as('n')])
      .groupBy('key_version')
      .execute();
    const count = (pick: (v: number) => boolean) =>
      counts.filter((c) => pick(Number(c.key_version))).reduce((sum, c) => sum + Number(c.n), 0);
    const rows = await trx
      .selectFrom('secrets')
      .leftJoin('workflows', 'workflows.id', 'secrets.workflow_id')
      .select([
        'secrets.id',
        'secrets.owner_id',
        'secrets.name',
        'secrets.scope',
        'workflows.name as workflow_name',
        'secrets.key_version',
        'secrets.created_at',
        'secrets.updated_at',
        'secrets.encrypted_value',
      ])
      .where('secrets.key_version', '<>', version)
      .where('secrets.key_version', '>', 0)
      .orderBy('secrets.id')
      .execute();
    let reencrypted = 0;
    let changedMeanwhile = 0;
    for (const row of rows) {
      const old = Buffer.from(row.encrypted_value);
      const fresh = reseal({ ...toSecret(row), encryptedValue: old });
      const result = await trx
        .updateTable('secrets')
        .set({ encrypted_value: fresh, key_version: version })
        .where('id', '=', row.id)
        .where('key_version', '=', row.key_version)
        .where('encrypted_value', '=', old)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) reencrypted += 1;
      else changedMeanwhile += 1;
    }
    const report = {
      reencrypted,
      alreadyCurrent: count((v) => v === version),
      legacy: count((v) => v === 0),
      changedMeanwhile,
    };
    // Every owner's secrets changed: one row for the log, no actor (the CLI works on the database).
    if (reencrypted > 0)
      await recordAudit(trx, {
        action: 'secret.rotate_key',
        resourceType: 'master_key',
        resourceId: `v${version}`,
        metadata: { ...report },
      });
    return report;
  });
}

/** How many secrets (of every owner) each master-key version encrypts. */
export async function countSecretsByKeyVersion(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .selectFrom('secrets')
    .select(['key_version', sql<number | string>`count(*)`.as('n')])
    .groupBy('key_version')
    .orderBy('key_version')
    .execute();
  return new Map(rows.map((r) => [Number(r.key_version), Number(r.n)]));
}

/** Text columns holding values sealed with `sealText` (`v<version>:<base64>`), bound to their row. */
const SEALED_TEXT_COLUMNS = [
  ['triggers', 'webhook_secret'],
  ['triggers', 'webhook_secret_previous'],
  ['webhooks', 'secret'],
] as const;

interface SealedTextRow {
  id: string;
  owner_id: string;
  value: string;
}

async function sealedTexts(db: Db, table: string, column: string): Promise<SealedTextRow[]> {
  const result = await sql<SealedTextRow>`SELECT id, owner_id, ${sql.ref(column)} AS value FROM ${sql.table(
    table,
  )} WHERE ${sql.ref(column)} IS NOT NULL`.execute(db);
  return result.rows;
}

/**
 * Master-key rotation, for the sealed text columns (webhook signing secrets): `reseal` returns the
 * value sealed under the new key, or null to leave it. One transaction; returns how many changed.
 */
export async function resealTexts(
  db: Db,
  dialect: DialectAdapter,
  reseal: (sealed: string, binding: { id: string; ownerId: string }) => string | null,
): Promise<number> {
  return dialect.writeTransaction(db, async (trx) => {
    let changed = 0;
    for (const [table, column] of SEALED_TEXT_COLUMNS) {
      for (const row of await sealedTexts(trx, table, column)) {
        const fresh = reseal(row.value, { id: row.id, ownerId: row.owner_id });
        if (fresh === null) continue;
        await sql`UPDATE ${sql.table(table)} SET ${sql.ref(column)} = ${fresh} WHERE id = ${row.id}`.execute(
          trx,
        );
        changed++;
      }
    }
    return changed;
  });
}

/** How many sealed text values each master-key version seals (so a used version is kept). */
export async function countSealedTextsByKeyVersion(db: Db): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const [table, column] of SEALED_TEXT_COLUMNS) {
    for (const row of await sealedTexts(db, table, column)) {
      const version = /^v(\d+):/.exec(row.value)?.[1];
      if (version !== undefined) counts.set(Number(version), (counts.get(Number(version)) ?? 0) + 1);
    }
  }
  return counts;
}
