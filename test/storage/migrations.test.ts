import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import {
  migrate,
  MIGRATIONS,
  openDatabase,
  schemaStatus,
  assertMigrated,
  type DatabaseHandle,
} from '../../src/storage/index.js';
import { SwarmError } from '../../src/errors/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const EXPECTED_TABLES = [
  'users',
  'api_keys',
  'agents',
  'agent_capabilities',
  'workflows',
  'workflow_runs',
  'tasks',
  'triggers',
  'trigger_firings',
  'webhook_delivery_attempts',
  'secrets',
  'connectors',
  'llm_providers',
  'mcp_servers',
  'agent_configurations',
  'workflow_templates',
  'task_templates',
  'task_chains',
  'scheduled_tasks',
  'messages',
  'execution_logs',
  'metrics',
  'alerts',
  'alert_evaluations',
  'trust_records',
  'consensus_results',
  'audit_logs',
  'auth_failures',
  'sessions',
  'login_attempts',
  'rate_limit_tracker',
  'owner_budgets',
  'provider_usage_windows',
  'webhooks',
  'webhook_deliveries',
  'worker_assignments',
  'execution_artifacts',
  'execution_history',
  'maintenance_leases',
  'waitpoints',
  'approval_links',
  'events',
  'flow_keys',
  'flow_slots',
  'flow_starts',
  'run_concurrency_keys',
  'trigger_debounces',
  'blobs',
  'blob_chunks',
  'blob_refs',
  'swarm_migrations',
];

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect, { empty: true });
    handle = await openDatabase(testDb.url);
  });
  afterEach(async () => {
    await handle.close();
    await testDb.drop();
  });

  it('creates every table the spec names and records each version once', async () => {
    const applied = await migrate(handle);
    expect(applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    const tables = await handle.dialect.listTables(handle.db as unknown as Kysely<unknown>);
    expect([...tables].sort()).toEqual([...EXPECTED_TABLES].sort());
    expect(await migrate(handle)).toEqual([]);
    const status = await schemaStatus(handle);
    expect(status.pending).toEqual([]);
    expect(status.currentVersion).toBe(status.latestVersion);
    await expect(assertMigrated(handle)).resolves.toBeUndefined();
  });

  // One process holds one SQLite connection (better-sqlite3 blocks while it waits for the
  // lock), so concurrent migrators are a PostgreSQL matter: several servers on one database.
  it.runIf(dialect === 'postgres')(
    'applies each migration exactly once when several processes migrate at once',
    async () => {
      const others = await Promise.all([openDatabase(testDb.url), openDatabase(testDb.url)]);
      try {
        const results = await Promise.all([migrate(handle), ...others.map((h) => migrate(h))]);
        const total = results
          .flat()
          .map((m) => m.version)
          // Numerically: a plain sort puts 10 before 2.
          .sort((a, b) => a - b);
        expect(total).toEqual(MIGRATIONS.map((m) => m.version));
      } finally {
        await Promise.all(others.map((h) => h.close()));
      }
    },
  );

  it('refuses a database whose schema is newer than the code', async () => {
    await migrate(handle);
    await handle.db
      .insertInto('swarm_migrations' as never)
      .values({ version: 999, name: 'from-the-future' } as never)
      .execute();
    const error = await migrate(handle).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwarmError);
    expect((error as SwarmError).code).toBe('SCHEMA_TOO_NEW');
    expect((error as SwarmError).message).toMatch(/version 999/);
  });

  it('reports an unmigrated database as outdated', async () => {
    const error = await assertMigrated(handle).catch((e: unknown) => e);
    expect((error as SwarmError).code).toBe('SCHEMA_OUTDATED');
    expect((await schemaStatus(handle)).pending).toHaveLength(MIGRATIONS.length);
  });

  it('rolls back a failing migration together with its version row', async () => {
    const broken = [
      ...MIGRATIONS,
      {
        version: 100,
        name: 'broken',
        async up(db: Kysely<unknown>) {
          await db.schema.createTable('half_done').addColumn('id', 'text').execute();
          throw new Error('boom');
        },
      },
    ];
    const error = await migrate(handle, broken).catch((e: unknown) => e);
    expect((error as SwarmError).code).toBe('MIGRATION_FAILED');
    const tables = await handle.dialect.listTables(handle.db as unknown as Kysely<unknown>);
    expect(tables).not.toContain('half_done');
    expect((await schemaStatus(handle, broken)).pending.map((m) => m.version)).toEqual([100]);
  });
});
