import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { readCredentials } from '../../src/auth/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

type Step = Record<string, unknown>;
const doc = (steps: Step[], more: Record<string, unknown> = {}) => ({
  name: 'rules',
  version: '1.0.0',
  ...more,
  steps,
});
const count = (more: Step = {}): Step => ({
  id: 'a',
  agent: 'word-count@^1.0.0',
  input: { text: '{{ trigger.text }}' },
  ...more,
});

/** Each validation rule of the registry issue, with the place its error must name. */
const RULES: Array<[string, string, unknown, RegExp]> = [
  ['duplicate step ids', 'steps[1].id', doc([count(), count()]), /duplicate step id "a"/],
  [
    'an unknown step in needs',
    'steps[0].needs[0]',
    doc([count({ needs: ['fetch'] })]),
    /unknown step "fetch"/,
  ],
  [
    'a cycle',
    'steps[0].needs[0]',
    doc([count({ needs: ['b'] }), count({ id: 'b', needs: ['a'] })]),
    /cycle a → b → a/,
  ],
  ['an unknown agent', 'steps[0].agent', doc([count({ agent: 'ghost@^1.0.0' })]), /unknown agent "ghost"/],
  [
    'no agent version in range',
    'steps[0].agent',
    doc([count({ agent: 'word-count@^2.0.0' })]),
    /no version of "word-count" satisfies "\^2\.0\.0"/,
  ],
  [
    'an unknown capability',
    'steps[0].capability',
    doc([{ id: 'a', capability: 'text:translate', input: {} }]),
    /no agent offers "text:translate"/,
  ],
  [
    'an input expression that does not parse',
    'steps[0].input.text',
    doc([count({ input: { text: '{{ trigger.( }}' } })]),
    /does not parse/,
  ],
  ['a when that does not parse', 'steps[0].when', doc([count({ when: 'trigger.(' })]), /does not parse/],
  [
    'a for_each over a non-list',
    'steps[0].for_each',
    doc([count({ for_each: 'variables.items', input: { text: '{{ item }}' } })], {
      variables: { items: 'x' },
    }),
    /is not a list/,
  ],
  [
    'input of the wrong type for the agent',
    'steps[0].input.text',
    doc([count({ input: { text: 42 } })]),
    /must be string/,
  ],
  [
    'input missing what the agent requires',
    'steps[0].input',
    doc([count({ input: {} })]),
    /missing required property "text"/,
  ],
  [
    'a bad cron',
    'trigger.cron',
    doc([count()], { trigger: { type: 'schedule', cron: 'every day' } }),
    /invalid cron expression/,
  ],
  [
    'a bad time zone',
    'trigger.timezone',
    doc([count()], { trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Mars/Base' } }),
    /unknown time zone "Mars\/Base"/,
  ],
  [
    'retry out of range',
    'steps[0].retry.max_attempts',
    doc([count({ retry: { max_attempts: 0 } })]),
    /must be >= 1/,
  ],
  [
    'a timeout out of range',
    'steps[0].timeout_seconds',
    doc([count({ timeout_seconds: 0 })]),
    /must be >= 1/,
  ],
  ['a priority out of range', 'steps[0].priority', doc([count({ priority: 11 })]), /must be <= 10/],
];

describe.each(DIALECTS)('every validation rule, through the API and the CLI, on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let key: string;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    server = await startServer(
      loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: home, SWARM_PORT: '0', SWARM_LOG_LEVEL: 'silent' }),
    );
    env = { SWARM_HOME: home, SWARM_URL: server.url };
    key = readCredentials(home)!.apiKey;
  });
  afterAll(async () => {
    await server.close();
    await testDb.drop();
  });

  it.each(RULES)('refuses %s, naming %s', async (_rule, field, definition, message) => {
    const response = await fetch(`${server.url}/api/v1/workflows/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(definition),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await response.json()) as {
      code: string;
      errors: Array<{ field: string; message: string }>;
    };
    expect(problem.code).toBe('INPUT_INVALID');
    const issue = problem.errors.find((e) => e.field === field);
    expect(issue, JSON.stringify(problem.errors)).toBeDefined();
    expect(issue!.message).toMatch(message);

    const file = path.join(testDb.dir, `rule-${field.replace(/\W+/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(definition));
    const result = await cli(['workflow', 'validate', file], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      new RegExp(`(^swarm: invalid workflow definition: |^  )${field.replace(/[[\].]/g, '\\$&')}: `, 'm'),
    );
  });

  it('lists every problem of a definition at once, not only the first', async () => {
    const definition = doc(
      [
        count({ priority: 11 }),
        count({ id: 'b', agent: 'ghost@^1.0.0', needs: ['fetch'] }),
        count({ id: 'a' }),
      ],
      { trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Mars/Base' } },
    );
    const response = await fetch(`${server.url}/api/v1/workflows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(definition),
    });
    expect(response.status).toBe(400);
    const fields = ((await response.json()) as { errors: Array<{ field: string }> }).errors.map(
      (e) => e.field,
    );
    expect(fields).toEqual(
      expect.arrayContaining([
        'trigger.timezone',
        'steps[0].priority',
        'steps[1].agent',
        'steps[1].needs[0]',
        'steps[2].id',
      ]),
    );
    const stored = await fetch(`${server.url}/api/v1/workflows/rules`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(stored.status).toBe(404);
  });
});
