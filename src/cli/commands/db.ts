import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { InputError } from '../../errors/index.js';
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

  db.command('seed')
    .description(
      "Fill an empty database with seed 004's demo data (admin@example.com / password123, a sample workflow and connector). Never on a database in use",
    )
    .option('--demo', 'the demo data (required: there is no other seed)')
    .option(
      '--database-url <url>',
      'database to seed (default: DATABASE_URL, else the SQLite file in SWARM_HOME); migrated first',
    )
    .option('--json', 'machine-readable output')
    .action(async (options: DbOptions & { demo?: boolean }) => {
      if (!options.demo)
        throw new InputError(
          '--demo',
          'is required: `swarm db seed --demo` is the only seed, and it is explicit',
        );
      const [{ Store }, { seedDemo, DEMO_EMAIL, DEMO_PASSWORD }] = await Promise.all([
        import('../../storage/index.js'),
        import('../../auth/demo-seed.js'),
      ]);
      const store = await Store.open(databaseUrl(io, options), { cwd: io.cwd });
      try {
        const seeded = await seedDemo(store);
        if (options.json) io.out(JSON.stringify({ database: store.handle.description, ...seeded }));
        else
          io.out(
            `seeded ${store.handle.description}: admin ${seeded.user.email}, workflow ${seeded.workflow}, connector ${seeded.connector}`,
          );
        io.err(
          [
            '',
            '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
            `!! WARNING: DEMO DATA. The admin ${DEMO_EMAIL} has the password "${DEMO_PASSWORD}",`,
            '!! which everyone knows. Use this database on your own machine only, never where',
            `!! others can reach it; run swarm users reset-password ${DEMO_EMAIL} (or disable)`,
            '!! before it goes anywhere else.',
            '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
          ].join('\n'),
        );
      } finally {
        await store.close();
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
