import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureBlobs, isBlobReference, loadJson, sweepBlobs } from '../../src/blobs/index.js';
import type { WorkflowView } from '../../src/registry/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { drain, engineFixture, type Behaviour, type EngineFixture } from './helpers.js';

const KIB = 1024;
const HOUR = 3_600_000;

/** A run's own values over the threshold are blobs its row references (docs/payloads.md). */
describe.each(DIALECTS)("a run's large values on %s", (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    configureBlobs({ inlineMax: KIB });
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    configureBlobs({});
    await fx.close();
  });

  async function apply(steps: Record<string, unknown>[]): Promise<WorkflowView> {
    const { workflows } = fx.registry.as(fx.caller);
    const name = `wf-${Math.random().toString(36).slice(2, 8)}`;
    return (await workflows.apply({ name, version: '1.0.0', steps })).workflow;
  }
  const start = (workflow: WorkflowView, input: unknown) =>
    fx.engine.startRun(fx.caller, workflow, fx.registry.as(fx.caller).agents, { input });
  const runRow = (id: string) =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .select(['input', 'trigger_data', 'step_results', 'result'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const isReference = (text: string | null) => text !== null && isBlobReference(JSON.parse(text));
  const taskInput = async (runId: string, stepId: string) => {
    const row = await fx.store.handle.db
      .selectFrom('tasks')
      .select('input_data')
      .where('run_id', '=', runId)
      .where('step_id', '=', stepId)
      .executeTakeFirstOrThrow();
    return loadJson(fx.store.handle.db, row.input_data);
  };

  const big = 'x'.repeat(100 * KIB);
  const outputs: Behaviour = (task) =>
    task.stepId === 'a'
      ? { output: { text: big } }
      : task.stepId === 'c'
        ? { output: { text: `${big}c` } }
        : { output: { seen: task.input } };

  it('keeps large inputs, step outputs and results out of the row, and gives every reader the whole value', async () => {
    const workflow = await apply([
      { id: 'a', agent: 'builtin/transform', input: { n: '{{ trigger.n }}' } },
      {
        id: 'b',
        agent: 'builtin/transform',
        needs: ['a'],
        input: { len: '{{ $length(steps.a.output.text) }}', pad: '{{ $length(trigger.pad) }}' },
      },
      { id: 'c', agent: 'builtin/transform', needs: ['b'], input: { text: '{{ steps.a.output.text }}' } },
    ]);
    const input = { n: 1, pad: 'p'.repeat(5 * KIB) };
    const id = await start(workflow, input);
    expect(isReference((await runRow(id)).input)).toBe(true);
    await drain(fx, outputs);

    const row = await runRow(id);
    expect(isReference(row.input)).toBe(true);
    expect(isReference(row.trigger_data)).toBe(true);
    expect(isReference(row.result)).toBe(true);
    // Two outputs of 100 KiB are two references in a row of well under a KiB.
    expect(row.step_results.length).toBeLessThan(KIB);
    expect(row.step_results).toContain('"$blob"');
    const refs = await fx.store.handle.db
      .selectFrom('blob_refs')
      .select(['sha256', 'owner_id'])
      .where('source', '=', 'workflow_runs')
      .where('source_id', '=', id)
      .execute();
    // The input (which is also the trigger data), a's output, c's output and the result.
    expect(refs).toHaveLength(4);
    expect(refs.every((r) => r.owner_id === fx.caller.userId)).toBe(true);

    // The steps after a got its whole output, and the trigger's.
    expect(await taskInput(id, 'b')).toEqual({ len: 100 * KIB, pad: 5 * KIB });
    expect(await taskInput(id, 'c')).toEqual({ text: big });

    const view = await fx.engine.getRun(fx.caller, id);
    expect(view.status).toBe('completed');
    expect(view.result).toEqual({ c: { text: `${big}c` } });
    expect(view.steps.a?.output).toEqual({ text: big });
    expect(view.steps.b?.output).toEqual({ seen: { len: 100 * KIB, pad: 5 * KIB } });
    expect(view.trigger.data).toEqual(input);

    // A list carries links, not the values.
    const listed = (await fx.engine.listRunPage(fx.caller, {})).items.find((r) => r.id === id)!;
    expect(listed.result).toMatchObject({ url: expect.stringMatching(/^\/api\/v1\/blobs\/[0-9a-f]{64}$/) });
    expect(listed.steps.a?.output).toMatchObject({ size: expect.any(Number), url: expect.any(String) });

    // A fork reads the original's outputs whole and holds its own references to them.
    const fork = await fx.engine.forkRun(fx.caller, id, { fromStep: 'c' }, fx.registry.as(fx.caller));
    await drain(fx, outputs);
    expect((await fx.engine.getRun(fx.caller, fork)).steps.a?.output).toEqual({ text: big });
    expect(await taskInput(fork, 'c')).toEqual({ text: big });
    const forkRefs = await fx.store.handle.db
      .selectFrom('blob_refs')
      .select('sha256')
      .where('source', '=', 'workflow_runs')
      .where('source_id', '=', fork)
      .execute();
    // a's output is the original's blob, referenced by the fork too.
    expect(forkRefs.map((r) => r.sha256)).toContain(
      refs.find((r) => JSON.parse(row.step_results).a.output.$blob === `sha256:${r.sha256}`)?.sha256,
    );

    // Once the run is gone (and the grace period over), so are its references and its blobs.
    const later = new Date(Date.now() + 2 * HOUR);
    await fx.store.handle.db.deleteFrom('tasks').where('run_id', 'in', [id, fork]).execute();
    await fx.store.handle.db.deleteFrom('workflow_runs').where('id', 'in', [fork, id]).execute();
    const swept = await sweepBlobs(fx.store.handle, later);
    expect(swept.references).toBeGreaterThanOrEqual(4);
    const left = await fx.store.handle.db
      .selectFrom('blob_refs')
      .select('id')
      .where('source', '=', 'workflow_runs')
      .execute();
    expect(left).toEqual([]);
  });

  it('reads back values shaped like references exactly as they were written', async () => {
    const lookalike = { $blob: `sha256:${'a'.repeat(64)}`, size: 1 };
    const workflow = await apply([
      { id: 'a', agent: 'builtin/transform', input: { n: '{{ trigger.size }}' } },
      { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { size: '{{ steps.a.output.size }}' } },
    ]);
    const id = await start(workflow, lookalike);
    await drain(fx, (task) => (task.stepId === 'a' ? { output: lookalike } : { output: task.input }));
    const row = await runRow(id);
    expect(row.step_results).toContain('$blob:literal');
    const view = await fx.engine.getRun(fx.caller, id);
    expect(view.trigger.data).toEqual(lookalike);
    expect(view.steps.a?.output).toEqual(lookalike);
    expect(view.result).toEqual({ b: { size: 1 } });
    const listed = (await fx.engine.listRunPage(fx.caller, {})).items.find((r) => r.id === id)!;
    expect(listed.steps.a?.output).toEqual(lookalike);
    expect(listed.trigger.data).toEqual(lookalike);
  });
});
