import { describe, expect, it } from 'vitest';
import { BUILTIN_AGENTS } from '../../../src/registry/index.js';
import { validateWorkflow } from '../../../src/registry/workflow/index.js';
import { ListResolver } from './helpers.js';

const resolver = new ListResolver([...BUILTIN_AGENTS]);
const wf = (more: Record<string, unknown>) => ({
  name: 'wf',
  version: '1.0.0',
  steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
  ...more,
});

async function issuesOf(doc: unknown) {
  const result = await validateWorkflow(doc, resolver);
  if (result.ok) throw new Error('expected issues, the workflow is valid');
  return result.issues;
}

describe('flow control in a definition', () => {
  it('normalises concurrency (strategy queue by default) and trigger debounce / throttle', async () => {
    const ok = await validateWorkflow(wf({ concurrency: { key: 'input.tenant', limit: 2 } }), resolver);
    if (!ok.ok) throw new Error(JSON.stringify(ok.issues));
    expect(ok.value.concurrency).toEqual({ key: 'input.tenant', limit: 2, strategy: 'queue' });

    const debounced = await validateWorkflow(
      wf({
        trigger: {
          type: 'event',
          source: 'shop',
          event_type: 'cart.updated',
          debounce: { key: 'payload.cart', period: '5s' },
        },
      }),
      resolver,
    );
    if (!debounced.ok) throw new Error(JSON.stringify(debounced.issues));
    expect(debounced.value.trigger).toMatchObject({
      type: 'event',
      debounce: { key: 'payload.cart', period: '5s', period_ms: 5000 },
    });
    const throttled = await validateWorkflow(
      wf({ trigger: { type: 'webhook', throttle: { limit: 3, period: '1m' } } }),
      resolver,
    );
    if (!throttled.ok) throw new Error(JSON.stringify(throttled.issues));
    expect(throttled.value.trigger).toEqual({
      type: 'webhook',
      throttle: { period: '1m', period_ms: 60_000, limit: 3 },
    });
  });

  it('refuses a bad concurrency naming the field', async () => {
    expect(await issuesOf(wf({ concurrency: { limit: 0 } }))).toEqual([
      { field: 'concurrency.limit', message: 'must be >= 1' },
    ]);
    expect(await issuesOf(wf({ concurrency: { limit: 1, strategy: 'drop_oldest' } }))).toEqual([
      { field: 'concurrency.strategy', message: 'must be one of: queue, cancel_in_progress, cancel_newest' },
    ]);
    const [parse] = await issuesOf(wf({ concurrency: { limit: 1, key: 'input.(' } }));
    expect(parse).toMatchObject({
      field: 'concurrency.key',
      message: expect.stringMatching(/^expression does not parse/),
    });
    expect(await issuesOf(wf({ concurrency: { key: 'input.x' } }))).toEqual([
      { field: 'concurrency.limit', message: 'is required' },
    ]);
    expect(await issuesOf(wf({ concurrency: { limit: 1, key: '{{ input.x }}' } }))).toEqual([
      { field: 'concurrency.key', message: 'is a bare JSONata expression: write it without {{ }}' },
    ]);
  });

  it('refuses a bad debounce or throttle naming the field', async () => {
    const event = { type: 'event', source: 's', event_type: 't' };
    const [period] = await issuesOf(wf({ trigger: { ...event, debounce: { period: 'soon' } } }));
    expect(period).toMatchObject({
      field: 'trigger.debounce.period',
      message: expect.stringMatching(/^must be a duration/),
    });
    expect(await issuesOf(wf({ trigger: { ...event, debounce: { period: '2d' } } }))).toEqual([
      { field: 'trigger.debounce.period', message: 'must be at most 1d, got "2d"' },
    ]);
    expect(await issuesOf(wf({ trigger: { ...event, throttle: { period: '1s', limit: 0 } } }))).toEqual([
      { field: 'trigger.throttle.limit', message: 'must be >= 1' },
    ]);
    const [key] = await issuesOf(
      wf({ trigger: { ...event, throttle: { period: '1s', limit: 1, key: ')' } } }),
    );
    expect(key).toMatchObject({ field: 'trigger.throttle.key' });
    expect(
      await issuesOf(
        wf({ trigger: { ...event, throttle: { period: '1s', limit: 1 }, debounce: { period: '1s' } } }),
      ),
    ).toEqual([{ field: 'trigger.throttle', message: 'use either debounce or throttle, not both' }]);
    expect(
      await issuesOf(wf({ trigger: { type: 'schedule', cron: '* * * * *', debounce: { period: '1s' } } })),
    ).toEqual([{ field: 'trigger.debounce', message: 'not allowed on schedule triggers' }]);
  });
});
