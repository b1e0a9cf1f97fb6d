import { spawn } from 'node:child_process';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { MAIN } from '../helpers/swarm-process.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)(
  'builtin/send_email and a worker killed between sending and recording on %s',
  (dialect) => {
    let fx: EngineFixture;
    let smtp: TestSmtp;
    let worker: Worker | undefined;

    beforeEach(async () => {
      fx = await engineFixture(dialect);
      smtp = await startSmtp();
    });
    afterEach(async () => {
      await worker?.stop(1000);
      worker = undefined;
      await smtp.close();
      await fx.close();
    });

    it('sends again with the same Message-ID on the retried attempt, so a server that dedupes by it delivers once', async () => {
      await fx.store.as(fx.caller).connectors.create({
        name: 'mail',
        type: 'smtp',
        config: { host: '127.0.0.1', port: smtp.port, tls: 'none', from: 'swarm@example.com' },
      });
      const registry = fx.registry.as(fx.caller);
      await registry.workflows.apply({
        name: 'notify',
        version: '1.0.0',
        steps: [
          {
            id: 'mail',
            agent: 'builtin/send_email',
            input: { connector: 'mail', to: 'ada@example.com', subject: 'Once', text: 'only once' },
          },
        ],
      });
      const id = await fx.engine.startRun(
        fx.caller,
        await registry.workflows.get('notify'),
        registry.agents,
        {
          input: {},
        },
      );
      const env = {
        PATH: process.env.PATH,
        DATABASE_URL: fx.testDb.url,
        SWARM_HOME: fx.testDb.dir,
        SWARM_LOG_LEVEL: 'silent',
        SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
      };
      // The server reads the whole message and holds its reply: the worker has sent, not recorded.
      const hold = smtp.holdNext();
      const child = spawn(process.execPath, [MAIN, 'worker', '--lease-ms', '1000', '--concurrency', '1'], {
        env,
        stdio: 'ignore',
      });
      const first = await hold.read;
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      // A relay that read the whole message delivers it, though its client is gone.
      hold.release();
      await until('the first message to be delivered', async () => smtp.delivered.length === 1 || undefined);

      const config = loadConfig({ ...env, SWARM_HOME: fx.testDb.dir });
      worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), {
        concurrency: 1,
        leaseMs: 1000,
      });
      worker.start();
      const ended = await until(`run ${id} to end`, async () => {
        const view = await fx.engine.getRun(fx.caller, id);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
      });
      expect(ended.status, JSON.stringify(ended.error)).toBe('completed');

      // Sent twice, the same Message-ID both times; delivered once.
      expect(smtp.received).toHaveLength(2);
      expect(smtp.received[1]!.messageId).toBe(first.messageId);
      expect(smtp.delivered).toHaveLength(1);
      expect((ended.steps.mail!.output as { message_id: string }).message_id).toBe(first.messageId);
      const task = await fx.store.handle.db
        .selectFrom('tasks')
        .selectAll()
        .where('run_id', '=', id)
        .executeTakeFirstOrThrow();
      expect(task).toMatchObject({ status: 'COMPLETED', lease_losses: 1 });
    });
  },
);
