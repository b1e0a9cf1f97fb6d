import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { EXAMPLES_DIR } from '../../src/registry/index.js';
import { detectIsolation, ProcessRuntime, ProcessSandbox } from '../../src/runtimes/index.js';
import { isolatedCommand, ISOLATION_SCRIPT, unsafeForRoot } from '../../src/runtimes/process/isolation.js';
import { context, FIXTURES, harness, invoke, probe, type Harness } from './process-helpers.js';

const isolation = detectIsolation(process.execPath);
const canIsolate = isolation.kind === 'namespaces';

describe('the isolation settings', () => {
  it('reads SWARM_AGENTS_DIRS, SWARM_AGENT_ISOLATION, SWARM_AGENT_UID/GID and SWARM_ALLOW_UNISOLATED_AGENTS', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-iso-config-'));
    try {
      const defaults = loadConfig({ SWARM_HOME: home });
      expect(defaults.agentsDirs).toEqual([fs.realpathSync(EXAMPLES_DIR), path.join(home, 'agents')]);
      expect(defaults).toMatchObject({
        agentIsolation: 'auto',
        agentUid: 65534,
        agentGid: 65534,
        allowUnisolatedAgents: false,
      });
      const set = loadConfig({
        SWARM_HOME: home,
        SWARM_AGENTS_DIRS: ` ${home} , /srv/agents `,
        SWARM_AGENT_ISOLATION: 'namespaces',
        SWARM_AGENT_UID: '5000',
        SWARM_AGENT_GID: '5001',
        SWARM_ALLOW_UNISOLATED_AGENTS: 'true',
      });
      expect(set).toMatchObject({
        agentsDirs: [fs.realpathSync(home), '/srv/agents'],
        agentIsolation: 'namespaces',
        agentUid: 5000,
        agentGid: 5001,
        allowUnisolatedAgents: true,
      });
      expect(() => loadConfig({ SWARM_AGENTS_DIRS: 'agents' })).toThrow(
        /SWARM_AGENTS_DIRS: must list absolute paths/,
      );
      expect(() => loadConfig({ SWARM_AGENT_ISOLATION: 'bwrap' })).toThrow(/SWARM_AGENT_ISOLATION: must be/);
      expect(() => loadConfig({ SWARM_AGENT_UID: '0' })).toThrow(/SWARM_AGENT_UID/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('builds an argument array: the program and its arguments come last, verbatim, after a constant script', () => {
    const args = ['$(touch /tmp/x)', '; rm -rf /', '"quoted"'];
    const [command, argv] = isolatedCommand(
      {
        kind: 'namespaces',
        uid: 65534,
        gid: 65534,
        tools: {
          shell: '/bin/dash',
          unshare: '/usr/bin/unshare',
          setpriv: '/usr/bin/setpriv',
          mount: '/usr/bin/mount',
          env: '/usr/bin/env',
        },
      },
      { hide: '/srv/swarm', work: '/srv/swarm/work/a', agent: '/opt/agents/x' },
      '/opt/agents/x/run',
      args,
    );
    expect(command).toBe('/usr/bin/unshare');
    expect(argv.slice(0, 8)).toEqual([
      '--mount',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '--propagation',
      'private',
      '--',
    ]);
    expect(argv.slice(8, 16)).toEqual([
      '/bin/dash',
      '-c',
      ISOLATION_SCRIPT,
      'swarm-isolate',
      '/srv/swarm',
      '/srv/swarm/work/a',
      '/opt/agents/x',
      '/usr/bin/mount',
    ]);
    expect(argv.slice(-5)).toEqual(['--', '/opt/agents/x/run', ...args]);
    expect(argv).toEqual(
      expect.arrayContaining(['--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs']),
    );
    expect(
      ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'GCONV_PATH', 'BASH_ENV', 'ENV', 'IFS', 'MALLOC_TRACE'].every(
        unsafeForRoot,
      ),
    ).toBe(true);
    expect(['API_TOKEN', 'HOME'].some(unsafeForRoot)).toBe(false);
  });

  it('says which isolation is in force', () => {
    expect(new ProcessSandbox({ isolation: { mode: 'none' } }).describe()).toMatch(
      /isolation: none \(turned off \(SWARM_AGENT_ISOLATION=none\)\); agents can read what the worker's user can/,
    );
    expect(new ProcessSandbox().describe()).toMatch(
      canIsolate ? /isolation: namespaces \(.*uid 65534/ : /isolation: none/,
    );
  });
});

describe.runIf(canIsolate)('an isolated process agent', () => {
  let h: Harness;
  let outside: string;
  beforeAll(() => {
    h = harness();
    // mkdtemp makes 0700 folders: the agent user cannot enter one.
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-private-agent-'));
    fs.cpSync(path.join(FIXTURES, 'probe'), path.join(outside, 'probe'), { recursive: true });
  });
  afterAll(() => {
    h.close();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('is refused, saying what to chmod, when its folder is not readable by the agent user', async () => {
    const error = await h.runtime
      .execute(invoke(probe({ folder: path.join(outside, 'probe') }), { mode: 'echo', value: 1 }), context())
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(error?.message).toMatch(
      /agents run as uid 65534, which cannot enter .*swarm-private-agent-.* \(mode 700\): .*chmod o\+rx/,
    );
    fs.chmodSync(outside, 0o755);
    expect(
      await h.runtime.execute(
        invoke(probe({ folder: path.join(outside, 'probe') }), { mode: 'echo', value: 1 }),
        context(),
      ),
    ).toBe(1);
  });

  it('reaches its HOME when SWARM_HOME lies in a folder it cannot enter (as /root/.swarm does)', async () => {
    // outer (0700, like /root) holds SWARM_HOME and the agent's folder; a strict umask too.
    const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-private-root-'));
    const umask = process.umask(0o077);
    try {
      const agentDir = path.join(outer, 'agents', 'writer');
      fs.mkdirSync(agentDir, { recursive: true, mode: 0o755 });
      fs.chmodSync(path.join(outer, 'agents'), 0o755);
      fs.chmodSync(agentDir, 0o755);
      fs.writeFileSync(
        path.join(agentDir, 'main.js'),
        [
          "const fs = require('node:fs');",
          "const file = require('node:path').join(process.env.HOME, 'note');",
          "fs.writeFileSync(file, 'ok');",
          "const secret = (() => { try { return fs.readFileSync(process.argv[2], 'utf8'); } catch (e) { return e.code; } })();",
          "process.stdout.write(JSON.stringify({ type: 'output', output: { note: fs.readFileSync(file, 'utf8'), secret } }) + '\\n');",
        ].join('\n'),
        { mode: 0o644 },
      );
      fs.writeFileSync(path.join(outer, 'private'), 'x');
      fs.chmodSync(path.join(agentDir, 'main.js'), 0o644);
      fs.chmodSync(path.join(outer, 'private'), 0o644);
      const runtime = new ProcessRuntime({ home: path.join(outer, '.swarm') });
      const out = await runtime.execute(
        invoke(
          probe({
            name: 'writer',
            runtime: { type: 'node', entry: 'main.js', args: [path.join(outer, 'private')] },
            folder: agentDir,
          }),
          {},
        ),
        context(),
      );
      // The whole of `outer` is covered, not only SWARM_HOME: even its 0644 file is gone.
      expect(out).toEqual({ note: 'ok', secret: 'ENOENT' });
    } finally {
      process.umask(umask);
      fs.rmSync(outer, { recursive: true, force: true });
    }
  });

  it('never hands loader or shell variables (LD_PRELOAD, BASH_ENV…) to the root programs that set it up', async () => {
    // Granted, they would reach unshare, dash, mount and setpriv, which run as root.
    const secrets = {
      LD_PRELOAD: '/nonexistent/evil.so',
      BASH_ENV: '/nonexistent/evil.sh',
      API_TOKEN: 'tok-123456',
    };
    const out = (await h.runtime.execute(
      invoke(probe({ permissions: ['secret:LD_PRELOAD', 'secret:BASH_ENV', 'secret:API_TOKEN'] }), {
        mode: 'env',
      }),
      context({ secrets }),
    )) as { env: Record<string, string> };
    expect(Object.keys(out.env).sort()).toEqual(['API_TOKEN', 'HOME', 'LANG', 'PATH', 'TMPDIR']);
  });
});
