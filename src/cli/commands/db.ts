import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { formatTable, type CliIo } from '../io.js';

interface DbOptions {
  databaseUrl?: string;
  json?: boolean;
}

function databaseUrl(io: CliIo, options: DbOptions): string {
  return options.databaseUrl ?? loadConfig(io.env, io.cwd).databaseUrl;
}

export function registerDbCommands(program: Command, io: CliIo): void {
  const db = program
    .command('db')
    .description('Manage the database: migrate, status, copy between SQLite and PostgreSQL');

  db.command('migrate')
    .description('Apply pending schema migrations')
    .option(
      '--database-url <url>',
      'database to migrate (default: DATABASE_URL, else the SQLite file in SWARM_HOME)',
    )
    .option('--json', 'machine-readable output')
    .action(async (options: DbOptions) => {
      // Storage loads with the commands that use it, so the others start fast.
      const { migrate, openDatabase, schemaStatus } = await import('../../storage/index.js');
      const handle = await openDatabase(databaseUrl(io, options), { cwd: io.cwd });
      try {
        const applied = await migrate(handle);
        const status = await schemaStatus(handle);
        if (options.json) {
          io.out(JSON.stringify({ database: handle.description, applied, version: status.currentVersion }));
        } else if (applied.length === 0) {
          io.out(`${handle.description}: already at schema version ${status.currentVersion}`);
        } else {
          for (const m of applied) io.out(`applied ${String(m.version).padStart(4, '0')} ${m.name}`);
          io.out(`${handle.description}: now at schema version ${status.currentVersion}`);
        }
      } finally {
        await handle.close();
      }
    });

  db.command('status')
    .description('Show the schema version and pending migrations')
    .option(
      '--database-url <url>',
      'database to inspect (default: DATABASE_URL, else the SQLite file in SWARM_HOME)',
    )
    .option('--json', 'machine-readable output')
    .action(async (options: DbOptions) => {
      const { openDatabase, schemaStatus } = await import('../../storage/index.js');
      const handle = await openDatabase(databaseUrl(io, options), { cwd: io.cwd });
      try {
        const status = await schemaStatus(handle);
        if (options.json) {
          io.out(JSON.stringify(status));
          return;
        }
        io.out(`database: ${status.database} (${status.dialect})`);
        io.out(`schema:   version ${status.currentVersion} of ${status.latestVersion}`);
        const rows = [
          ...status.applied.map((m) => [m.version, m.name, `applied ${m.appliedAt ?? ''}`]),
          ...status.pending.map((m) => [m.version, m.name, 'pending']),
        ];
        if (rows.length > 0) io.out(formatTable(['VERSION', 'NAME', 'STATE'], rows));
      } finally {
        await handle.close();
      }
    });

  db.command('copy')
    .description('Copy every table between databases (SQLite ⇄ PostgreSQL) and verify counts and checksums')
    .requiredOption('--from <url>', 'source database URL (must be migrated)')
    .requiredOption('--to <url>', 'target database URL (migrated here; must be empty)')
    .option('--overwrite', 'delete the rows already in the target first')
    .option('--json', 'machine-readable output')
    .action(async (options: { from: string; to: string; overwrite?: boolean; json?: boolean }) => {
      const { copyDatabase } = await import('../../datamove/index.js');
      const report = await copyDatabase({
        from: options.from,
        to: options.to,
        overwrite: options.overwrite ?? false,
        cwd: io.cwd,
      });
      if (options.json) {
        io.out(JSON.stringify(report));
        return;
      }
      io.out(
        `copied ${report.totalRows} rows from ${report.from} to ${report.to} in ${report.durationMs} ms`,
      );
      io.out(
        formatTable(
          ['TABLE', 'SOURCE ROWS', 'TARGET ROWS', 'CHECKSUM', 'MATCH'],
          report.tables.map((t) => [
            t.table,
            t.sourceRows,
            t.targetRows,
            t.sourceChecksum.slice(0, 16),
            t.match ? 'yes' : 'NO',
          ]),
        ),
      );
    });
}
