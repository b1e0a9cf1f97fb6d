import { describe, expect, it } from 'vitest';
import { DEFAULTS, valid } from './helpers.js';

const base = { name: 'digest', version: '1.0.0' };

describe('steps form: good definitions normalise to the DAG', () => {
  it('a linear chain keeps ids, needs, agent refs and inputs, with every default filled', async () => {
    const wf = await valid({
      ...base,
      description: 'fetch then summarise',
      variables: { url: 'https://example.com' },
      tags: ['demo'],
      steps: [
        { id: 'fetch', agent: 'fetcher@^1.0.0', input: { url: '{{ variables.url }}' } },
        {
          id: 'summary',
          agent: 'summarize@~1.2',
          needs: ['fetch'],
          input: { text: '{{ steps.fetch.output.body }}', max_words: 50 },
        },
        {
          id: 'notify',
          agent: 'builtin/send_email',
          needs: ['summary'],
          input: { body: 'Summary: {{ steps.summary.output }}' },
        },
      ],
    });
    expect(wf).toEqual({
      name: 'digest',
      version: '1.0.0',
      description: 'fetch then summarise',
      trigger: { type: 'manual' },
      variables: { url: 'https://example.com' },
      tags: ['demo'],
      steps: [
        {
          id: 'fetch',
          agent: { name: 'fetcher', range: '^1.0.0' },
          input: { url: '{{ variables.url }}' },
          needs: [],
          ...DEFAULTS,
        },
        {
          id: 'summary',
          agent: { name: 'summarize', range: '~1.2' },
          input: { text: '{{ steps.fetch.output.body }}', max_words: 50 },
          needs: ['fetch'],
          ...DEFAULTS,
        },
        {
          id: 'notify',
          agent: { name: 'builtin/send_email', range: '*' },
          input: { body: 'Summary: {{ steps.summary.output }}' },
          needs: ['summary'],
          ...DEFAULTS,
        },
      ],
    });
  });

  it('fan-out with for_each and fan-in; steps come out topologically sorted, stable otherwise', async () => {
    const wf = await valid({
      ...base,
      variables: { pages: ['a', 'b'] },
      steps: [
        // Written out of order: the join first.
        {
          id: 'join',
          agent: 'builtin/transform',
          needs: ['each'],
          input: { all: '{{ steps.each.output }}' },
        },
        {
          id: 'list',
          capability: 'data:fetch',
          routing: 'least_loaded',
          input: { pages: '{{ variables.pages }}' },
        },
        {
          id: 'each',
          agent: 'summarize@^1',
          needs: ['list'],
          for_each: 'steps.list.output.items',
          input: { text: '{{ item }}' },
        },
        { id: 'loose', agent: 'builtin/noop', for_each: 'variables.pages', priority: 9, timeout_seconds: 30 },
      ],
    });
    expect(wf.steps.map((s) => s.id)).toEqual(['list', 'each', 'join', 'loose']);
    expect(wf.steps[0]).toEqual({
      id: 'list',
      capability: { name: 'data:fetch', routing: 'least_loaded' },
      input: { pages: '{{ variables.pages }}' },
      needs: [],
      ...DEFAULTS,
    });
    expect(wf.steps[1]).toEqual({
      id: 'each',
      agent: { name: 'summarize', range: '^1' },
      input: { text: '{{ item }}' },
      needs: ['list'],
      for_each: 'steps.list.output.items',
      ...DEFAULTS,
    });
    expect(wf.steps[2]?.needs).toEqual(['each']);
    expect(wf.steps[3]).toMatchObject({ for_each: 'variables.pages', priority: 9, timeout_seconds: 30 });
  });

  it('a condition (when) is kept as a bare expression; capability routing defaults to round_robin', async () => {
    const wf = await valid({
      ...base,
      steps: [
        { id: 'check', capability: 'text:summarize', input: { text: 'x' } },
        {
          id: 'alert',
          agent: 'builtin/send_email@^1',
          needs: ['check'],
          when: 'steps.check.output.score > 0.8',
        },
      ],
    });
    expect(wf.steps[0]?.capability).toEqual({ name: 'text:summarize', routing: 'round_robin' });
    expect(wf.steps[1]).toEqual({
      id: 'alert',
      agent: { name: 'builtin/send_email', range: '^1' },
      input: {},
      needs: ['check'],
      when: 'steps.check.output.score > 0.8',
      ...DEFAULTS,
    });
  });

  it('retry fills what is left out; the cap follows a larger initial delay', async () => {
    const wf = await valid({
      ...base,
      steps: [
        { id: 'a', agent: 'writer', retry: { max_attempts: 5, backoff: 'linear' } },
        { id: 'b', agent: 'writer', retry: { initial_delay_ms: 120000, jitter: false } },
      ],
    });
    expect(wf.steps[0]?.retry).toEqual({
      max_attempts: 5,
      backoff: 'linear',
      initial_delay_ms: 1000,
      max_delay_ms: 60000,
      jitter: true,
    });
    expect(wf.steps[1]?.retry).toEqual({
      max_attempts: 1,
      backoff: 'exponential',
      initial_delay_ms: 120000,
      max_delay_ms: 120000,
      jitter: false,
    });
  });

  it('reads every trigger type with its defaults', async () => {
    const steps = [{ id: 'a', agent: 'writer' }];
    expect(
      (await valid({ ...base, steps, trigger: { type: 'webhook', path: '/inbound/mail' } })).trigger,
    ).toEqual({ type: 'webhook', path: 'inbound/mail' });
    expect((await valid({ ...base, steps, trigger: { type: 'webhook' } })).trigger).toEqual({
      type: 'webhook',
    });
    expect(
      (await valid({ ...base, steps, trigger: { type: 'schedule', cron: '*/5 * * * *' } })).trigger,
    ).toEqual({
      type: 'schedule',
      cron: '*/5 * * * *',
      timezone: 'UTC',
      misfire: 'skip',
      catch_up_limit: 10,
    });
    expect(
      (
        await valid({
          ...base,
          steps,
          trigger: {
            type: 'schedule',
            cron: '0 0 9 * * MON-FRI',
            timezone: 'europe/paris',
            misfire: 'catch_up',
            catch_up_limit: 3,
          },
        })
      ).trigger,
    ).toEqual({
      type: 'schedule',
      cron: '0 0 9 * * MON-FRI',
      timezone: 'Europe/Paris',
      misfire: 'catch_up',
      catch_up_limit: 3,
    });
    expect(
      (await valid({ ...base, steps, trigger: { type: 'event', source: 'crm', event_type: 'lead.created' } }))
        .trigger,
    ).toEqual({
      type: 'event',
      source: 'crm',
      event_type: 'lead.created',
      allow_self: false,
    });
  });

  it('on_error and on_success take one handler or a list, normalised to lists', async () => {
    const wf = await valid({
      ...base,
      steps: [{ id: 'a', agent: 'writer' }],
      on_error: {
        agent: 'builtin/send_email',
        input: { body: 'failed: {{ error.message }} after {{ steps.a.output }}' },
      },
      on_success: [{ agent: 'builtin/noop' }, { agent: 'editor@1.0.0', input: { x: 1 } }],
    });
    expect(wf.on_error).toEqual([
      {
        agent: { name: 'builtin/send_email', range: '*' },
        input: { body: 'failed: {{ error.message }} after {{ steps.a.output }}' },
      },
    ]);
    expect(wf.on_success).toEqual([
      { agent: { name: 'builtin/noop', range: '*' }, input: {} },
      { agent: { name: 'editor', range: '1.0.0' }, input: { x: 1 } },
    ]);
  });

  it('the result shares nothing with the document', async () => {
    const doc = { ...base, steps: [{ id: 'a', agent: 'writer', input: { list: [1] } }] };
    const wf = await valid(doc);
    (wf.steps[0]!.input.list as number[]).push(2);
    expect(doc.steps[0]!.input.list).toEqual([1]);
  });
});
