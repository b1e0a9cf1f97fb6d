import { describe, expect, it } from 'vitest';
import { issues, valid } from './helpers.js';

const base = { name: 'wf', version: '1.0.0' };
const wf = (...steps: unknown[]) => ({ ...base, steps });

describe('expressions', () => {
  it('reports every template or bare expression that does not parse, at its exact place', async () => {
    const found = await issues(
      wf({
        id: 'a',
        agent: 'writer',
        input: {
          nested: { list: ['ok', '{{ $count( }}'] },
          'odd key': 'x {{ a b c ) }} y',
          open: '{{ trigger',
          empty: '{{ }}',
        },
        when: 'trigger.x = ',
        for_each: '{{ variables.items }}',
      }),
    );
    expect(found).toEqual([
      {
        field: 'steps[0].input.nested.list[1]',
        message: expect.stringMatching(/^expression does not parse: .+ \(at character \d+\)$/),
      },
      { field: 'steps[0].input["odd key"]', message: expect.stringMatching(/^expression does not parse: /) },
      { field: 'steps[0].input.open', message: 'has "{{" without a closing "}}"' },
      { field: 'steps[0].input.empty', message: 'has an empty "{{ }}"' },
      { field: 'steps[0].when', message: expect.stringMatching(/^expression does not parse: /) },
      { field: 'steps[0].for_each', message: 'is a bare JSONata expression: write it without {{ }}' },
    ]);
  });

  it('steps.<id> must be a transitive need of the step that reads it', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'writer' },
        { id: 'b', agent: 'writer', needs: ['a'] },
        {
          id: 'c',
          agent: 'writer',
          needs: ['b'],
          input: { ok: '{{ steps.a.output }}', self: '{{ steps.c.output }}' },
        },
        {
          id: 'd',
          agent: 'writer',
          needs: ['a'],
          input: { x: 'see {{ steps.b.output.text }}' },
          when: 'steps.nope.output',
          for_each: '$map(steps.c.output, function($v){ $v })',
        },
      ),
    );
    expect(found).toEqual([
      { field: 'steps[2].input.self', message: 'refers to step "c", which is not in needs' },
      { field: 'steps[3].input.x', message: 'refers to step "b", which is not in needs' },
      { field: 'steps[3].when', message: 'refers to unknown step "nope"' },
      { field: 'steps[3].for_each', message: 'refers to step "c", which is not in needs' },
    ]);
  });

  it("pattern and consensus inputs are checked against the pattern step's needs", async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'writer' },
        {
          id: 'p',
          pattern: 'concurrent',
          agents: ['writer', 'editor'],
          input: { x: '{{ steps.a.output }}', y: '{{ steps.p__1.output }}' },
        },
      ),
    );
    expect(found).toEqual([
      { field: 'steps[1].input.x', message: 'refers to step "a", which is not in needs' },
      { field: 'steps[1].input.y', message: 'refers to unknown step "p__1"' },
    ]);
  });
});

describe('for_each must be a list when that can be known', () => {
  it('literals and variables paths that are not lists', async () => {
    const found = await issues({
      ...wf(
        { id: 'a', agent: 'writer', for_each: '"abc"' },
        { id: 'b', agent: 'writer', for_each: '42' },
        { id: 'c', agent: 'writer', for_each: '{"k": 1}' },
        { id: 'd', agent: 'writer', for_each: 'variables.items' },
        { id: 'e', agent: 'writer', for_each: 'variables.cfg.pages' },
      ),
      variables: { items: 'a,b', cfg: { pages: { n: 1 } } },
    });
    expect(found).toEqual([
      { field: 'steps[0].for_each', message: 'is not a list (it is a string literal)' },
      { field: 'steps[1].for_each', message: 'is not a list (it is a number literal)' },
      { field: 'steps[2].for_each', message: 'is not a list (it is an object literal)' },
      { field: 'steps[3].for_each', message: 'is not a list (variables.items is a string)' },
      { field: 'steps[4].for_each', message: 'is not a list (variables.cfg.pages is an object)' },
    ]);
  });

  it('accepts lists, unknown values, and paths mapped over lists', async () => {
    await valid({
      ...wf(
        { id: 'a', agent: 'writer', for_each: '[1, 2]' },
        { id: 'b', agent: 'writer', for_each: 'variables.items' },
        { id: 'c', agent: 'writer', for_each: 'variables.groups.name' },
        { id: 'd', agent: 'writer', for_each: 'trigger.rows' },
        { id: 'e', agent: 'writer', for_each: 'variables.undeclared' },
      ),
      variables: { items: [1], groups: [{ name: 'x' }] },
    });
  });
});

