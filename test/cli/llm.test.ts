import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const API_KEY = `sk-cli-${randomBytes(10).toString('hex')}`;

describe.each(DIALECTS)('swarm llm providers on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    const base = {
      DATABASE_URL: testDb.url,
      SWARM_HOME: home,
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'silent',
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    server = await startServer(loadConfig(base));
    env = { ...base, SWARM_URL: server.url };
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('sets, lists and removes providers, never printing the key', async () => {
    expect((await cli(['secrets', 'set', 'OPENAI_KEY', '--value', API_KEY], env)).code).toBe(0);
    const set = await cli(
      [
        'llm',
        'providers',
        'set',
        'openai',
        '--provider',
        'openai',
        '--model',
        'gpt-4o-mini',
        '--api-key-secret',
        'OPENAI_KEY',
        '--input-cost',
        '0.15',
        '--output-cost',
        '0.6',
        '--default',
      ],
      env,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe(
      'created LLM provider openai (openai, model gpt-4o-mini, key in secret OPENAI_KEY)\n',
    );
    const list = await cli(['llm', 'providers', 'list'], env);
    expect(list.stdout).toMatch(/^openai\s+openai\s+gpt-4o-mini\s+\(public API\)\s+OPENAI_KEY\s+yes\s+yes/m);
    const json = await cli(['llm', 'providers', 'list', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        name: 'openai',
        configuration: { input_cost_per_1k: 0.15, output_cost_per_1k: 0.6 },
        isDefault: true,
      }),
    ]);
    for (const output of [set, list, json]) expect(output.stdout + output.stderr).not.toContain(API_KEY);
    const rm = await cli(['llm', 'providers', 'rm', 'openai'], env);
    expect(rm).toMatchObject({ code: 0, stdout: 'removed LLM provider openai\n' });
    expect((await cli(['llm', 'providers', 'list'], env)).stdout).toBe('no LLM providers\n');
    const gone = await cli(['llm', 'providers', 'rm', 'openai'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('NOT_FOUND');
  });

  it('refuses bad input with a one-line reason naming the field', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['llm', 'providers', 'set', 'x', '--provider', 'gemini'], 1, /provider: must be one of/],
      [['llm', 'providers', 'set', 'x', '--provider', 'openai'], 1, /api_key_secret: is required/],
      [['llm', 'providers', 'set', 'x', '--provider', 'custom'], 1, /base_url: is required/],
      [
        ['llm', 'providers', 'set', 'x', '--provider', 'custom', '--base-url', 'http://10.0.0.5'],
        1,
        /base_url: .*private/,
      ],
      [
        ['llm', 'providers', 'set', 'x', '--provider', 'ollama', '--input-cost', 'cheap'],
        1,
        /--input-cost: must be a number/,
      ],
      [['llm', 'providers', 'set', 'Bad!', '--provider', 'ollama'], 1, /NAME: must be lower-case/],
      [
        ['llm', 'providers', 'set', 'x', '--provider', 'ollama', '--configuration', '[1]'],
        1,
        /--configuration: must be a JSON object/,
      ],
      [['llm', 'providers', 'set', 'x'], 2, /required option '--provider <kind>' not specified/],
    ];
    for (const [argv, code, message] of cases) {
      const result = await cli(argv, env);
      expect(result.code, `${argv.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(JSON.parse((await cli(['llm', 'providers', 'list', '--json'], env)).stdout)).toEqual([]);
  });
});
