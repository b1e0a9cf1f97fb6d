import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunLogs } from '../../src/engine/index.js';
import { stepOrder } from '../../src/engine/step-order.js';
import type { NormalizedWorkflow } from '../../src/registry/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, type EngineFixture } from './helpers.js';

// PostgreSQL's jsonb orders an object's keys shortest first: these ids come back as ab, tag,
// summarize. A run must read (and log) them as they depend on each other instead.
const CHAIN = ['summarize', 'tag', 'ab'];

describe('stepOrder', () => {
  const workflow = (steps: Array<{ id: string; needs?: string[] }>) =>
    ({ steps: steps.map((s) => ({ needs: [], ...s })) }) as unknown as NormalizedWorkflow;

  it("is the definition's order when that lists each step after its needs", () => {
    expect(stepOrder(workflow([{ id: 'b' }, { id: 'a', needs: ['b'] }, { id: 'c' }]))).toEqual([
      'b',
      'a',
      'c',
    ]);
  });

  it('puts a step after the steps it needs, otherwise keeping the listed order', () => {
    const steps = [
      { id: 'report', needs: ['count', 'mood'] },
      { id: 'mood', needs: ['count'] },
      { id: 'count' },
      { id: 'other' },
    ];
    expect(stepOrder(workflow(steps))).toEqual(['count', 'mood', 'report', 'other']);
  });
});

describe.each(DIALECTS)('a run read back on %s', (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  async function run(listed: string[]): Promise<string> {
    // Each step of the chain needs the one before it in CHAIN, whatever order they are listed in.
    const steps = listed.map((id) => {
      const before = CHAIN[CHAIN.indexOf(id) - 1];
      return {
        id,
        agent: 'builtin/transform',
        input: { step: id },
        ...(before === undefined ? {} : { needs: [before] }),
      };
    });
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({ name: `w-${listed.join('-')}`, version: '1.0.0', steps });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input: {} });
    await drain(fx);
    return id;
  }

  it.each([
    ['listed in dependency order', CHAIN],
    ['listed backwards', [...CHAIN].reverse()],
  ])('shows and logs its steps in dependency order when %s', async (_, listed) => {
    const id = await run(listed);
    const view = await fx.engine.getRun(fx.caller, id);
    expect(view.status).toBe('completed');
    expect(Object.keys(view.steps)).toEqual(CHAIN);
    const [listedView] = await fx.engine.listRuns(fx.caller, { limit: 1 });
    expect(Object.keys(listedView!.steps)).toEqual(CHAIN);

    // A step's completion is logged before the start of the step it released (same transaction).
    const lines = await new RunLogs(fx.store).list(fx.caller, id, { limit: 100 });
    expect(lines.map((l) => l.message)).toEqual([
      'run started: ' + `w-${listed.join('-')}@1.0.0 (manual)`,
      'step summarize running',
      'step summarize completed',
      'step tag running',
      'step tag completed',
      'step ab running',
      'step ab completed',
      'run completed',
    ]);
  });
});
