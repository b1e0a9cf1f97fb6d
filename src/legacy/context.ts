import type { Kysely } from 'kysely';
import { RowReader } from './convert.js';
import type { LegacyRow, LegacyTable } from './source.js';

/**
 * The target seen without row types: schema-types.ts does not type every column the import
 * writes (runtime_config, run_at, duration_ms, run_id, content_blob, …), and it is not ours to
 * edit. Values are still the storage layer's forms (values.ts helpers).
 */
export type LooseDb = Kysely<Record<string, Record<string, unknown>>>;

export interface TableReport {
  readonly legacyTable: LegacyTable;
  readonly targetTable: string;
  readonly found: number;
  readonly imported: number;
  /** Not inserted: already present (same id, or same owner/name/version), or unimportable (see warnings). */
  readonly skipped: number;
}

/** A row the target already has, as the rows pointing at it need to know it. */
export interface TargetRef {
  readonly id: string;
  readonly name: string;
  readonly version: string;
}

/** State shared by the table importers within the one import transaction. */
export class ImportContext {
  readonly now = new Date().toISOString();
  /** Legacy agent/workflow id → the owner's row it became (imported, or already there). */
  readonly agents = new Map<string, TargetRef | null>();
  readonly workflows = new Map<string, TargetRef | null>();
  /** Legacy run ids the target holds for this owner (imported now or before). */
  readonly runs = new Map<string, boolean>();
  /** Legacy step execution id → its run, so artifacts and VM assignments of a step link to the run. */
  readonly stepRuns = new Map<string, string | null>();

  constructor(
    readonly db: LooseDb,
    readonly ownerId: string,
    readonly warnings: string[],
  ) {}

  reader(table: string, row: LegacyRow): RowReader {
    return new RowReader(table, row, this.warnings);
  }

  /**
   * Inserts unless a unique constraint says the row is already there. No conflict target, so it
   * covers the id and every unique key (owner/name/version, webhook_path, secret names) on both
   * dialects; the affected-row count tells imported from skipped.
   */
  async insertIfAbsent(table: string, values: Record<string, unknown>): Promise<boolean> {
    const defined = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    const result = await this.db
      .insertInto(table)
      .values(defined)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /**
   * The owner's agent or workflow a legacy id stands for: the row with that id, else (an
   * earlier import under the same name, or a definition registered by hand) the owner's row
   * with the same name@version. A row of another owner is never linked.
   */
  async resolve(
    table: 'agents' | 'workflows',
    legacyId: string,
    nameVersion?: { name: string; version: string },
  ): Promise<TargetRef | null> {
    const cache = table === 'agents' ? this.agents : this.workflows;
    const cached = cache.get(legacyId);
    if (cached !== undefined) return cached;
    const select = () =>
      this.db.selectFrom(table).select(['id', 'name', 'version']).where('owner_id', '=', this.ownerId);
    let row = await select().where('id', '=', legacyId).executeTakeFirst();
    if (row === undefined && nameVersion !== undefined) {
      row = await select()
        .where('name', '=', nameVersion.name)
        .where('version', '=', nameVersion.version)
        .executeTakeFirst();
    }
    const ref =
      row === undefined ? null : { id: String(row.id), name: String(row.name), version: String(row.version) };
    cache.set(legacyId, ref);
    return ref;
  }

  /** Whether the owner has the run with this id. */
  async hasRun(id: string): Promise<boolean> {
    const cached = this.runs.get(id);
    if (cached !== undefined) return cached;
    const row = await this.db
      .selectFrom('workflow_runs')
      .select('id')
      .where('id', '=', id)
      .where('owner_id', '=', this.ownerId)
      .executeTakeFirst();
    this.runs.set(id, row !== undefined);
    return row !== undefined;
  }
}

/** Runs `importRow` over every row and counts: true = inserted, false = skipped. */
export async function importRows(
  legacyTable: LegacyTable,
  targetTable: string,
  rows: readonly LegacyRow[],
  importRow: (row: LegacyRow) => Promise<boolean>,
): Promise<TableReport> {
  let imported = 0;
  for (const row of rows) if (await importRow(row)) imported += 1;
  return { legacyTable, targetTable, found: rows.length, imported, skipped: rows.length - imported };
}