describe("input against the agent's input_schema (literal parts only)", () => {
  it('missing required properties and literal values of the wrong type', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'summarize', input: { max_words: 'ten' } },
        { id: 'b', agent: 'summarize', input: { text: 5, max_words: 0 } },
      ),
    );
    expect(found).toEqual([
      {
        field: 'steps[0].input',
        message: 'missing required property "text" (input_schema of summarize@1.2.0)',
      },
      { field: 'steps[0].input.max_words', message: 'must be integer (input_schema of summarize@1.2.0)' },
      { field: 'steps[1].input.text', message: 'must be string (input_schema of summarize@1.2.0)' },
      { field: 'steps[1].input.max_words', message: 'must be >= 1 (input_schema of summarize@1.2.0)' },
    ]);
  });

  it('nested literals, unknown keys and alternatives; nothing is said about templated parts', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'mailer', input: { to: 5, options: { mode: 'rtf' }, cc: 'x' } },
        { id: 'b', agent: 'mailer', input: { to: ['{{ trigger.a }}', 'b@example.com'], options: {} } },
        { id: 'c', agent: 'mailer', input: { to: '{{ trigger.to }}', options: '{{ trigger.options }}' } },
        { id: 'd', agent: 'mailer', input: { to: 'x', options: { mode: '{{ trigger.mode }}' } } },
      ),
    );
    const of = ' (input_schema of mailer@1.0.0)';
    expect(found).toEqual([
      { field: 'steps[0].input.to', message: `must match a schema in anyOf${of}` },
      { field: 'steps[0].input.options.mode', message: `must be equal to one of the allowed values${of}` },
      { field: 'steps[0].input.cc', message: `is not a property the agent accepts${of}` },
      { field: 'steps[1].input.options', message: `missing required property "mode"${of}` },
    ]);
  });

  it('expression values count as present and of unknown type', async () => {
    await valid(
      wf({
        id: 'a',
        agent: 'summarize',
        input: { text: '{{ trigger.n }}', max_words: '{{ trigger.words }}' },
      }),
    );
  });

  it('applies to inputs that reach an agent unchanged: consensus members, a chain head, handlers, nodes', async () => {
    const found = await issues({
      ...wf(
        {
          id: 'v',
          type: 'consensus',
          strategy: 'voting',
          agents: ['writer', 'summarize'],
          input: { topic: 'x' },
        },
        { id: 's', pattern: 'sequential', agents: ['writer', 'summarize'], input: { topic: 'x' } },
      ),
      on_success: { agent: 'summarize', input: { text: [] } },
    });
    expect(found).toEqual([
      {
        field: 'steps[0].input',
        message: 'missing required property "text" (input_schema of summarize@1.2.0)',
      },
      { field: 'on_success.input.text', message: 'must be string (input_schema of summarize@1.2.0)' },
    ]);
    const node = await issues({
      ...base,
      nodes: [{ id: 'n1', type: 'summarize@^1', config: { text: true } }],
    });
    expect(node).toEqual([
      { field: 'nodes[0].config.text', message: 'must be string (input_schema of summarize@1.2.0)' },
    ]);
  });
});

describe('triggers', () => {
  const steps = [{ id: 'a', agent: 'writer' }];
  it('cron expressions and time zones', async () => {
    expect(
      await issues({
        ...base,
        steps,
        trigger: { type: 'schedule', cron: '61 * * * *', timezone: 'Mars/Base' },
      }),
    ).toEqual([
      {
        field: 'trigger.cron',
        message: 'invalid cron expression "61 * * * *": Invalid value for minute: 61',
      },
      { field: 'trigger.timezone', message: 'unknown time zone "Mars/Base"' },
    ]);
    expect(await issues({ ...base, steps, trigger: { type: 'schedule', cron: '* * *' } })).toEqual([
      {
        field: 'trigger.cron',
        message: expect.stringContaining('invalid cron expression "* * *": expected 5 fields'),
      },
    ]);
    expect(await issues({ ...base, steps, trigger: { type: 'schedule', cron: '0 0 30 2 *' } })).toEqual([
      { field: 'trigger.cron', message: 'cron expression "0 0 30 2 *" never fires' },
    ]);
  });

  it('fields required and allowed per trigger type', async () => {
    expect(await issues({ ...base, steps, trigger: { type: 'schedule', path: 'x' } })).toEqual([
      { field: 'trigger.path', message: 'not allowed on schedule triggers' },
      { field: 'trigger.cron', message: 'is required for schedule triggers' },
    ]);
    expect(await issues({ ...base, steps, trigger: { type: 'event', source: 'crm', when: 1 } })).toEqual([
      { field: 'trigger.when', message: 'unknown property "when"' },
      { field: 'trigger.event_type', message: 'is required for event triggers' },
    ]);
    expect(await issues({ ...base, steps, trigger: { type: 'webhook', path: '../etc' } })).toEqual([
      { field: 'trigger.path', message: expect.stringContaining('invalid webhook path "../etc"') },
    ]);
    // allow_self (the event loop guard's opt-in) is a boolean, and only event triggers have it.
    expect(await issues({ ...base, steps, trigger: { type: 'webhook', allow_self: true } })).toEqual([
      { field: 'trigger.allow_self', message: 'not allowed on webhook triggers' },
    ]);
    expect(
      await issues({
        ...base,
        steps,
        trigger: { type: 'event', source: 'a', event_type: 'b', allow_self: 'yes' },
      }),
    ).toEqual([{ field: 'trigger.allow_self', message: expect.stringMatching(/boolean/) }]);
    expect(await issues({ ...base, steps, trigger: { type: 'pubsub' } })).toEqual([
      { field: 'trigger.type', message: 'must be one of: manual, webhook, schedule, cron, event' },
    ]);
  });
});
