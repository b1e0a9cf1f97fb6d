import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approvalView, decideApproval, findApproval, listApprovals } from '../../src/approvals/index.js';
import { configureBlobs, isBlobReference, referenceSha, sweepBlobs } from '../../src/blobs/index.js';
import {
  claimTasks,
  NEVER,
  resolveWaitpoint,
  sleepTask,
  waitpointOf,
  type WaitpointKind,
} from '../../src/queue/index.js';
import { readWaitpoint } from '../../src/worker/waitpoints.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  closeQueueFixture,
  emptyQueue,
  enqueue,
  later,
  openQueueFixture,
  type QueueFixture,
} from './helpers.js';

const KIB = 1024;
const HOUR = 3_600_000;

/** A waitpoint's result over the threshold is a blob its row references (docs/payloads.md). */
describe.each(DIALECTS)("a waitpoint's large result on %s", (dialect) => {
  let f: QueueFixture;
  beforeAll(async () => {
    f = await openQueueFixture(dialect);
  });
  afterAll(() => closeQueueFixture(f));
  beforeEach(async () => {
    configureBlobs({ inlineMax: KIB });
    await f.handle.db.deleteFrom('waitpoints').execute();
    await emptyQueue(f);
  });
  afterEach(() => {
    configureBlobs({});
  });

  /** A task claimed and put to wait under `key`, with no timeout. */
  async function waiting(kind: WaitpointKind, key: string) {
    const [id] = await enqueue(f, [{}]);
    const t0 = later();
    await claimTasks(f.handle, { workerId: 'A', limit: 1, leaseMs: 1000, now: t0 });
    const held = await sleepTask(
      f.handle,
      {
        id: id!,
        leaseEpoch: 1,
        until: NEVER,
        state: { waiting: true },
        waitpoint: {
          owner: { ownerId: f.ownerId, runId: null, stepId: 'wait' },
          request: { key, kind, spec: { message: 'ship it?' } },
        },
      },
      t0,
    );
    expect(held).toBe(true);
    return { taskId: id!, waitpoint: (await waitpointOf(f.handle, id!, key))! };
  }
  const rawResult = async (id: string) =>
    (
      await f.handle.db
        .selectFrom('waitpoints')
        .select('result')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).result;
  const refsOf = (id: string) =>
    f.handle.db
      .selectFrom('blob_refs')
      .select(['sha256', 'owner_id'])
      .where('source', '=', 'waitpoints')
      .where('source_id', '=', id)
      .execute();
  const shaOf = (text: string | null) => {
    const stored: unknown = JSON.parse(text ?? 'null');
    expect(isBlobReference(stored)).toBe(true);
    return referenceSha(stored as never);
  };

  it('stores the winning resolution as a blob and gives the resumed attempt the whole result', async () => {
    const { taskId, waitpoint } = await waiting('event', 'wait_for');
    const resultOf = (n: number) => ({
      event: { id: `e${n}`, payload: { n, text: String(n).repeat(4 * KIB) } },
    });
    const settled = await Promise.all(
      [1, 2].map((n) =>
        resolveWaitpoint(f.handle, {
          id: waitpoint.id,
          ownerId: f.ownerId,
          status: 'resolved',
          result: resultOf(n),
          resolvedBy: `event:e${n}`,
        }),
      ),
    );
    const won = settled.filter((s) => s !== null);
    expect(won).toHaveLength(1);
    const n = (won[0]!.result as ReturnType<typeof resultOf>).event.payload.n;
    expect(won[0]!.result).toEqual(resultOf(n));

    // Only the winner's blob is referenced: the losing resolution left nothing behind.
    const sha = shaOf(await rawResult(waitpoint.id));
    expect(await refsOf(waitpoint.id)).toEqual([{ sha256: sha, owner_id: f.ownerId }]);
    expect((await waitpointOf(f.handle, taskId, 'wait_for'))!.result).toEqual(resultOf(n));
    const outcome = await readWaitpoint(f.handle, { id: taskId, ownerId: f.ownerId }, 'wait_for');
    expect(outcome).toMatchObject({ status: 'resolved', result: resultOf(n) });

    // The sweep keeps the reference while the waitpoint is there; it goes with its task.
    await sweepBlobs(f.handle, new Date(Date.now() + 2 * HOUR));
    expect(await refsOf(waitpoint.id)).toHaveLength(1);
    await emptyQueue(f);
    expect(await f.handle.db.selectFrom('waitpoints').select('id').execute()).toEqual([]);
    expect((await sweepBlobs(f.handle, new Date(Date.now() + 2 * HOUR))).references).toBe(1);
    expect(await refsOf(waitpoint.id)).toEqual([]);
  });

  it("reads a large approval decision whole for the approval's views and its step", async () => {
    const { taskId, waitpoint } = await waiting('approval', 'approval');
    const data = { notes: 'n'.repeat(4 * KIB) };
    const caller = { userId: f.ownerId, role: 'member' as const };
    const decided = await decideApproval(f.handle, caller, waitpoint.id, {
      decision: 'approve',
      comment: 'fine',
      data,
    });
    expect(decided).toMatchObject({ status: 'resolved', decision: 'approve', comment: 'fine' });
    const sha = shaOf(await rawResult(waitpoint.id));
    expect(await refsOf(waitpoint.id)).toEqual([{ sha256: sha, owner_id: f.ownerId }]);

    expect(approvalView(await findApproval(f.handle, f.ownerId, waitpoint.id), null)).toMatchObject({
      decision: 'approve',
      comment: 'fine',
      decidedBy: { id: f.ownerId },
    });
    const { items } = await listApprovals(f.handle, f.ownerId, { status: 'all' });
    expect(items.map((item) => approvalView(item, null))).toMatchObject([
      { id: waitpoint.id, decision: 'approve', comment: 'fine' },
    ]);
    const outcome = await readWaitpoint(f.handle, { id: taskId, ownerId: f.ownerId }, 'approval');
    expect(outcome!.result).toMatchObject({ decision: 'approve', comment: 'fine', data });
  });

  it('stores a small result as before, and reads a result shaped like a reference as it was written', async () => {
    const lookalike = { $blob: `sha256:${'a'.repeat(64)}`, size: 1 };
    const small = await waiting('event', 'small');
    const shaped = await waiting('event', 'shaped');
    for (const [{ waitpoint }, result] of [
      [small, { decision: 'approve' }],
      [shaped, lookalike],
    ] as const)
      await resolveWaitpoint(f.handle, {
        id: waitpoint.id,
        ownerId: f.ownerId,
        status: 'resolved',
        result,
        resolvedBy: 'u1',
      });
    expect(JSON.parse((await rawResult(small.waitpoint.id))!)).toEqual({ decision: 'approve' });
    expect(JSON.parse((await rawResult(shaped.waitpoint.id))!)).toEqual({ '$blob:literal': lookalike });
    expect(await refsOf(small.waitpoint.id)).toEqual([]);
    expect(await refsOf(shaped.waitpoint.id)).toEqual([]);
    expect((await waitpointOf(f.handle, small.taskId, 'small'))!.result).toEqual({ decision: 'approve' });
    expect((await waitpointOf(f.handle, shaped.taskId, 'shaped'))!.result).toEqual(lookalike);
    const outcome = await readWaitpoint(f.handle, { id: shaped.taskId, ownerId: f.ownerId }, 'shaped');
    expect(outcome!.result).toEqual(lookalike);
  });
});
