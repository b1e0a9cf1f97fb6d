import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { openKeyring, Redactor, SecretsService } from '../../src/secrets/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { ReportWriter } from '../../src/worker/reports.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { FIXTURES } from '../runtimes/process-helpers.js';
import { until } from '../helpers/until.js';

const TOKEN = `tok-${randomBytes(8).toString('hex')}`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const textOf = (value: unknown): string =>
  typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : JSON.stringify(value);

interface ArtifactRow {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  artifact_type: string | null;
  name: string | null;
  content_type: string | null;
  content: string | null;
  content_blob: Buffer | null;
  storage_path: string | null;
  size_bytes: number | string | null;
  sha256: string | null;
  created_at: string;
}
interface MessageRow {
  id: string;
  run_id: string | null;
  task_id: string | null;
  sender_id: string | null;
  recipient_id: string | null;
  message_type: string;
  content: string;
  metadata: string;
  created_at: string;
}

describe.each(DIALECTS)('agent reports recorded by the worker on %s', (dialect) => {
  let fx: EngineFixture;
  let config: Config;
  let worker: Worker | undefined;
  let logged: string[];

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    logged = [];
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await fx.close();
  });

  const sink = () =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(chunk.toString('utf8'));
        done();
      },
    });

  const db = () =>
    fx.store.handle.db.withTables<{ execution_artifacts: ArtifactRow; messages: MessageRow }>();

  async function runRecords(permissions: string[]) {
    const secrets = new SecretsService(fx.store, openKeyring(config));
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN });
    await fx.registry.as(fx.caller).agents.register(
      {
        name: 'reporter',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:probe'],
        runtime: { type: 'node', entry: 'probe.js' },
        permissions,
      },
      { path: path.join(FIXTURES, 'probe') },
    );
    await fx.registry.as(fx.caller).workflows.apply({
      name: 'w-records',
      version: '1.0.0',
      steps: [{ id: 'rec', agent: 'reporter@1.0.0', input: { mode: 'records', largeBytes: 300_000 } }],
    });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'debug' }, sink()), {
      concurrency: 2,
    });
    worker.start();
    const { workflows, agents } = fx.registry.as(fx.caller);
    const id = await fx.engine.startRun(fx.caller, await workflows.get('w-records'), agents, { input: {} });
    worker.notify();
    return until(`run ${id} to end`, async () => {
      const view = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    });
  }

  it('keeps small artifacts in the row, large ones in a file under SWARM_HOME, messages and usage, all redacted, before the completion', async () => {
    const ended = await runRecords(['secret:API_TOKEN', 'event:emit']);
    expect(ended.status).toBe('completed');
    const task = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('run_id', '=', ended.id)
      .executeTakeFirstOrThrow();

    const artifacts = await db()
      .selectFrom('execution_artifacts')
      .selectAll()
      .where('run_id', '=', ended.id)
      .orderBy('id')
      .execute();
    expect(artifacts.map((a) => [a.name, a.artifact_type])).toEqual([
      ['small.txt', 'text'],
      ['bytes.bin', 'binary'],
      ['large.txt', 'file'],
    ]);
    const [small, bytes, large] = artifacts as [ArtifactRow, ArtifactRow, ArtifactRow];
    for (const a of artifacts) expect(a).toMatchObject({ owner_id: fx.caller.userId, task_id: task.id });
    // Small text: in the row, redacted.
    expect(small).toMatchObject({
      content: 'small [REDACTED:API_TOKEN]',
      content_type: 'text/plain',
      storage_path: null,
    });
    expect(Number(small.size_bytes)).toBe(Buffer.byteLength('small [REDACTED:API_TOKEN]'));
    // Binary: the decoded bytes in content_blob.
    expect(Buffer.from(bytes.content_blob!)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(bytes.content).toBeNull();
    expect(bytes.sha256).toBe(sha256(Buffer.from([0, 1, 2, 255])));
    // Large: a file under SWARM_HOME, the row pointing at it (relative), content identical.
    expect(large.content).toBeNull();
    expect(large.content_blob).toBeNull();
    expect(large.storage_path).toBe(path.join('artifacts', fx.caller.userId, ended.id, large.id));
    const file = fs.readFileSync(path.join(fx.testDb.dir, large.storage_path!));
    // Readable by Swarm's user only, and so is every folder made for it.
    expect(fs.statSync(path.join(fx.testDb.dir, large.storage_path!)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(fx.testDb.dir, 'artifacts')).mode & 0o777).toBe(0o700);
    expect(file.equals(Buffer.from('L'.repeat(300_000)))).toBe(true);
    expect(Number(large.size_bytes)).toBe(300_000);
    expect(large.sha256).toBe(sha256(file));

    const messages = await db()
      .selectFrom('messages')
      .selectAll()
      .where('run_id', '=', ended.id)
      .orderBy('id')
      .execute();
    expect(
      messages.map((m) => [m.sender_id, m.recipient_id, m.message_type, JSON.parse(textOf(m.content))]),
    ).toEqual([
      ['reporter@1.0.0', 'reviewer', 'status_update', { text: 'using [REDACTED:API_TOKEN]' }],
      ['reporter@1.0.0', null, 'broadcast', 'to everyone'],
    ]);
    expect(messages[0]!.task_id).toBe(task.id);
    expect(JSON.parse(textOf(messages[0]!.metadata))).toEqual({ attempt: 1, step: 'rec' });
    // The secret is nowhere in what was stored.
    const stored = [
      ...artifacts.map((a) => `${a.name} ${a.content}`),
      ...messages.map((m) => textOf(m.content)),
    ];
    expect(stored.join('\n').includes(TOKEN)).toBe(false);

    // The message with an unknown type was skipped, with a warning line in the run's log.
    const logs = await fx.store.handle.db
      .selectFrom('execution_logs')
      .selectAll()
      .where('run_id', '=', ended.id)
      .execute();
    const warned = logs.filter((l) => l.level === 'warning' && l.message.includes('"gossip"'));
    expect(warned).toHaveLength(1);
    expect(JSON.parse(textOf(warned[0]!.metadata))).toMatchObject({
      protocol_error:
        'message line: message_type must be one of request, response, status_update, error, broadcast',
    });

    // Usage: a metrics row named usage, added to the run's totals.
    const usage = await fx.store.handle.db
      .selectFrom('metrics')
      .selectAll()
      .where('run_id', '=', ended.id)
      .where('name', '=', 'usage')
      .execute();
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ task_id: task.id, model: 'm', provider: 'p' });
    expect(Number(usage[0]!.token_usage)).toBe(120);
    expect(Number(usage[0]!.prompt_tokens)).toBe(100);
    expect(usage[0]!.agent_id).not.toBeNull();
    const run = await fx.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('id', '=', ended.id)
      .executeTakeFirstOrThrow();
    expect(Number(run.total_api_tokens)).toBe(120);
    expect(Number(run.total_cost)).toBeCloseTo(0.5);

    // The event line reached the events table (DatabaseEventSink).
    const events = await fx.store.handle.db
      .withTables<{ events: { type: string; run_id: string | null; payload: unknown } }>()
      .selectFrom('events')
      .selectAll()
      .where('type', '=', 'records.done')
      .execute();
    expect(events).toHaveLength(1);

    // Everything was written before the attempt's completion was recorded.
    const completedAt = Date.parse(String(task.completed_at));
    for (const row of [...artifacts, ...messages])
      expect(Date.parse(String(row.created_at))).toBeLessThanOrEqual(completedAt);
    expect(logged.join('').includes(TOKEN)).toBe(false);
  });

  it('refuses artifacts past the attempt cap, or large ones without a home, with a log line', async () => {
    const lines: Array<[string, string]> = [];
    const log = (level: string, message: string) => lines.push([level, message]);
    const attempt = {
      ownerId: fx.caller.userId,
      runId: null,
      stepId: null,
      taskId: 'task-x',
      attempt: 1,
      agent: { name: 'a', version: '1.0.0' },
    };
    const artifact = (name: string, content: string) => ({
      kind: 'artifact' as const,
      name,
      contentType: null,
      content,
      encoding: null,
      path: null,
      bytes: null,
    });
    const capped = new ReportWriter(fx.store, pino({ level: 'silent' }), {
      home: fx.testDb.dir,
      maxInlineBytes: 10,
      maxAttemptBytes: 50,
    });
    const report = capped.recorder(attempt, Redactor.none, log);
    report(artifact('one', 'x'.repeat(30)));
    report(artifact('two', 'y'.repeat(30)));
    report(artifact('three', 'z'.repeat(5)));
    report({ kind: 'message', to: null, messageType: 'chatter', content: 1 });
    await capped.flush();
    const homeless = new ReportWriter(fx.store, pino({ level: 'silent' }), {
      home: null,
      maxInlineBytes: 10,
    });
    homeless.recorder(attempt, Redactor.none, log)(artifact('big', 'b'.repeat(11)));
    await homeless.flush();

    const rows = await db()
      .selectFrom('execution_artifacts')
      .selectAll()
      .where('task_id', '=', 'task-x')
      .orderBy('id')
      .execute();
    expect(rows.map((r) => [r.name, r.artifact_type])).toEqual([
      ['one', 'file'],
      ['three', 'text'],
    ]);
    expect(fs.readFileSync(path.join(fx.testDb.dir, rows[0]!.storage_path!), 'utf8')).toBe('x'.repeat(30));
    expect(lines).toEqual([
      ['warning', "artifact two refused: this attempt's artifacts would exceed 50 bytes"],
      ['warning', expect.stringMatching(/^message skipped: type must be one of request, response/)],
      ['warning', 'artifact big refused: larger than 10 bytes and no SWARM_HOME'],
    ]);
  });
});
