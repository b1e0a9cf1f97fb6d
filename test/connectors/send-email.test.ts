import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { header, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { until } from '../helpers/until.js';
import { FIXTURES } from '../runtimes/process-helpers.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

describe.each(DIALECTS)('builtin/send_email through an smtp connector on %s', (dialect) => {
  let fx: EngineFixture;
  let config: Config;
  let smtp: TestSmtp;
  let worker: Worker | undefined;

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    smtp = await startSmtp({ users: { mailer: PASSWORD } });
    config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
      // The test's SMTP server is on loopback.
      SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    await new SecretsService(fx.store, openKeyring(config)).set(fx.caller, {
      name: 'SMTP_PASSWORD',
      value: PASSWORD,
    });
    await fx.store.as(fx.caller).connectors.create({
      name: 'mail',
      type: 'smtp',
      config: {
        host: '127.0.0.1',
        port: smtp.port,
        tls: 'none',
        username: 'mailer',
        password_secret: 'SMTP_PASSWORD',
        from: 'Swarm <swarm@example.com>',
      },
      secretsRef: 'SMTP_PASSWORD',
    });
    await fx.registry.as(fx.caller).agents.register(
      {
        name: 'probe',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:probe'],
        runtime: { type: 'node', entry: 'probe.js' },
      },
      { path: path.join(FIXTURES, 'probe') },
    );
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await smtp.close();
    await fx.close();
  });

  async function run(steps: Array<Record<string, unknown>>, name = 'mail-test') {
    const registry = fx.registry.as(fx.caller);
    await registry.workflows.apply({ name, version: '1.0.0', steps });
    if (worker === undefined) {
      worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
      worker.start();
    }
    const id = await fx.engine.startRun(fx.caller, await registry.workflows.get(name), registry.agents, {
      input: { who: 'ada@example.com' },
    });
    return until(`run ${id} to end`, async () => {
      const view = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    });
  }

  it('delivers text, HTML and attachments (one from an artifact) with From, To, Subject, Message-ID and Idempotency-Key, logged in with the secret', async () => {
    const ended = await run([
      // Reports the artifact report.txt ("hello", text/plain).
      { id: 'report', agent: 'probe@1.0.0', input: { mode: 'report' } },
      {
        id: 'mail',
        agent: 'builtin/send_email',
        needs: ['report'],
        input: {
          connector: 'mail',
          to: '{{ trigger.who }}',
          cc: ['cc@example.com'],
          subject: 'Report for {{ trigger.who }}',
          text: 'The plain text body',
          html: '<p>The <b>HTML</b> body</p>',
          attachments: [{ artifact: 'report.txt' }, { filename: 'notes.txt', content: 'inline notes' }],
        },
      },
    ]);
    expect(ended.status, JSON.stringify(ended.error)).toBe('completed');
    const output = ended.steps.mail!.output as { message_id: string; accepted: string[]; rejected: string[] };
    expect(output.accepted.sort()).toEqual(['ada@example.com', 'cc@example.com']);
    expect(output.rejected).toEqual([]);

    expect(smtp.delivered).toHaveLength(1);
    const message = smtp.delivered[0]!;
    expect(message.user).toBe('mailer');
    expect(message.from).toBe('swarm@example.com');
    expect([...message.to].sort()).toEqual(['ada@example.com', 'cc@example.com']);
    const raw = message.raw;
    expect(header(raw, 'From')).toBe('Swarm <swarm@example.com>');
    expect(header(raw, 'To')).toBe('ada@example.com');
    expect(header(raw, 'Cc')).toBe('cc@example.com');
    expect(header(raw, 'Subject')).toBe('Report for ada@example.com');
    const key = header(raw, 'Idempotency-Key')!;
    expect(key).toMatch(/^swarm-[0-9a-f]{40}$/);
    expect(header(raw, 'Message-ID')).toBe(`<${key}@swarm>`);
    expect(output.message_id).toBe(`<${key}@swarm>`);
    expect(raw).toContain('The plain text body');
    expect(raw).toContain('<p>The <b>HTML</b> body</p>');
    expect(raw).toMatch(/Content-Type: text\/plain[^\n]*\r?\n(.|\r?\n)*?filename=report\.txt/);
    expect(raw).toContain(Buffer.from('hello').toString('base64'));
    expect(raw).toContain('filename=notes.txt');
    expect(raw).toContain(Buffer.from('inline notes').toString('base64'));
    // The password reached the server and nothing else: not the run's records.
    const logs = await fx.store.handle.db.selectFrom('execution_logs').select('message').execute();
    expect(JSON.stringify(logs).includes(PASSWORD)).toBe(false);
  });

  it('fails the step, not retried, naming the field, for an unknown connector, an http connector, or a missing artifact', async () => {
    await fx.store.as(fx.caller).connectors.create({
      name: 'api',
      type: 'http',
      config: { base_url: 'https://example.com' },
    });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ connector: 'nope' }, /no connector named "nope"/],
      [{ connector: 'api' }, /input\.connector: connector "api" is a http connector, not smtp/],
      [{ connector: 'mail', attachments: [{ artifact: 'absent.txt' }] }, /input\.attachments\[0\]\.artifact/],
    ];
    for (const [i, [input, error]] of cases.entries()) {
      const ended = await run(
        [
          {
            id: 'm',
            agent: 'builtin/send_email',
            input: { to: 'x@example.com', subject: 's', text: 't', ...input },
          },
        ],
        `bad-${i}`,
      );
      expect(ended.status).toBe('failed');
      expect(ended.steps.m!.error).toMatch(error);
      const tasks = await fx.store.handle.db
        .selectFrom('tasks')
        .select('retry_count')
        .where('run_id', '=', ended.id)
        .execute();
      expect(tasks.map((t) => t.retry_count)).toEqual([0]);
    }
    expect(smtp.received).toHaveLength(0);
  });
});
