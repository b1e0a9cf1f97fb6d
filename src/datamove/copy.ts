import type { Kysely } from 'kysely';
import { isSwarmError, SwarmError } from '../errors/index.js';
import {
  assertMigrated,
  migrate,
  openDatabase,
  parseDatabaseUrl,
  recordAudit,
  requireResolvedReferences,
  schemaStatus,
  type DatabaseHandle,
  type SwarmDatabase,
} from '../storage/index.js';
import { assertSameSchema, readCatalogue } from './catalogue.js';
import { checkBatchSize, checksumTables, COPY_AUDIT_ACTION } from './checksum.js';
import { refuseSameTargetByIdentity, refuseSameTargetByUrl } from './identity.js';
import { readBatches, readSnapshot, type AnyDb } from './snapshot.js';
import type { CopyOptions, CopyReport, TableChecksum, TableCopyReport, TableSchema } from './types.js';
import { clearTables, countNonEmpty, DANGLING_FIX, insertRows } from './write.js';

/** The copy only reads its source: refuse one that is behind (or ahead of) this code's schema. */
async function requireLatestSchema(source: DatabaseHandle): Promise<void> {
  try {
    await assertMigrated(source);
  } catch (error) {
    if (!isSwarmError(error) || error.code !== 'SCHEMA_OUTDATED') throw error;
    const status = await schemaStatus(source);
    throw new SwarmError(
      'SCHEMA_OUTDATED',
      `copy source ${source.description} is at schema version ${status.currentVersion}, not ${status.latestVersion}; ` +
        `run \`swarm db migrate --database-url ${source.description}\` against the source first (the copy never writes to its source)`,
      {
        cause: error,
        context: { currentVersion: status.currentVersion, latestVersion: status.latestVersion },
      },
    );
  }
}

/**
 * Inside one write transaction on the target: defer foreign keys (so no insertion order is
 * needed, though tables still go parents first), refuse or empty a non-empty target, then stream
 * every table from the source snapshot in batches. Any failure rolls the whole copy back.
 */
async function copyTables(
  src: AnyDb,
  target: DatabaseHandle,
  tables: readonly TableSchema[],
  options: Required<Pick<CopyOptions, 'overwrite' | 'batchSize'>> &
    Pick<CopyOptions, 'onProgress'> & { readonly from: string },
): Promise<void> {
  await target.dialect.writeTransaction(target.db as unknown as AnyDb, async (trx) => {
    await target.dialect.deferForeignKeys(trx as unknown as Kysely<unknown>);
    const occupied = await countNonEmpty(trx, tables);
    if (occupied.size > 0) {
      if (!options.overwrite) {
        const list = [...occupied].map(([table, rows]) => `${table} (${rows} row${rows === 1 ? '' : 's'})`);
        throw new SwarmError(
          'COPY_TARGET_NOT_EMPTY',
          `target ${target.description} already has rows in ${list.join(', ')}; nothing was copied. Use --overwrite (overwrite: true) to replace them`,
          { context: { tables: Object.fromEntries(occupied) } },
        );
      }
      await clearTables(trx, tables);
    }
    let rows = 0;
    for (const table of tables) {
      let copied = 0;
      for await (const batch of readBatches(src, table, options.batchSize)) {
        await insertRows(trx, target.dialect, table, batch, options.batchSize);
        copied += batch.length;
        options.onProgress?.(table.name, copied);
      }
      if (copied === 0) options.onProgress?.(table.name, 0);
      rows += copied;
    }
    await requireResolvedReferences(
      target.dialect,
      trx as unknown as Kysely<unknown>,
      `copying ${options.from} to ${target.description}`,
      DANGLING_FIX,
    );
    // The target's log says where its data came from; no actor: the CLI works on the database.
    await recordAudit(trx as unknown as Kysely<SwarmDatabase>, {
      action: COPY_AUDIT_ACTION,
      resourceType: 'database',
      resourceId: target.description,
      metadata: { from: options.from, to: target.description, rows, overwrite: options.overwrite },
    });
  });
}

function compare(
  tables: readonly TableSchema[],
  sourceSums: readonly TableChecksum[],
  targetSums: readonly TableChecksum[],
): TableCopyReport[] {
  return tables.map((table, i) => {
    const s = sourceSums[i]!;
    const t = targetSums[i]!;
    return {
      table: table.name,
      sourceRows: s.rows,
      targetRows: t.rows,
      sourceChecksum: s.checksum,
      targetChecksum: t.checksum,
      match: s.rows === t.rows && s.checksum === t.checksum,
    };
  });
}

/**
 * Copies every row of every data table from one Swarm database to another (SQLite or
 * PostgreSQL, either way), then proves it: row counts and checksums of each table, read back
 * from both sides after the commit, must be equal.
 */
export async function copyDatabase(options: CopyOptions): Promise<CopyReport> {
  const started = performance.now();
  const batchSize = checkBatchSize(options.batchSize);
  const cwd = options.cwd ?? process.cwd();
  // Both URLs are checked before anything is opened, so a typo creates no file and no connection.
  const fromTarget = parseDatabaseUrl(options.from, cwd);
  const toTarget = parseDatabaseUrl(options.to, cwd);
  refuseSameTargetByUrl(fromTarget, toTarget);

  let source: DatabaseHandle | undefined;
  let target: DatabaseHandle | undefined;
  try {
    // Read-only SQLite: the copy cannot write to its source even by mistake (PostgreSQL reads
    // happen in a READ ONLY transaction).
    source = await openDatabase(options.from, {
      cwd,
      readonly: fromTarget.dialect === 'sqlite',
      poolSize: 2,
    });
    // Checked before the target is opened, so a bad source leaves no target file behind.
    await requireLatestSchema(source);
    target = await openDatabase(options.to, { cwd, poolSize: 2 });
    // Before migrate(), the first write: on an alias of the source it would migrate the source.
    await refuseSameTargetByIdentity(source, target);
    await migrate(target);

    const tables = await readCatalogue(source);
    assertSameSchema(tables, await readCatalogue(target), {
      from: source.description,
      to: target.description,
    });

    const copyTarget = target;
    // The source checksums are taken in the snapshot the rows were copied from: a source still
    // in use may change meanwhile, and the target must match what was read, not what came later.
    const sourceSums = await readSnapshot(source, async (src) => {
      await copyTables(src, copyTarget, tables, {
        overwrite: options.overwrite ?? false,
        batchSize,
        onProgress: options.onProgress,
        from: source!.description,
      });
      return checksumTables(src, tables, batchSize);
    });
    const targetSums = await readSnapshot(target, (db) => checksumTables(db, tables, batchSize));

    const report: CopyReport = {
      from: source.description,
      to: target.description,
      tables: compare(tables, sourceSums, targetSums),
      totalRows: sourceSums.reduce((sum, t) => sum + t.rows, 0),
      durationMs: Math.round(performance.now() - started),
    };
    const bad = report.tables.filter((t) => !t.match);
    if (bad.length > 0) {
      const list = bad.map(
        (t) =>
          `${t.table} (source ${t.sourceRows} rows, target ${t.targetRows}` +
          `${t.sourceRows === t.targetRows ? ', checksums differ' : ''})`,
      );
      throw new SwarmError(
        'COPY_VERIFY_FAILED',
        `the copy into ${report.to} committed, but it differs from ${report.from} in ${list.join(', ')}`,
        { context: { report } },
      );
    }
    return report;
  } finally {
    await Promise.allSettled([source?.close(), target?.close()]);
  }
}
