import { describe, expect, it } from 'vitest';
import { BUILTIN_AGENTS } from '../../../src/registry/index.js';
import { validateWorkflow } from '../../../src/registry/workflow/index.js';
import { agent, ListResolver } from './helpers.js';

/** The real builtin manifests, so the step's input is checked against wait_for_event's schema. */
const resolver = new ListResolver([...BUILTIN_AGENTS, agent('writer', '2.0.0')]);
const wf = (...steps: unknown[]) => ({ name: 'wf', version: '1.0.0', steps });

async function issuesOf(doc: unknown) {
  const result = await validateWorkflow(doc, resolver);
  if (result.ok) throw new Error('expected issues, the workflow is valid');
  return result.issues;
}

describe('the wait_for step form', () => {
  it('normalises to a builtin/wait_for_event step whose input carries the wait and what its match reads', async () => {
    const result = await validateWorkflow(
      wf(
        { id: 'order', agent: 'writer' },
        {
          id: 'paid',
          needs: ['order'],
          wait_for: {
            event: 'order.paid',
            source: 'shop',
            match: 'event.payload.order_id = steps.order.output.id and event.payload.total >= trigger.min',
            timeout: '2h',
            lookback: '10m',
            on_timeout: 'continue',
          },
        },
        { id: 'ship', agent: 'writer', needs: ['paid'], input: { event: '{{ steps.paid.output.event }}' } },
      ),
      resolver,
    );
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const paid = result.value.steps.find((s) => s.id === 'paid')!;
    expect(paid).toMatchObject({
      agent: { name: 'builtin/wait_for_event', range: '*' },
      needs: ['order'],
      input: {
        event: 'order.paid',
        source: 'shop',
        match: 'event.payload.order_id = steps.order.output.id and event.payload.total >= trigger.min',
        timeout: '2h',
        lookback: '10m',
        on_timeout: 'continue',
        scope: {
          trigger: '{{ trigger }}',
          variables: '{{ variables }}',
          run: '{{ run }}',
          steps: { order: { output: '{{ steps.order.output }}' } },
        },
      },
    });
    expect(Object.keys(paid.input.scope as object)).not.toContain('item');
  });

  it('in a for_each, the match also sees item and index', async () => {
    const result = await validateWorkflow(
      wf({ id: 'each', for_each: '[1, 2]', wait_for: { event: 'x.done', match: 'event.payload.n = item' } }),
      resolver,
    );
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.value.steps[0]!.input.scope).toMatchObject({ item: '{{ item }}', index: '{{ index }}' });
  });

  it('refuses bad waits, naming the field', async () => {
    const found = await issuesOf(
      wf(
        { id: 'a', wait_for: { event: 'e', timeout: '10 minutes', lookback: '31d', colour: 'red' } },
        { id: 'b', wait_for: { event: 'e', match: 'event.payload.(' } },
        { id: 'c', wait_for: { event: 'e', match: 'steps.nowhere.output = 1', on_timeout: 'approve' } },
        { id: 'd', wait_for: { source: 's' }, input: { x: 1 } },
        { id: 'e', agent: 'writer', wait_for: { event: 'e' } },
        { id: 'f', wait_for: { event: 'e', match: '{{ event.payload.ok }}', timeout: 5 } },
        { id: 'g', wait_for: { event: 'e', match: 'steps.a.output = 1' } },
      ),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        { field: 'steps[0].wait_for.colour', message: 'unknown property "colour"' },
        {
          field: 'steps[0].wait_for.timeout',
          message: expect.stringContaining('must be a duration such as "30s"'),
        },
        { field: 'steps[0].wait_for.lookback', message: 'must be at most 30d, got "31d"' },
        { field: 'steps[1].wait_for.match', message: expect.stringMatching(/^expression does not parse: /) },
        { field: 'steps[2].wait_for.match', message: 'refers to unknown step "nowhere"' },
        { field: 'steps[2].wait_for.on_timeout', message: 'must be one of: fail, continue' },
        { field: 'steps[3].wait_for.event', message: 'is required' },
        { field: 'steps[3].input', message: expect.stringContaining('not allowed with wait_for') },
        {
          field: 'steps[4]',
          message:
            'must have exactly one of agent, capability, pattern, wait_for or type: consensus (has agent, wait_for)',
        },
        { field: 'steps[5].wait_for.match', message: expect.stringContaining('write it without {{ }}') },
        { field: 'steps[5].wait_for.timeout', message: 'must be string' },
        { field: 'steps[6].wait_for.match', message: 'refers to step "a", which is not in needs' },
      ]),
    );
    expect(found.every((i) => i.field.startsWith('steps['))).toBe(true);
  });

  it('accepts the durations it documents', async () => {
    for (const timeout of ['500ms', '30s', '5m', '1h30m', '2d', '365d']) {
      const result = await validateWorkflow(wf({ id: 'w', wait_for: { event: 'e', timeout } }), resolver);
      expect(result.ok, timeout).toBe(true);
    }
  });
});
