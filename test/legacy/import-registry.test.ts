import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importRegistry } from '../../src/legacy/index.js';
import { fromDbBool, openDatabase, Store, type User } from '../../src/storage/index.js';
import { SwarmError } from '../../src/errors/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { buildRegistry, CREATED_003, expectedCounts, SECRET_BLOB, type Variant } from './fixtures.js';

type Row = Record<string, unknown>;
type LooseDb = Kysely<Record<string, Row>>;

/** Runs `fn` against the target without migrating it (reading must not change it). */
async function withTarget<T>(url: string, fn: (db: LooseDb) => Promise<T>): Promise<T> {
  const handle = await openDatabase(url);
  try {
    return await fn(handle.db as unknown as LooseDb);
  } finally {
    await handle.close();
  }
}

/** Every row of every table, by id: "unchanged" means this is deep-equal before and after. */
async function snapshot(url: string): Promise<Record<string, Row[]>> {
  const handle = await openDatabase(url);
  try {
    const db = handle.db as unknown as LooseDb;
    const tables = await handle.dialect.listTables(db as unknown as Kysely<unknown>);
    const result: Record<string, Row[]> = {};
    for (const table of tables.filter((t) => t !== 'swarm_migrations')) {
      result[table] = await db.selectFrom(table).selectAll().orderBy('id').execute();
    }
    return result;
  } finally {
    await handle.close();
  }
}

const byId = async (db: LooseDb, table: string): Promise<Record<string, Row>> =>
  Object.fromEntries((await db.selectFrom(table).selectAll().execute()).map((r) => [String(r.id), r]));
const json = (value: unknown) => (value === null ? null : JSON.parse(String(value)));

/** The rejection of `promise`, which must be a SwarmError. */
async function failure(promise: Promise<unknown>): Promise<SwarmError> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SwarmError);
  return error as SwarmError;
}

