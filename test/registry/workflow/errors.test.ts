import { describe, expect, it } from 'vitest';
import { validateWorkflow } from '../../../src/registry/workflow/index.js';
import { issues, resolver } from './helpers.js';

const base = { name: 'wf', version: '1.0.0' };
const wf = (...steps: unknown[]) => ({ ...base, steps });

describe('every issue names the exact source field', () => {
  it('a document with three different mistakes gets three issues at once', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'writer', priority: 11 },
        { id: 'b', agent: 'ghost', needs: ['a'] },
        { id: 'c', agent: 'writer', needs: ['fetch'] },
      ),
    );
    expect(found).toEqual([
      { field: 'steps[0].priority', message: 'must be <= 10' },
      { field: 'steps[1].agent', message: 'unknown agent "ghost"' },
      { field: 'steps[2].needs[0]', message: 'unknown step "fetch"' },
    ]);
  });

  it('shape (Ajv): required, unknown properties, types, enums, ranges, repeats; paths use [i] and .key', async () => {
    const found = await issues({
      version: '1.0.0',
      extra: true,
      steps: [
        {
          id: 'a',
          agent: 'writer',
          needs: 'x',
          retry: { max_attempts: 0, backoff: 'random', initial_delay_ms: -1, colour: 1 },
          timeout_seconds: 90000,
          priority: 0,
        },
        { id: 'b', agent: 'writer', needs: ['a', 'a'] },
      ],
      tags: [1],
    });
    expect(found).toEqual([
      { field: 'extra', message: 'unknown property "extra"' },
      { field: 'steps[0].needs', message: 'must be array' },
      { field: 'steps[0].retry.max_attempts', message: 'must be >= 1' },
      { field: 'steps[0].retry.backoff', message: 'must be one of: fixed, linear, exponential' },
      { field: 'steps[0].retry.initial_delay_ms', message: 'must be >= 0' },
      { field: 'steps[0].retry.colour', message: 'unknown property "colour"' },
      { field: 'steps[0].timeout_seconds', message: 'must be <= 86400' },
      { field: 'steps[0].priority', message: 'must be >= 1' },
      { field: 'steps[1].needs[1]', message: 'repeats item 0' },
      { field: 'tags[0]', message: 'must be string' },
      // Missing keys come after the keys the document has.
      { field: 'name', message: 'is required' },
    ]);
  });

  it('not an object, a bad version, a bad name, no steps', async () => {
    expect(await issues([1])).toEqual([
      { field: '(document)', message: 'must be an object (a workflow definition)' },
    ]);
    expect(await issues({ name: 'has space', version: 'v1' })).toEqual([
      {
        field: 'name',
        message: 'must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit',
      },
      { field: 'version', message: 'must be a semantic version like 1.0.0 (got "v1")' },
      { field: 'steps', message: 'is required (or a top-level pattern + agents)' },
    ]);
  });

  it('step ids: pattern, reserved "__", duplicates', async () => {
    const found = await issues(
      wf(
        { id: 'Fetch', agent: 'writer' },
        { id: 'x__1', agent: 'writer' },
        { id: 'x', agent: 'writer' },
        { id: 'x', agent: 'writer' },
      ),
    );
    expect(found).toEqual([
      {
        field: 'steps[0].id',
        message: expect.stringContaining('invalid step id "Fetch": use lowercase letters'),
      },
      { field: 'steps[1].id', message: expect.stringContaining('"__" is reserved') },
      { field: 'steps[3].id', message: 'duplicate step id "x" (first at steps[2].id)' },
    ]);
  });

  it("cycles are named in run order on the first-written step's closing need", async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'writer', needs: ['c'] },
        { id: 'b', agent: 'writer', needs: ['a'] },
        { id: 'c', agent: 'writer', needs: ['b'] },
        { id: 'd', agent: 'writer', needs: ['d'] },
      ),
    );
    expect(found).toEqual([
      { field: 'steps[0].needs[0]', message: 'cycle a → b → c → a' },
      { field: 'steps[3].needs[0]', message: 'cycle d → d' },
    ]);
  });

  it('agents: bad references, unknown agents, unsatisfied ranges, missing capabilities', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'has space@1' },
        { id: 'b', agent: 'writer@not-a-range' },
        { id: 'c', agent: 'nosuch@^1' },
        { id: 'd', agent: 'writer@^2.1.0' },
        { id: 'e', capability: 'text:foo' },
      ),
    );
    expect(found).toEqual([
      {
        field: 'steps[0].agent',
        message: 'invalid agent reference "has space@1" (expected name@range, e.g. summarize@^1.0.0)',
      },
      { field: 'steps[1].agent', message: 'invalid version range "not-a-range" in "writer@not-a-range"' },
      { field: 'steps[2].agent', message: 'unknown agent "nosuch"' },
      { field: 'steps[3].agent', message: 'no version of "writer" satisfies "^2.1.0"' },
      { field: 'steps[4].capability', message: 'no agent offers "text:foo"' },
    ]);
  });

  it('asks the resolver once per distinct reference', async () => {
    resolver.calls.length = 0;
    await validateWorkflow(
      wf(
        { id: 'a', agent: 'writer' },
        { id: 'b', agent: 'writer' },
        { id: 'c', capability: 'data:fetch' },
        { id: 'd', capability: 'data:fetch' },
      ),
      resolver,
    );
    expect(resolver.calls).toEqual(['resolve writer@*', 'capability data:fetch']);
  });

  it('never throws on malformed documents: every problem is an issue', async () => {
    const docs: unknown[] = [
      null,
      'steps: []',
      {},
      { ...base, steps: 'x' },
      {
        ...base,
        steps: [null, 1, [], { id: 7, agent: 3, needs: [1, null], input: 'x', when: 5, retry: 'r' }],
      },
      { ...base, steps: [{ id: 'a', type: 'consensus', agents: 'x', strategy: 'voting', quorum: 'q' }] },
      { ...base, steps: [{ id: 'a', pattern: 'mesh', agents: [1, 'writer'], rounds: 'x' }] },
      {
        ...base,
        trigger: 'manual',
        variables: [],
        tags: 'x',
        on_error: 5,
        steps: [{ id: 'a', agent: 'writer' }],
      },
      { ...base, trigger: { type: 'schedule', cron: 5, timezone: 7 }, steps: [{ id: 'a', agent: 'writer' }] },
      { ...base, nodes: 'x', edges: 'y' },
      {
        ...base,
        nodes: [null, { id: 1, type: 2, config: [] }],
        edges: [['a'], 'b', [1, 2], ['x', 'y', 'z']],
      },
    ];
    for (const doc of docs) {
      const result = await validateWorkflow(doc, resolver);
      expect(result.ok, JSON.stringify(doc)).toBe(false);
      if (!result.ok)
        for (const issue of result.issues)
          expect(issue).toEqual({ field: expect.any(String), message: expect.any(String) });
    }
  });

  it('odd input keys stay plain keys and are quoted in fields', async () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "a/b~c": "{{ x( }}"}') as Record<
      string,
      unknown
    >;
    expect(await issues(wf({ id: 'a', agent: 'summarize', input }))).toEqual([
      {
        field: 'steps[0].input',
        message: 'missing required property "text" (input_schema of summarize@1.2.0)',
      },
      { field: 'steps[0].input["a/b~c"]', message: expect.stringMatching(/^expression does not parse/) },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('expands to at most MAX_STEPS steps', async () => {
    // Static patterns only: a dynamic one is a single step however many rounds it may run.
    const steps = Array.from({ length: 21 }, (_, i) => ({
      id: `s${i}`,
      pattern: 'concurrent',
      agents: Array.from({ length: 50 }, () => 'writer'),
    }));
    expect(await issues({ name: 'big', version: '1.0.0', steps })).toEqual([
      { field: 'steps', message: 'expands to 1071 steps; at most 1000 are allowed' },
    ]);
  });
});
