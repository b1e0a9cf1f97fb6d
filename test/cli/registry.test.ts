import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { EXAMPLES_DIR } from '../../src/registry/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm agent / workflow against a running server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    const config = loadConfig({
      DATABASE_URL: testDb.url,
      SWARM_HOME: home,
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'silent',
    });
    server = await startServer(config);
    // The CLI finds the key in $SWARM_HOME/credentials, as on a developer's machine.
    env = { SWARM_HOME: home, SWARM_URL: server.url };
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('registered the examples on first start, and lists and shows them', async () => {
    expect(server.examples!.agents.length).toBeGreaterThanOrEqual(4);
    const agents = await cli(['agent', 'list', '--no-builtin'], env);
    expect(agents.code, agents.stderr).toBe(0);
    for (const name of fs.readdirSync(path.join(EXAMPLES_DIR, 'agents')))
      expect(agents.stdout).toContain(name);
    const shown = await cli(['agent', 'show', 'word-count@1.0.0'], env);
    expect(shown.stdout).toMatch(/^word-count@1\.0\.0 — active/);
    const workflows = await cli(['workflow', 'list', '--json'], env);
    expect(JSON.parse(workflows.stdout).map((w: { name: string }) => w.name)).toContain('text-report');
    const workflow = await cli(['workflow', 'show', 'text-report'], env);
    expect(workflow.stdout).toMatch(/^text-report@1\.0\.0 — enabled, active/);
    expect(workflow.stdout).toMatch(/^report\s+builtin\/transform/m);
  });

  it('runs the builtin-only hello example to completion with the in-process worker', async () => {
    const key = server.bootstrapped!.key;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const started = await fetch(`${server.url}/api/v1/workflows/hello/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ input: { name: 'Grace Hopper' } }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    let run: { status: string; result: unknown } = { status: 'running', result: null };
    for (let i = 0; i < 400 && run.status === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      run = (await (await fetch(`${server.url}/api/v1/runs/${id}`, { headers })).json()) as typeof run;
    }
    expect(run).toMatchObject({
      status: 'completed',
      result: { answer: { message: 'Hello, Grace Hopper!', long_name: true } },
    });
  });

  it('swarm run --wait follows a run to completion, and exits 1 when a run fails', async () => {
    const ok = await cli(['run', 'hello', '--input', '{"name":"Ada Lovelace"}', '--wait'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^run \S+ of hello$/m);
    expect(ok.stdout).toMatch(/^ {2}completed +answer$/m);
    expect(ok.stdout).toMatch(/^completed in \d+ ms$/m);

    const inputFile = path.join(testDb.dir, 'input.json');
    fs.writeFileSync(inputFile, '{"name":"Al"}');
    const json = await cli(['run', 'hello', '--input', `@${inputFile}`, '--wait', '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({
      status: 'completed',
      result: { answer: { long_name: false } },
    });

    const mail = path.join(testDb.dir, 'mail.yaml');
    fs.writeFileSync(
      mail,
      'name: mail\nversion: 1.0.0\nsteps:\n  - id: send\n    agent: builtin/send_email\n    input: { connector: smtp, to: a@example.com, subject: hi, text: hello }\n',
    );
    expect((await cli(['workflow', 'apply', mail], env)).code).toBe(0);
    const failed = await cli(['run', 'mail', '--wait'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^ {2}failed +send — /m);
    expect(failed.stderr).toMatch(/^swarm: run \S+ ended failed at step send \[RUN_NOT_COMPLETED\]$/m);

    const listed = await cli(['runs', 'list', '--workflow', 'hello', '--json'], env);
    expect(JSON.parse(listed.stdout)).toHaveLength(2);
    const id = JSON.parse(listed.stdout)[0].id as string;
    expect((await cli(['runs', 'show', id], env)).stdout).toMatch(/— completed \(attempt 1\)/);
    const cancel = await cli(['runs', 'cancel', id], env);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/only a pending or running run can be cancelled \[CONFLICT\]/);
    expect((await cli(['run', 'hello', '--input', 'nope'], env)).stderr).toMatch(/^swarm: --input: not JSON/);
    expect((await cli(['run', 'ghost'], env)).stderr).toMatch(/workflow not found: ghost \[NOT_FOUND\]/);
  });

  it('swarm run <file> applies the definition, then runs that version', async () => {
    const file = path.join(testDb.dir, 'chain.yaml');
    fs.writeFileSync(
      file,
      'name: chain\nversion: 2.1.0\nsteps:\n  - id: a\n    agent: builtin/transform\n    input: { n: "{{ trigger.n }}" }\n  - id: b\n    agent: builtin/transform\n    needs: [a]\n    input: { twice: "{{ steps.a.output.n * 2 }}" }\n',
    );
    const ran = await cli(['run', file, '--input', '{"n":21}', '--wait', '--json'], env);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({
      workflow: 'chain',
      version: '2.1.0',
      status: 'completed',
      result: { b: { twice: 42 } },
    });
    // A file that does not parse is refused before anything is stored or run.
    const broken = path.join(testDb.dir, 'broken.yaml');
    fs.writeFileSync(broken, 'name: [unclosed\n');
    const refused = await cli(['run', broken], env);
    expect(refused.code).toBe(1);
    expect((await cli(['workflow', 'list', '--json'], env)).stdout).not.toMatch(/unclosed/);
  });

  it('registers an agent folder, and says unchanged the second time', async () => {
    // SWARM_HOME/agents: one of the default agents folders (SWARM_AGENTS_DIRS).
    const folder = path.join(env.SWARM_HOME!, 'agents', 'shout');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'index.js'), 'process.stdout.write("{}\\n")\n');
    fs.writeFileSync(
      path.join(folder, 'agent.yaml'),
      'name: shout\nversion: 0.1.0\nruntime:\n  type: node\n  entry: index.js\n',
    );
    expect((await cli(['agent', 'register', folder], env)).stdout.trim()).toBe('registered shout@0.1.0');
    expect((await cli(['agent', 'register', folder], env)).stdout.trim()).toBe('unchanged shout@0.1.0');
    // Code from anywhere else is refused, naming the query parameter.
    const outside = path.join(testDb.dir, 'elsewhere');
    fs.cpSync(folder, outside, { recursive: true });
    const refused = await cli(['agent', 'register', outside], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/path: .*outside the agents folders/);
  });

  it('validates and applies a workflow file, and lists every problem of a bad one with exit 1', async () => {
    const good = path.join(testDb.dir, 'good.yaml');
    fs.writeFileSync(
      good,
      'name: hi-there\nversion: 1.0.0\nsteps:\n  - id: greet\n    agent: greeter@^1.0.0\n    input:\n      name: World\n',
    );
    expect((await cli(['workflow', 'validate', good], env)).stdout.trim()).toBe(
      'valid: hi-there@1.0.0 (1 steps)',
    );
    expect((await cli(['workflow', 'apply', good], env)).stdout.trim()).toBe('applied hi-there@1.0.0');
    expect((await cli(['workflow', 'apply', good], env)).stdout.trim()).toBe('unchanged hi-there@1.0.0');

    const bad = path.join(testDb.dir, 'bad.yaml');
    fs.writeFileSync(
      bad,
      [
        'name: broken',
        'version: 1.0.0',
        'steps:',
        '  - id: a',
        '    agent: ghost@^1.0.0',
        '  - id: b',
        '    agent: echo@^1.0.0',
        '    needs: [fetch]',
        '    priority: 11',
      ].join('\n'),
    );
    const result = await cli(['workflow', 'validate', bad], env);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^swarm: invalid workflow definition: .*\[INPUT_INVALID\]$/);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}steps\[0\]\.agent: /),
        expect.stringMatching(/^ {2}steps\[1\]\.needs\[0\]: /),
        expect.stringMatching(/^ {2}steps\[1\]\.priority: /),
      ]),
    );
  });

  it('names an unreadable or unparsable file', async () => {
    expect((await cli(['workflow', 'apply', 'nope.yaml'], env)).stderr).toMatch(
      /^swarm: nope\.yaml: cannot read the file/,
    );
    expect((await cli(['workflow', 'apply', 'workflow.txt'], env)).stderr).toMatch(
      /ends in \.yaml, \.yml or \.json/,
    );
    const broken = path.join(testDb.dir, 'broken.yaml');
    fs.writeFileSync(broken, 'name: x\nsteps: [\n');
    expect((await cli(['workflow', 'validate', broken], env)).stderr).toMatch(/broken\.yaml: invalid YAML/);
  });
});

describe('swarm CLI without a server', () => {
  it('says plainly that no server is running', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const result = await cli(['workflow', 'list'], {
      SWARM_URL: `http://127.0.0.1:${port}`,
      SWARM_API_KEY: 'swarm_x',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `swarm: no Swarm server answers at http://127.0.0.1:${port} (URL from SWARM_URL): ECONNREFUSED; start one (\`npm start\` in the clone, or \`swarm start\`), or point SWARM_URL or --credential at a running one [SERVER_UNREACHABLE]\n`,
    );
  });

  it('says where to find a key when there is none', async () => {
    const result = await cli(['agent', 'list'], { SWARM_HOME: '/nonexistent-swarm-home' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no API key: set SWARM_API_KEY/);
  });
});
