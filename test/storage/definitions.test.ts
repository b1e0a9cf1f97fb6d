import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, type Caller, type NewAgent, type NewWorkflow } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

function agent(name: string, version: string, capabilities: string[], tags: string[] = []): NewAgent {
  return {
    name,
    version,
    description: null,
    type: 'execution',
    capabilities,
    permissions: [],
    inputSchema: { type: 'object' },
    outputSchema: undefined,
    runtimeType: 'node',
    runtimeConfig: { entry: 'index.js' },
    memoryMb: 128,
    timeoutSeconds: 300,
    maxConcurrency: null,
    tags,
    author: null,
    path: '/agents/x',
    manifest: { name, version },
    contentHash: `${name}@${version}`,
  };
}

const workflow = (version: string): NewWorkflow => ({
  name: 'daily',
  version,
  description: null,
  triggerType: 'manual',
  triggerConfig: { type: 'manual' },
  steps: [{ id: 'a' }],
  definition: { name: 'daily', version },
  variables: {},
  onError: null,
  onSuccess: undefined,
  contentHash: version,
  tags: [],
});

describe.each(DIALECTS)('agent and workflow storage on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let alice: Caller;
  let bob: Caller;
  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const a = (await store.system.insertUserIfAbsent({ name: 'A', email: 'a@example.com', role: 'member' }))!;
    const b = (await store.system.insertUserIfAbsent({ name: 'B', email: 'b@example.com', role: 'member' }))!;
    alice = { userId: a.id, role: 'member' };
    bob = { userId: b.id, role: 'member' };
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  it('stores agent versions once per owner and filters by capability, tag, type and status', async () => {
    const as = store.as(alice);
    expect(
      await as.agents.insert(agent('summarize', '1.0.0', ['text:summarize', 'text:v1'], ['nlp'])),
    ).toMatchObject({
      name: 'summarize',
      status: 'active',
      capabilities: ['text:summarize', 'text:v1'],
      inputSchema: { type: 'object' },
      outputSchema: null,
    });
    expect(await as.agents.insert(agent('summarize', '1.0.0', []))).toBeNull();
    await as.agents.insert(agent('summarize', '1.1.0', ['text:summarize']));
    await as.agents.insert(agent('fetch', '0.1.0', ['net:get'], ['io']));
    // Bob may use the same name and version: uniqueness is per owner.
    expect(await store.as(bob).agents.insert(agent('summarize', '1.0.0', ['text:summarize']))).not.toBeNull();

    const names = (rows: Array<{ name: string; version: string }>) =>
      rows.map((r) => `${r.name}@${r.version}`);
    expect(names(await as.agents.list({ capability: 'text:summarize' }))).toEqual([
      'summarize@1.0.0',
      'summarize@1.1.0',
    ]);
    expect(names(await as.agents.list({ capability: 'text:v1' }))).toEqual(['summarize@1.0.0']);
    // A capability is matched whole, not as a substring.
    expect(await as.agents.list({ capability: 'text' })).toEqual([]);
    expect(names(await as.agents.list({ tag: 'io' }))).toEqual(['fetch@0.1.0']);
    expect(await as.agents.list({ type: 'reasoning' })).toEqual([]);

    expect(await as.agents.setStatus('summarize', '1.0.0', 'deprecated')).toBe(1);
    expect(names(await as.agents.list({ status: 'deprecated' }))).toEqual(['summarize@1.0.0']);
    expect(await store.as(bob).agents.setStatus('fetch', undefined, 'disabled')).toBe(0);
    expect(names(await store.as(bob).agents.list())).toEqual(['summarize@1.0.0']);
    expect(await store.as(bob).agents.find('fetch', '0.1.0')).toBeNull();
  });

  it('keeps workflow versions, with enabled and status per workflow', async () => {
    const as = store.as(alice);
    await as.workflows.insert(workflow('1.0.0'), { enabled: true, status: 'active' });
    expect(await as.workflows.insert(workflow('1.0.0'), { enabled: true, status: 'active' })).toBeNull();
    await as.workflows.insert(workflow('1.1.0'), { enabled: true, status: 'active' });
    expect((await as.workflows.versions('daily')).map((w) => w.version)).toEqual(['1.0.0', '1.1.0']);
    expect(await as.workflows.setState('daily', { enabled: false, status: 'paused' })).toBe(2);
    const old = await as.workflows.find('daily', '1.0.0');
    expect(old).toMatchObject({
      enabled: false,
      status: 'paused',
      steps: [{ id: 'a' }],
      onError: null,
      onSuccess: null,
    });
    expect(await store.as(bob).workflows.versions()).toEqual([]);
    expect(await store.as(bob).workflows.setState('daily', { enabled: true })).toBe(0);
  });
});
