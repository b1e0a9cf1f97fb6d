import fs from 'node:fs';
import Database from 'better-sqlite3';
import { SwarmError } from '../errors/index.js';

/** A legacy row as better-sqlite3 returns it: column name → SQLite value. */
export type LegacyRow = Readonly<Record<string, unknown>>;

export type RegistryVariant = '000' | '003';

/** Every registry (seed 000 and 003) has these; without them the file is something else. */
export const REQUIRED_TABLES = [
  'agents',
  'workflows',
  'workflow_runs',
  'step_executions',
  'secrets',
  'triggers',
] as const;
/** Seed 003's "8-table" registry adds these. */
export const OPTIONAL_TABLES = ['vm_assignments', 'execution_artifacts'] as const;
export type LegacyTable = (typeof REQUIRED_TABLES)[number] | (typeof OPTIONAL_TABLES)[number];

/**
 * The columns an import cannot do without. Everything else is optional, so a 000 file written by
 * an older engine (say, without `workflow_runs.created_at`) still imports.
 */
const REQUIRED_COLUMNS: Record<LegacyTable, readonly string[]> = {
  agents: ['id', 'name', 'version'],
  workflows: ['id', 'name', 'version'],
  workflow_runs: ['id', 'workflow_id'],
  step_executions: ['id', 'run_id'],
  secrets: ['id', 'name'],
  triggers: ['id', 'workflow_id', 'type'],
  vm_assignments: ['vm_id', 'ticket_id'],
  execution_artifacts: ['id', 'ticket_id'],
};

/** Columns only seed 003 has: finding one of them means the file is the 8-table variant. */
const VARIANT_003_MARKERS: Partial<Record<LegacyTable, readonly string[]>> = {
  agents: ['inputs_schema', 'outputs_schema', 'runtime', 'triggers'],
  workflows: ['variables', 'on_success'],
  step_executions: ['agent_name', 'agent_version'],
};

export interface LegacyRegistry {
  readonly file: string;
  readonly variant: RegistryVariant;
  /** The rows of every registry table the file has, in file order. */
  readonly rows: ReadonlyMap<LegacyTable, readonly LegacyRow[]>;
}

/**
 * Validates and reads a whole legacy registry into memory, read-only, and closes it. Everything
 * that can be wrong with the file is found here, before the target database is opened, so a bad
 * file never creates or touches a target. (Registries are small: agents, workflows and their
 * history, so holding them in memory is fine.)
 */
export function readRegistry(file: string): LegacyRegistry {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new SwarmError('REGISTRY_NOT_FOUND', `registry file not found: ${file}`, { context: { file } });
  }
  if (!stat.isFile()) throw notSqlite(file, 'not a regular file');

  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw notSqlite(file, error);
  }
  try {
    // better-sqlite3 opens any file lazily; the first read of the header and pages is what
    // tells a SQLite database from random bytes, a text file or a truncated copy.
    let tables: Set<string>;
    try {
      const problems = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
      if (problems.length !== 1 || problems[0] !== 'ok') throw new Error(problems.slice(0, 3).join('; '));
      const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      tables = new Set(names as string[]);
    } catch (error) {
      throw notSqlite(file, error);
    }

    const missing = REQUIRED_TABLES.filter((t) => !tables.has(t));
    if (missing.length > 0) {
      throw new SwarmError(
        'REGISTRY_INVALID',
        `not a Swarm Runtime registry: ${file} lacks table${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
        { context: { file, missingTables: missing } },
      );
    }

    const present = [...REQUIRED_TABLES, ...OPTIONAL_TABLES.filter((t) => tables.has(t))];
    const columns = new Map(present.map((t) => [t, tableColumns(db, t)]));
    const missingColumns = present.flatMap((t) =>
      REQUIRED_COLUMNS[t].filter((c) => !columns.get(t)!.has(c)).map((c) => `${t}.${c}`),
    );
    if (missingColumns.length > 0) {
      throw new SwarmError(
        'REGISTRY_INVALID',
        `not a Swarm Runtime registry: ${file} lacks column${missingColumns.length > 1 ? 's' : ''} ${missingColumns.join(', ')}`,
        { context: { file, missingColumns } },
      );
    }

    const rows = new Map<LegacyTable, LegacyRow[]>();
    for (const table of present) {
      rows.set(table, db.prepare(`SELECT * FROM "${table}"`).all() as LegacyRow[]);
    }
    return { file, variant: detectVariant(tables, columns), rows };
  } finally {
    db.close();
  }
}

function tableColumns(db: Database.Database, table: string): Set<string> {
  const rows = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table);
  return new Set(rows as string[]);
}

/** 003 if any 003-only table or column is present; a 000 file simply has none of them. */
function detectVariant(tables: Set<string>, columns: Map<LegacyTable, Set<string>>): RegistryVariant {
  if (OPTIONAL_TABLES.some((t) => tables.has(t))) return '003';
  for (const [table, markers] of Object.entries(VARIANT_003_MARKERS)) {
    const have = columns.get(table as LegacyTable);
    if (markers.some((c) => have?.has(c))) return '003';
  }
  return '000';
}

/** One line, whatever SQLite said (its messages have no newlines, but corrupt-page reports may). */
function notSqlite(file: string, reason: unknown): SwarmError {
  const detail = (reason instanceof Error ? reason.message : String(reason)).replace(/\s+/g, ' ').trim();
  return new SwarmError('REGISTRY_INVALID', `not a SQLite database: ${file} (${detail})`, {
    context: { file },
    cause: reason,
  });
}
