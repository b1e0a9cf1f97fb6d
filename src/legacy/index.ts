import path from 'node:path';
import type { Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import { newId, Store, toDbBool, toDbJson, type User } from '../storage/index.js';
import { ImportContext, type LooseDb, type TableReport } from './context.js';
import { importAgents, importWorkflows } from './definitions.js';
import { importArtifacts, importAssignments, importRuns, importSteps } from './history.js';
import { importSecrets, importTriggers } from './triggers-secrets.js';
import {
  readRegistry,
  type LegacyRegistry,
  type LegacyRow,
  type LegacyTable,
  type RegistryVariant,
} from './source.js';

export type { TableReport } from './context.js';
export type { RegistryVariant } from './source.js';

export interface ImportRegistryOptions {
  /** The legacy registry.db (seed 000 or 003 schema). Relative to `cwd`. */
  readonly file: string;
  /** The Swarm database to import into; migrated first if it is not yet. */
  readonly databaseUrl: string;
  /** Who owns the imported rows. @default the first admin */
  readonly ownerEmail?: string;
  /** @default process.cwd() */
  readonly cwd?: string;
}

export interface ImportReport {
  readonly file: string;
  readonly variant: RegistryVariant;
  readonly owner: { readonly id: string; readonly email: string };
  /** One entry per legacy table in the file; found = imported + skipped. */
  readonly tables: TableReport[];
  /** Everything that was not imported exactly as it was, one line each. */
  readonly warnings: string[];
}

/** Legacy tables in import order: what a row points at is imported before the row. */
const STEPS: ReadonlyArray<
  readonly [LegacyTable, (ctx: ImportContext, rows: readonly LegacyRow[]) => Promise<TableReport>]
> = [
  ['agents', importAgents],
  ['workflows', importWorkflows],
  ['triggers', importTriggers],
  ['secrets', importSecrets],
  ['workflow_runs', importRuns],
  ['step_executions', importSteps],
  ['vm_assignments', importAssignments],
  ['execution_artifacts', importArtifacts],
];

/**
 * Imports a legacy Swarm Runtime registry into Swarm's tables, owned by one user.
 *
 * The file is validated and read in full before the target is opened, so a bad file changes
 * nothing (a SQLite target is not even created). Everything is written in one transaction:
 * a failure leaves the target as it was. Rows the target already has (same id, or the owner's
 * agent/workflow with the same name@version) are skipped, so importing again is a no-op.
 */
export async function importRegistry(options: ImportRegistryOptions): Promise<ImportReport> {
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.file);
  const registry = readRegistry(file);

  const store = await Store.open(options.databaseUrl, { cwd });
  try {
    const owner = await findOwner(store, options.ownerEmail);
    const { dialect, db } = store.handle;
    const warnings: string[] = [];
    const tables = await dialect.writeTransaction(db as unknown as LooseDb, async (trx) => {
      // Rows may point at rows of tables imported later (or at nothing: legacy SQLite never
      // enforced its foreign keys); the importers resolve references, the check runs at commit.
      await dialect.deferForeignKeys(trx as unknown as Kysely<unknown>);
      const ctx = new ImportContext(trx, owner.id, warnings);
      const reports: TableReport[] = [];
      for (const [table, importTable] of STEPS) {
        const rows = registry.rows.get(table);
        if (rows !== undefined) reports.push(await importTable(ctx, rows));
      }
      await recordAudit(trx, owner, registry, reports, warnings);
      return reports;
    });
    return { file, variant: registry.variant, owner: { id: owner.id, email: owner.email }, tables, warnings };
  } finally {
    await store.close();
  }
}

async function findOwner(store: Store, email: string | undefined): Promise<User> {
  if (email !== undefined) {
    const user = await store.system.findUserByEmail(email);
    if (user === null) {
      throw new SwarmError('NOT_FOUND', `owner not found: no user with email ${email}`, {
        context: { email },
      });
    }
    return user;
  }
  const admin = await store.system.findFirstAdmin();
  if (admin === null) {
    throw new SwarmError(
      'NOT_FOUND',
      'no admin user to own the imported rows: start swarm once to create one, or pass --owner <email>',
    );
  }
  return admin;
}

/**
 * One audit row per import that changed something, in the import's transaction, so the log
 * and the data agree. An import that skipped everything changed nothing and records nothing.
 */
async function recordAudit(
  trx: LooseDb,
  owner: User,
  registry: LegacyRegistry,
  reports: readonly TableReport[],
  warnings: readonly string[],
): Promise<void> {
  if (reports.every((t) => t.imported === 0)) return;
  const counts = Object.fromEntries(
    reports.map((t) => [
      t.legacyTable,
      { target: t.targetTable, found: t.found, imported: t.imported, skipped: t.skipped },
    ]),
  );
  await trx
    .insertInto('audit_logs')
    .values({
      id: newId(),
      owner_id: owner.id,
      // No authenticated actor: the CLI runs with direct database access.
      actor_id: null,
      event_type: 'registry',
      action: 'registry.import',
      resource_type: 'registry',
      resource_id: registry.file,
      success: toDbBool(true),
      extra_metadata: toDbJson({
        file: registry.file,
        variant: registry.variant,
        tables: counts,
        warnings: warnings.length,
      }),
    })
    .execute();
}
