import { describe, expect, it } from 'vitest';
import { DEFAULTS, issues, valid } from './helpers.js';

/** Seed 004's spec_json, with the name and version Swarm keeps next to it. */
const seed = {
  name: 'daily-digest',
  version: '1.0.0',
  trigger: { type: 'cron', cron: '0 8 * * *' },
  nodes: [
    {
      id: 'n3',
      type: 'builtin/send_email',
      name: 'Mail it',
      config: { to: 'me@example.com', body: '{{ steps.n2.output }}' },
    },
    { id: 'n1', type: 'fetcher@^1', name: 'Fetch', config: { url: 'https://example.com' } },
    { id: 'n2', type: 'text:summarize', name: 'Summarise', config: { text: '{{ steps.n1.output.body }}' } },
  ],
  edges: [
    ['n1', 'n2'],
    ['n2', 'n3'],
    ['n1', 'n2'],
  ],
};

describe('seed 004 nodes/edges form', () => {
  it('normalises to the same DAG model: type → agent or capability, config → input, edges → needs', async () => {
    const wf = await valid(seed);
    expect(wf.trigger).toEqual({
      type: 'schedule',
      cron: '0 8 * * *',
      timezone: 'UTC',
      misfire: 'skip',
      catch_up_limit: 10,
    });
    expect(wf.steps).toEqual([
      {
        id: 'n1',
        name: 'Fetch',
        agent: { name: 'fetcher', range: '^1' },
        input: { url: 'https://example.com' },
        needs: [],
        ...DEFAULTS,
        origin: { kind: 'node', step: 'n1', role: 'node' },
      },
      {
        id: 'n2',
        name: 'Summarise',
        capability: { name: 'text:summarize', routing: 'round_robin' },
        input: { text: '{{ steps.n1.output.body }}' },
        needs: ['n1'],
        ...DEFAULTS,
        origin: { kind: 'node', step: 'n2', role: 'node' },
      },
      {
        id: 'n3',
        name: 'Mail it',
        agent: { name: 'builtin/send_email', range: '*' },
        input: { to: 'me@example.com', body: '{{ steps.n2.output }}' },
        needs: ['n2'],
        ...DEFAULTS,
        origin: { kind: 'node', step: 'n3', role: 'node' },
      },
    ]);
  });

  it('nodes without edges or config, and a manual trigger', async () => {
    const wf = await valid({
      name: 'x',
      version: '1.0.0',
      trigger: { type: 'manual' },
      nodes: [{ id: 'only', type: 'builtin/noop' }],
    });
    expect(wf.steps).toEqual([
      {
        id: 'only',
        agent: { name: 'builtin/noop', range: '*' },
        input: {},
        needs: [],
        ...DEFAULTS,
        origin: { kind: 'node', step: 'only', role: 'node' },
      },
    ]);
  });

  it("runs seed 004's connector node types with their builtins: http → http_request, email and smtp → send_email (body → text)", async () => {
    const wf = await valid({
      name: 'x',
      version: '1.0.0',
      nodes: [
        { id: 'get', type: 'http', config: { connector: 'crm', url: '/orders', method: 'GET' } },
        {
          id: 'mail',
          type: 'email',
          config: { connector: 'mail', to: 'a@example.com', subject: 's', body: 'hi' },
        },
        {
          id: 'relay',
          type: 'smtp',
          config: { connector: 'mail', to: 'a@example.com', subject: 's', text: 't' },
        },
      ],
      edges: [
        ['get', 'mail'],
        ['get', 'relay'],
      ],
    });
    expect(wf.steps.map((s) => [s.id, s.agent, s.input])).toEqual([
      [
        'get',
        { name: 'builtin/http_request', range: '*' },
        { connector: 'crm', url: '/orders', method: 'GET' },
      ],
      [
        'mail',
        { name: 'builtin/send_email', range: '*' },
        { connector: 'mail', to: 'a@example.com', subject: 's', text: 'hi' },
      ],
      [
        'relay',
        { name: 'builtin/send_email', range: '*' },
        { connector: 'mail', to: 'a@example.com', subject: 's', text: 't' },
      ],
    ]);
  });

  it('refuses node ids that are not step ids instead of renaming them', async () => {
    const found = await issues({ ...seed, nodes: [{ id: 'Fetch-Data', type: 'fetcher' }], edges: [] });
    expect(found).toEqual([
      { field: 'nodes[0].id', message: expect.stringContaining('invalid node id "Fetch-Data"') },
    ]);
  });

  it('reports edges to unknown nodes on the exact end, cycles on the closing edge, and bad types', async () => {
    const found = await issues({
      name: 'x',
      version: '1.0.0',
      nodes: [
        { id: 'a', type: 'writer' },
        { id: 'b', type: 'nosuch@^1' },
        { id: 'c', type: 'text:nothing', steps: 1 },
      ],
      edges: [
        ['a', 'b'],
        ['b', 'a'],
        ['zz', 'c'],
        ['c', 'yy'],
      ],
    });
    expect(found).toEqual([
      { field: 'nodes[1].type', message: 'unknown agent "nosuch"' },
      { field: 'nodes[2].type', message: 'no agent offers "text:nothing"' },
      { field: 'nodes[2].steps', message: 'unknown property "steps"' },
      { field: 'edges[1][0]', message: 'cycle a → b → a' },
      { field: 'edges[2][0]', message: 'unknown node "zz"' },
      { field: 'edges[3][1]', message: 'unknown node "yy"' },
    ]);
  });

  it('an expression may only read nodes upstream of it', async () => {
    const found = await issues({
      name: 'x',
      version: '1.0.0',
      nodes: [
        { id: 'a', type: 'writer', config: { x: '{{ steps.b.output }}' } },
        { id: 'b', type: 'writer' },
      ],
    });
    expect(found).toEqual([
      {
        field: 'nodes[0].config.x',
        message: 'refers to node "b", which is not upstream of it (no path of edges)',
      },
    ]);
  });
});
