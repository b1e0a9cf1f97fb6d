import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { formatTable, type CliIo } from '../io.js';

export function registerImportRegistry(program: Command, io: CliIo): void {
  program
    .command('import-registry')
    .description('Import a legacy Swarm Runtime registry (SQLite, seed 000 or 003 schema)')
    .argument('<registry.db>', 'the legacy registry file')
    .option(
      '--database-url <url>',
      'target database (default: DATABASE_URL, else the SQLite file in SWARM_HOME)',
    )
    .option('--owner <email>', 'user who will own the imported rows (default: the first admin)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, options: { databaseUrl?: string; owner?: string; json?: boolean }) => {
      const { importRegistry } = await import('../../legacy/index.js');
      const report = await importRegistry({
        file,
        databaseUrl: options.databaseUrl ?? loadConfig(io.env, io.cwd).databaseUrl,
        cwd: io.cwd,
        ...(options.owner === undefined ? {} : { ownerEmail: options.owner }),
      });
      if (options.json) {
        io.out(JSON.stringify(report));
        return;
      }
      io.out(`imported ${report.file} (variant ${report.variant}) for ${report.owner.email}`);
      io.out(
        formatTable(
          ['LEGACY TABLE', 'INTO', 'FOUND', 'IMPORTED', 'SKIPPED'],
          report.tables.map((t) => [t.legacyTable, t.targetTable, t.found, t.imported, t.skipped]),
        ),
      );
      for (const warning of report.warnings) io.err(`warning: ${warning}`);
    });
}
