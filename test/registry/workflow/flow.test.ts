import { describe, expect, it } from 'vitest';
import { issues, valid } from './helpers.js';

const wf = (...steps: unknown[]) => ({ name: 'wf', version: '1.0.0', steps });

describe('step flow control: concurrency and rate_limit', () => {
  it('normalises one limit, a list, and a rate limit with its period', async () => {
    const one = await valid(
      wf({ id: 'a', agent: 'writer', concurrency: { key: 'trigger.customer', limit: 2 } }),
    );
    expect(one.steps[0]!.flow).toEqual([
      { kind: 'concurrency', key: 'trigger.customer', limit: 2, scope: 'step' },
    ]);
    const many = await valid(
      wf({
        id: 'a',
        agent: 'writer',
        concurrency: [
          { limit: 5, scope: 'agent' },
          { key: 'trigger.region', limit: 1, scope: 'owner' },
        ],
        rate_limit: { limit: 10, period: '1m', scope: 'workflow' },
      }),
    );
    expect(many.steps[0]!.flow).toEqual([
      { kind: 'concurrency', limit: 5, scope: 'agent' },
      { kind: 'concurrency', key: 'trigger.region', limit: 1, scope: 'owner' },
      { kind: 'rate', limit: 10, period_ms: 60_000, scope: 'workflow' },
    ]);
    const none = await valid(wf({ id: 'a', agent: 'writer' }));
    expect(none.steps[0]!.flow).toBeUndefined();
  });

  it('refuses a limit of 0, a bad expression, an unknown scope and a bad period, naming each field', async () => {
    const found = await issues(
      wf(
        { id: 'a', agent: 'writer', concurrency: { limit: 0 } },
        { id: 'b', agent: 'writer', concurrency: { key: 'trigger.(', limit: 1 } },
        { id: 'c', agent: 'writer', concurrency: [{ limit: 1, scope: 'galaxy' }] },
        { id: 'd', agent: 'writer', rate_limit: { limit: 3, period: 'often' } },
        { id: 'e', capability: 'email:send', concurrency: { limit: 1, scope: 'agent' } },
        { id: 'f', agent: 'writer', rate_limit: { limit: 3 } },
      ),
    );
    const fields = found.map((issue) => issue.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'steps[0].concurrency.limit',
        'steps[1].concurrency.key',
        'steps[2].concurrency[0].scope',
        'steps[3].rate_limit.period',
        'steps[4].concurrency.scope',
        'steps[5].rate_limit.period',
      ]),
    );
    expect(found.find((issue) => issue.field === 'steps[0].concurrency.limit')?.message).toBe('must be >= 1');
  });

  it('refuses flow limits on a pattern step', async () => {
    const found = await issues(
      wf({ id: 'p', pattern: 'sequential', agents: ['writer', 'editor'], concurrency: { limit: 1 } }),
    );
    expect(found.map((issue) => issue.field)).toContain('steps[0].concurrency');
  });
});