describe.each(DIALECTS)('importRegistry into %s', (dialect) => {
  let target: TestDatabase;
  let admin: User;

  beforeEach(async () => {
    target = await createTestDatabase(dialect);
    const store = await Store.open(target.url);
    admin = (await store.system.insertUserIfAbsent({
      name: 'Admin',
      email: 'admin@example.com',
      role: 'admin',
    }))!;
    await store.close();
  });
  afterEach(async () => {
    await target.drop();
  });

  const registry = (variant: Variant) => {
    const file = path.join(target.dir, `registry-${variant}.db`);
    buildRegistry(file, variant);
    return file;
  };

  describe.each(['000', '003'] as const)('a seed %s registry', (variant) => {
    it('imports every row into the mapped tables, owned by the first admin', async () => {
      const file = registry(variant);
      const report = await importRegistry({ file, databaseUrl: target.url });

      expect(report.file).toBe(file);
      expect(report.variant).toBe(variant);
      expect(report.owner).toEqual({ id: admin.id, email: 'admin@example.com' });
      const counts = expectedCounts(variant);
      expect(Object.fromEntries(report.tables.map((t) => [t.legacyTable, t.found]))).toEqual(counts);
      for (const t of report.tables) {
        expect(t.found, t.legacyTable).toBe(t.imported + t.skipped);
        expect(t.skipped, t.legacyTable).toBe(0);
      }
      expect(report.tables.find((t) => t.legacyTable === 'step_executions')?.targetTable).toBe('tasks');
      expect(report.warnings).toContain(
        'agents agt-legacy: capabilities is not valid JSON; kept as a JSON string',
      );
      expect(report.warnings.some((w) => /docker.*imported as binary/.test(w))).toBe(true);
      expect(report.warnings.some((w) => /re-set them.*email_creds/.test(w))).toBe(true);

      await withTarget(target.url, async (db) => {
        for (const table of ['agents', 'workflows', 'workflow_runs', 'tasks', 'secrets', 'triggers']) {
          const owners = await db.selectFrom(table).select('owner_id').execute();
          expect(new Set(owners.map((r) => r.owner_id)), table).toEqual(new Set([admin.id]));
        }

        const agents = await byId(db, 'agents');
        const reader = agents['agt-reader']!;
        expect(reader).toMatchObject({
          name: 'email-reader',
          version: '1.0.0',
          runtime_type: 'node',
          memory_mb: 128,
        });
        expect(reader).toMatchObject({ path: '/opt/swarm-agents/email-reader', author: 'ops@example.com' });
        expect(json(reader.input_schema)).toEqual({
          type: 'object',
          properties: { mailbox: { type: 'string' } },
        });
        expect(json(reader.output_schema)).toEqual({
          type: 'object',
          properties: { messages: { type: 'array' } },
        });
        expect(json(reader.capabilities)).toEqual(['network:http', 'claude:api']);
        expect(json(reader.tags)).toEqual(['email']);
        expect(json(reader.triggers)).toEqual(
          variant === '003' ? [{ type: 'event', event: 'new_email' }] : null,
        );
        expect([reader.created_at, reader.updated_at]).toEqual([
          '2024-03-01T10:00:00.000Z',
          '2024-03-01T10:30:00.000Z',
        ]);
        expect(agents['agt-summarizer']).toMatchObject({
          runtime_type: 'python',
          memory_mb: 512,
          timeout_seconds: 60,
        });
        const legacy = agents['agt-legacy']!;
        expect(legacy.runtime_type).toBe('binary');
        expect(json(legacy.runtime_config)).toEqual({ legacy_runtime: 'docker' });
        expect(json(legacy.capabilities)).toBe('["network:http"');
        expect(json(legacy.tags)).toEqual([]);

        const workflows = await byId(db, 'workflows');
        const reply = workflows['wf-reply']!;
        expect(reply).toMatchObject({
          name: 'email-auto-reply',
          trigger_type: 'webhook',
          created_at: '2024-03-01T11:00:00.000Z',
        });
        expect(fromDbBool(reply.enabled as number)).toBe(true);
        expect(json(reply.steps)).toHaveLength(2);
        expect(json(reply.on_error)).toEqual({ notify: 'ops@example.com', retry: 2 });
        expect(json(reply.variables)).toEqual(variant === '003' ? { signature: 'The Team' } : {});
        expect(json(reply.on_success)).toEqual(variant === '003' ? { notify: '#mail' } : null);
        expect(json(reply.definition)).toMatchObject({
          name: 'email-auto-reply',
          version: '1.0.0',
          trigger: { type: 'webhook', config: { path: '/hooks/email-incoming' } },
          steps: json(reply.steps),
          enabled: true,
        });
        expect(fromDbBool(workflows['wf-digest']!.enabled as number)).toBe(false);

        const runs = await byId(db, 'workflow_runs');
        expect(runs['run-1']).toMatchObject({
          workflow_id: 'wf-reply',
          workflow_name: 'email-auto-reply',
          workflow_version: '1.0.0',
          status: 'completed',
          trigger_type: 'webhook',
          started_at: '2024-03-02T08:00:00.000Z',
          completed_at: '2024-03-02T08:00:05.000Z',
          duration_ms: 5000,
          total_vm_time_ms: 4200,
          total_api_tokens: 1234,
          created_at: variant === '003' ? '2024-03-02T07:59:59.000Z' : '2024-03-02T08:00:00.000Z',
        });
        expect(json(runs['run-1']!.trigger_data)).toEqual({ from: 'alice@example.com', subject: 'Hello' });
        expect(json(runs['run-1']!.step_results)).toMatchObject({ read: { status: 'completed' } });
        expect(runs['run-2']).toMatchObject({
          status: 'failed',
          error: 'SMTP connection refused',
          error_step: 'reply',
        });
        // 01:00 at +02:00 is 23:00 UTC the day before.
        // Unfinished legacy work arrives cancelled, so no Swarm worker picks it up.
        expect(runs['run-3']).toMatchObject({
          status: 'cancelled',
          cancelled_by: 'import-registry',
          cancellation_reason: 'running in the legacy registry when imported',
          started_at: '2024-03-02T23:00:00.000Z',
        });
        if (variant === '003')
          expect(runs['run-3']!.created_at).toBe(`${CREATED_003['run-3']!.replace(' ', 'T')}.000Z`);

        const tasks = await byId(db, 'tasks');
        expect(tasks['step-1']).toMatchObject({
          task_type: 'workflow_step',
          run_id: 'run-1',
          step_id: 'read',
          agent_id: 'agt-reader',
          agent_name: 'email-reader',
          agent_version: '1.0.0',
          status: 'COMPLETED',
          worker_id: 'vm-01',
          created_at: '2024-03-02T08:00:00.000Z',
          started_at: '2024-03-02T08:00:01.000Z',
          completed_at: '2024-03-02T08:00:03.000Z',
          duration_ms: 2000,
        });
        expect(json(tasks['step-1']!.input_data)).toEqual({ mailbox: 'support' });
        expect(json(tasks['step-1']!.result_data)).toEqual({ messages: [{ id: 1 }] });
        expect(tasks['step-2']).toMatchObject({ agent_name: 'summarizer', api_tokens_used: 1234 });
        expect(tasks['step-3']).toMatchObject({
          status: 'FAILED',
          error_message: 'mailbox locked',
          retry_count: 2,
        });
        expect(json(tasks['step-3']!.input_data)).toEqual({});
        expect(tasks['step-4']).toMatchObject({ status: 'SKIPPED', agent_id: null, agent_name: null });
        expect(tasks['step-5']).toMatchObject({
          status: 'CANCELLED',
          cancelled_by: 'import-registry',
          cancellation_reason: 'PENDING in the legacy registry when imported',
          created_at: '2024-03-02T23:00:00.000Z',
        });

        const secrets = await byId(db, 'secrets');
        expect(secrets['sec-creds']).toMatchObject({
          workflow_id: 'wf-reply',
          name: 'email_creds',
          scope: 'workflow',
          key_version: 0,
        });
        expect(Buffer.from(secrets['sec-creds']!.encrypted_value as Buffer).equals(SECRET_BLOB)).toBe(true);
        expect(secrets['sec-global']).toMatchObject({
          workflow_id: null,
          name: 'api_key',
          scope: 'global',
          key_version: 0,
        });

        const triggers = await byId(db, 'triggers');
        expect(triggers['trg-webhook']).toMatchObject({
          type: 'webhook',
          webhook_path: '/hooks/email-incoming',
          webhook_secret: 'whsec_abc123',
        });
        expect(triggers['trg-schedule']).toMatchObject({
          type: 'schedule',
          cron_expression: '0 2 * * *',
          next_run_at: '2024-03-04T02:00:00.000Z',
        });
        expect(triggers['trg-event']).toMatchObject({
          type: 'event',
          event_source: 'email-reader',
          event_type: 'new_email',
        });
        expect(fromDbBool(triggers['trg-event']!.enabled as number)).toBe(false);
        expect(fromDbBool(triggers['trg-webhook']!.enabled as number)).toBe(true);

        const assignments = await db
          .selectFrom('worker_assignments')
          .selectAll()
          .orderBy('worker_id')
          .execute();
        const artifacts = await byId(db, 'execution_artifacts');
        if (variant === '000') {
          expect(assignments).toEqual([]);
          expect(artifacts).toEqual({});
        } else {
          expect(assignments).toMatchObject([
            {
              worker_id: 'vm-01',
              task_id: 'step-1',
              run_id: 'run-1',
              status: 'completed',
              assigned_at: '2024-03-02T08:00:01.000Z',
              heartbeat_at: '2024-03-02T08:00:03.000Z',
            },
            {
              worker_id: 'vm-07',
              task_id: 'TKT-42',
              run_id: null,
              status: 'lost',
              assigned_at: '2024-03-02T10:00:00.250Z',
              heartbeat_at: null,
            },
          ]);
          expect(report.warnings.some((w) => /vm_assignments vm-07: status "zombie".*lost/.test(w))).toBe(
            true,
          );
          expect(artifacts['art-1']).toMatchObject({
            owner_id: admin.id,
            task_id: 'step-1',
            run_id: 'run-1',
            artifact_type: 'log',
            content: 'fetched 1 message',
          });
          expect(artifacts['art-2']).toMatchObject({
            task_id: 'TKT-42',
            run_id: null,
            created_at: '2024-03-02T10:05:00.000Z',
          });
        }

        const audit = await db.selectFrom('audit_logs').selectAll().execute();
        expect(audit).toHaveLength(1);
        expect(audit[0]).toMatchObject({
          owner_id: admin.id,
          event_type: 'registry',
          action: 'registry.import',
          resource_id: file,
        });
        expect(fromDbBool(audit[0]!.success as number)).toBe(true);
        expect(json(audit[0]!.extra_metadata).tables.agents).toEqual({
          target: 'agents',
          found: 3,
          imported: 3,
          skipped: 0,
        });
      });
    });

    it('skips every row when imported again, and changes nothing', async () => {
      const file = registry(variant);
      await importRegistry({ file, databaseUrl: target.url });
      const before = await snapshot(target.url);
      const again = await importRegistry({ file, databaseUrl: target.url });
      for (const t of again.tables)
        expect(t, t.legacyTable).toMatchObject({
          found: expectedCounts(variant)[t.legacyTable],
          imported: 0,
          skipped: t.found,
        });
      expect(await snapshot(target.url)).toEqual(before);
    });
  });

  it("links steps to the owner's existing agent with the same name@version", async () => {
    await withTarget(target.url, (db) =>
      db
        .insertInto('agents')
        .values({ id: 'already-here', owner_id: admin.id, name: 'email-reader', version: '1.0.0' })
        .execute(),
    );
    const report = await importRegistry({ file: registry('003'), databaseUrl: target.url });
    expect(report.tables.find((t) => t.legacyTable === 'agents')).toMatchObject({
      found: 3,
      imported: 2,
      skipped: 1,
    });
    await withTarget(target.url, async (db) => {
      const tasks = await byId(db, 'tasks');
      expect(tasks['step-1']).toMatchObject({ agent_id: 'already-here', agent_name: 'email-reader' });
      expect(tasks['step-2']).toMatchObject({ agent_id: 'agt-summarizer' });
    });
  });

  it('imports for the user named by ownerEmail, and refuses an unknown one', async () => {
    const store = await Store.open(target.url);
    const member = (await store.system.insertUserIfAbsent({
      name: 'Mia',
      email: 'mia@example.com',
      role: 'member',
    }))!;
    await store.close();
    const file = registry('000');
    const before = await snapshot(target.url);
    const error = await failure(
      importRegistry({ file, databaseUrl: target.url, ownerEmail: 'nobody@example.com' }),
    );
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe('owner not found: no user with email nobody@example.com');
    expect(await snapshot(target.url)).toEqual(before);

    const report = await importRegistry({ file, databaseUrl: target.url, ownerEmail: 'Mia@Example.com' });
    expect(report.owner).toEqual({ id: member.id, email: 'mia@example.com' });
    await withTarget(target.url, async (db) => {
      const owners = await db.selectFrom('agents').select('owner_id').distinct().execute();
      expect(owners).toEqual([{ owner_id: member.id }]);
    });
  });

  it('says how to get an owner when the target has no user', async () => {
    const empty = await createTestDatabase(dialect);
    try {
      const error = await failure(importRegistry({ file: registry('003'), databaseUrl: empty.url }));
      expect(error.code).toBe('NOT_FOUND');
      expect(error.message).toMatch(/start swarm once.*--owner/);
    } finally {
      await empty.drop();
    }
  });

  it('rolls everything back when a write fails part-way', async () => {
    // A real database trigger refuses the audit row, the last write of the import.
    await withTarget(target.url, async (db) => {
      if (dialect === 'sqlite') {
        await sql`CREATE TRIGGER refuse_import BEFORE INSERT ON audit_logs WHEN NEW.action = 'registry.import'
          BEGIN SELECT RAISE(ABORT, 'audit refused'); END`.execute(db);
      } else {
        await sql`CREATE FUNCTION refuse_import() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'audit refused'; END $$`.execute(db);
        await sql`CREATE TRIGGER refuse_import BEFORE INSERT ON audit_logs FOR EACH ROW
          WHEN (NEW.action = 'registry.import') EXECUTE FUNCTION refuse_import()`.execute(db);
      }
    });
    const before = await snapshot(target.url);
    await expect(importRegistry({ file: registry('003'), databaseUrl: target.url })).rejects.toThrow(
      /audit refused/,
    );
    expect(await snapshot(target.url)).toEqual(before);
  });

  it('imports a 000 registry that lacks the optional columns', async () => {
    const file = path.join(target.dir, 'minimal.db');
    const db = new Database(file);
    db.exec(`
      CREATE TABLE agents (id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, path TEXT NOT NULL);
      CREATE TABLE workflows (id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, path TEXT NOT NULL, steps JSON NOT NULL);
      CREATE TABLE workflow_runs (id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, status TEXT NOT NULL);
      CREATE TABLE step_executions (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, step_id TEXT NOT NULL, agent_id TEXT, status TEXT NOT NULL);
      CREATE TABLE secrets (id TEXT PRIMARY KEY, workflow_id TEXT, name TEXT NOT NULL, encrypted_value BLOB);
      CREATE TABLE triggers (id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, type TEXT NOT NULL);
      INSERT INTO agents VALUES ('a', 'echo', '1.0.0', '/opt/echo');
      INSERT INTO workflows VALUES ('w', 'echo-flow', '1.0.0', '/opt/flow', '[{"id": "s", "agent": "echo@1.0.0"}]');
      INSERT INTO workflow_runs VALUES ('r', 'w', 'done');
      INSERT INTO step_executions VALUES ('s', 'r', 's', 'a', 'completed');
      INSERT INTO secrets VALUES ('k', 'w', 'token', X'0102');
      INSERT INTO triggers VALUES ('t', 'w', 'manual');`);
    db.close();
    const report = await importRegistry({ file, databaseUrl: target.url });
    expect(report.variant).toBe('000');
    for (const t of report.tables)
      expect(t, t.legacyTable).toMatchObject({ found: 1, imported: 1, skipped: 0 });
    expect(report.warnings.some((w) => /workflow_runs r: status "done".*failed/.test(w))).toBe(true);
    await withTarget(target.url, async (db) => {
      expect((await byId(db, 'agents')).a).toMatchObject({
        runtime_type: 'node',
        memory_mb: 128,
        timeout_seconds: 300,
      });
      const run = (await byId(db, 'workflow_runs')).r!;
      expect(run).toMatchObject({ status: 'failed', workflow_name: 'echo-flow' });
      expect(run.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect((await byId(db, 'tasks')).s).toMatchObject({
        status: 'COMPLETED',
        agent_id: 'a',
        agent_name: 'echo',
      });
    });
  });

  it('accounts for rows whose references point at nothing (legacy SQLite never enforced them)', async () => {
    const file = registry('003');
    const db = new Database(file);
    db.pragma('foreign_keys = OFF'); // better-sqlite3 enforces them by default; the legacy engine did not
    db.exec(`
      INSERT INTO workflow_runs (id, workflow_id, status) VALUES ('run-orphan', 'wf-ghost', 'completed');
      INSERT INTO step_executions (id, run_id, step_id, agent_id, status)
        VALUES ('step-orphan', 'run-orphan', 'x', 'agt-ghost', 'completed');
      INSERT INTO triggers (id, workflow_id, type, webhook_path) VALUES ('trg-orphan', 'wf-ghost', 'webhook', '/hooks/ghost');`);
    db.close();
    const report = await importRegistry({ file, databaseUrl: target.url });
    const counts = Object.fromEntries(
      report.tables.map((t) => [t.legacyTable, [t.found, t.imported, t.skipped]]),
    );
    expect(counts).toMatchObject({
      workflow_runs: [4, 3, 1],
      step_executions: [6, 6, 0],
      triggers: [4, 3, 1],
    });
    expect(report.warnings).toEqual(
      expect.arrayContaining([
        'workflow_runs run-orphan: its workflow wf-ghost is missing; not imported',
        'triggers trg-orphan: its workflow wf-ghost is missing; not imported',
        'step_executions step-orphan: its run run-orphan is missing; imported without a run',
        'step_executions step-orphan: its agent agt-ghost is missing; agent_id left empty',
      ]),
    );
    await withTarget(target.url, async (db) => {
      expect((await byId(db, 'tasks'))['step-orphan']).toMatchObject({
        run_id: null,
        agent_id: null,
        status: 'COMPLETED',
      });
    });
  });

  const badFiles: ReadonlyArray<[string, string, (file: string) => void, RegExp]> = [
    ['a missing file', 'REGISTRY_NOT_FOUND', () => {}, /^registry file not found: (.*)$/],
    [
      'a SQLite file without the registry tables',
      'REGISTRY_INVALID',
      (file) => {
        const db = new Database(file);
        db.exec(
          'CREATE TABLE agents (id TEXT); CREATE TABLE workflows (id TEXT); CREATE TABLE notes (body TEXT)',
        );
        db.close();
      },
      /^not a Swarm Runtime registry: (.*) lacks tables workflow_runs, step_executions, secrets, triggers$/,
    ],
    [
      'random bytes',
      'REGISTRY_INVALID',
      (file) => fs.writeFileSync(file, randomBytes(16384)),
      /^not a SQLite database: (.*) \(.+\)$/,
    ],
    [
      'a text file',
      'REGISTRY_INVALID',
      (file) => fs.writeFileSync(file, 'agents,workflows\nemail-reader,1.0.0\n'),
      /^not a SQLite database: (.*) \(.+\)$/,
    ],
    [
      'a truncated registry',
      'REGISTRY_INVALID',
      (file) => {
        buildRegistry(file, '003');
        const bytes = fs.readFileSync(file);
        fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
      },
      /^not a SQLite database: (.*) \(.+\)$/,
    ],
  ];

  it.each(badFiles)('refuses %s with %s before touching the target', async (_what, code, write, message) => {
    const file = path.join(target.dir, 'bad.db');
    write(file);
    const before = await snapshot(target.url);
    const error = await failure(importRegistry({ file, databaseUrl: target.url }));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(message.exec(error.message)?.[1]).toBe(file);
    expect(error.message).not.toContain('\n');
    expect(await snapshot(target.url)).toEqual(before);

    if (dialect === 'sqlite') {
      // Validation comes first: a target that did not exist is not even created.
      const fresh = path.join(target.dir, 'fresh', 'swarm.db');
      const again = await failure(
        importRegistry({ file: 'bad.db', cwd: target.dir, databaseUrl: `sqlite:${fresh}` }),
      );
      expect(again.code).toBe(code);
      expect(fs.existsSync(path.dirname(fresh))).toBe(false);
    }
  });
});
