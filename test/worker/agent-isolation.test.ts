import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { saveCredential } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Registry } from '../../src/registry/index.js';
import { detectIsolation, openSigningKey } from '../../src/runtimes/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import type { Caller } from '../../src/storage/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';

/**
 * A node agent that tries to read whatever paths it is given and says, for each, "read" or the
 * error code; then proves it can still write its working folder and read its own folder.
 */
const SNOOP = `
const fs = require('node:fs');
const path = require('node:path');
let text = '';
process.stdin.on('data', (c) => (text += c));
process.stdin.on('end', () => {
  const { input } = JSON.parse(text);
  const tried = {};
  for (const file of input.paths) {
    try {
      fs.readFileSync(file);
      tried[file] = 'read';
    } catch (error) {
      tried[file] = error.code;
    }
  }
  fs.writeFileSync('note.txt', 'mine');
  const own = {
    wrote: fs.readFileSync(path.join(process.env.HOME, 'note.txt'), 'utf8'),
    folder: fs.readdirSync(__dirname).sort(),
  };
  const out = { tried, own, uid: process.getuid(), env: Object.keys(process.env).sort(), pid: process.pid };
  process.stdout.write(JSON.stringify({ type: 'output', output: out }) + '\\n');
});
`;

const isolation = detectIsolation(process.execPath);
const canIsolate = isolation.kind === 'namespaces';
if (!canIsolate)
  console.warn(
    `agent isolation tests skipped: ${isolation.reason} (they need root and util-linux's unshare)`,
  );

describe.each(DIALECTS)('agent code cannot reach Swarm on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  let home: string;
  let agentFolder: string;

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    home = fx.testDb.dir;
    // The agent lives in SWARM_HOME/agents, a default agents folder, readable by others.
    agentFolder = path.join(home, 'agents', 'snoop');
    fs.mkdirSync(agentFolder, { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(home, 'agents'), 0o755);
    fs.writeFileSync(path.join(agentFolder, 'snoop.js'), SNOOP, { mode: 0o644 });
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await fx.close();
  });

  function startWorker(env: Record<string, string> = {}): Worker {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: home, ...env });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
    return worker;
  }

  async function registerSnoop(caller: Caller): Promise<void> {
    const registry = new Registry(fx.store, { agentsDirs: loadConfig({ SWARM_HOME: home }).agentsDirs });
    const { agents, workflows } = registry.as(caller);
    await agents.register(
      {
        name: 'snoop',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:snoop'],
        runtime: { type: 'node', entry: 'snoop.js' },
      },
      { path: agentFolder },
    );
    await workflows.apply({
      name: 'snoop',
      version: '1.0.0',
      steps: [{ id: 'only', agent: 'snoop@1.0.0', input: { paths: '{{ trigger.paths }}' } }],
    });
  }

  async function run(caller: Caller, input: unknown) {
    const { workflows, agents } = fx.registry.as(caller);
    const id = await fx.engine.startRun(caller, await workflows.get('snoop'), agents, { input });
    worker?.notify();
    return until(`run ${id} to end`, async () => {
      const view = await fx.engine.getRun(caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    });
  }

  it.runIf(canIsolate)(
    "denies an admin's agent SWARM_HOME's keys, credentials, database, other work folders and the worker's /proc",
    async () => {
      await registerSnoop(fx.caller);
      startWorker();
      // What the worker has in SWARM_HOME, made as Swarm makes them.
      const config = loadConfig({ SWARM_HOME: home });
      openKeyring(config, { warn: () => {} }).current();
      openSigningKey(config);
      await saveCredential(home, { apiKey: 'swarm_secret', database: fx.testDb.url, url: 'http://x' });
      // Another attempt's working folder, owned by the very uid the agent runs as.
      const other = path.join(home, 'work', 'other-owner-attempt');
      fs.mkdirSync(other, { recursive: true });
      fs.writeFileSync(path.join(other, 'their-data'), 'theirs');
      fs.chownSync(other, isolation.kind === 'namespaces' ? isolation.uid : 0, 0);
      const paths = [
        path.join(home, 'credentials'),
        path.join(home, 'master.key'),
        path.join(home, 'signing.key'),
        path.join(other, 'their-data'),
        `/proc/${process.pid}/environ`,
        `/proc/${process.pid}/cmdline`,
        ...(dialect === 'sqlite'
          ? ['', '-wal', '-shm'].map((suffix) => `${fx.testDb.url.replace(/^sqlite:/, '')}${suffix}`)
          : []),
      ];
      for (const file of paths.filter((p) => !p.startsWith('/proc/')))
        expect(fs.existsSync(file), `${file} exists for the test`).toBe(true);
      const ended = await run(fx.caller, { paths });
      expect(ended.status, JSON.stringify(ended)).toBe('completed');
      const out = (ended.result as Record<string, unknown>).only as {
        tried: Record<string, string>;
        own: { wrote: string; folder: string[] };
        uid: number;
        env: string[];
        pid: number;
      };
      // Permission denied, or not there at all, for every one of them.
      for (const file of paths)
        expect([file, out.tried[file]]).toEqual([file, expect.stringMatching(/^(EACCES|ENOENT|EPERM)$/)]);
      expect(out.uid).toBe(65534);
      expect(out.pid).toBeLessThan(10); // its own PID namespace
      expect(out.env).toEqual(['HOME', 'LANG', 'PATH', 'TMPDIR']);
      // Its own working folder is writable, its own code folder readable.
      expect(out.own).toEqual({ wrote: 'mine', folder: ['snoop.js'] });
      // The files are untouched and the other attempt's data is still there.
      expect(fs.readFileSync(path.join(other, 'their-data'), 'utf8')).toBe('theirs');
    },
  );

  it("refuses a member's local agent on a worker that cannot isolate it, unless SWARM_ALLOW_UNISOLATED_AGENTS", async () => {
    const member = (await fx.store.system.insertUserIfAbsent({
      name: 'M',
      email: 'm@example.com',
      role: 'member',
    }))!;
    const caller: Caller = { userId: member.id, role: 'member', grants: ['agents:publish'] };
    await registerSnoop(caller);
    startWorker({ SWARM_AGENT_ISOLATION: 'none' });
    const refused = await run(caller, { paths: [] });
    expect(refused.status).toBe('failed');
    expect(JSON.stringify(refused)).toMatch(
      /cannot isolate agent code .* admins only.*SWARM_ALLOW_UNISOLATED_AGENTS=true/,
    );
    await worker!.stop(1000);
    startWorker({ SWARM_AGENT_ISOLATION: 'none', SWARM_ALLOW_UNISOLATED_AGENTS: 'true' });
    expect((await run(caller, { paths: [] })).status).toBe('completed');
  });
});
