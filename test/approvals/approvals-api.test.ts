import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/auth/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { approvalsFixture, reviewSteps, type ApprovalsFixture, type Node } from './helpers.js';

describe.each(DIALECTS)('approvals through the API on %s', (dialect) => {
  let fx: ApprovalsFixture;
  let node: Node;
  beforeAll(async () => {
    fx = await approvalsFixture(dialect);
    node = await fx.start();
  });
  afterAll(() => fx.close());

  const auditRows = (id: string) =>
    node.store.handle.db
      .selectFrom('audit_logs')
      .selectAll()
      .where('resource_type', '=', 'approval')
      .where('resource_id', '=', id)
      .execute();

  it('approves with form data: the run carries on with the decision, who and when in the output and the audit log', async () => {
    const { alice, bob } = fx.people;
    const runId = await fx.startRun(
      node,
      reviewSteps({
        message: 'Refund order 42?',
        data: { order: 42, amount: 120 },
        form: {
          type: 'object',
          required: ['amount'],
          properties: { amount: { type: 'number', maximum: 200 } },
        },
      }),
    );
    const approval = await fx.waitingApproval(node, runId);
    expect(approval).toMatchObject({
      status: 'waiting',
      workflowName: expect.stringMatching(/^approve/),
      stepId: 'review',
      message: 'Refund order 42?',
      data: { order: 42, amount: 120 },
      canDecide: true,
      decision: null,
    });
    // The step holds no worker while it waits.
    const task = await node.store.handle.db
      .selectFrom('tasks')
      .select(['status', 'locked_by'])
      .where('run_id', '=', runId)
      .where('step_id', '=', 'review')
      .executeTakeFirstOrThrow();
    expect(task).toEqual({ status: 'PENDING', locked_by: null });

    const url = `/api/v1/approvals/${approval.id}`;
    // Someone else's approval does not exist for them; an unknown one for nobody.
    expect((await fx.call(node, 'GET', url, bob)).statusCode).toBe(404);
    expect((await fx.call(node, 'POST', url, bob, { decision: 'approve' })).statusCode).toBe(404);
    expect(
      (await fx.call(node, 'POST', '/api/v1/approvals/nope', alice, { decision: 'approve' })).statusCode,
    ).toBe(404);
    // Bad input names the field and writes nothing.
    const badDecision = await fx.call(node, 'POST', url, alice, { decision: 'maybe' });
    expect(badDecision.statusCode).toBe(400);
    expect(badDecision.json().errors[0].field).toMatch(/decision/);
    const badForm = await fx.call(node, 'POST', url, alice, { decision: 'approve', data: { amount: 500 } });
    expect(badForm.statusCode).toBe(400);
    expect(badForm.json().errors[0]).toMatchObject({ field: 'data.amount' });
    const missing = await fx.call(node, 'POST', url, alice, { decision: 'approve', data: {} });
    expect(missing.json().errors[0]).toMatchObject({ field: 'data.amount', message: 'is required' });
    expect((await fx.call(node, 'GET', url, alice)).json().status).toBe('waiting');
    expect(await auditRows(approval.id)).toEqual([]);

    const decided = await fx.call(node, 'POST', url, alice, {
      decision: 'approve',
      data: { amount: 100 },
      comment: 'partial refund',
    });
    expect(decided.statusCode, decided.body).toBe(200);
    expect(decided.json()).toMatchObject({
      status: 'resolved',
      decision: 'approve',
      comment: 'partial refund',
      decidedBy: { id: alice.id, email: alice.email, via: 'api' },
      canDecide: false,
    });
    const again = await fx.call(node, 'POST', url, alice, { decision: 'reject' });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('APPROVAL_SETTLED');

    const run = await fx.finished(node, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.review!.output).toMatchObject({
      decision: 'approve',
      approved: true,
      data: { amount: 100 },
      comment: 'partial refund',
      decided_by: { id: alice.id, email: alice.email, via: 'api' },
      decided_at: expect.any(String),
    });
    expect(run.steps.after!.output).toMatchObject({ review: { approved: true } });
    const audit = await auditRows(approval.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'approval.approve', actor_id: alice.id, owner_id: alice.id });

    const listed = await fx.call(node, 'GET', '/api/v1/approvals?status=resolved', alice);
    expect(listed.json().items.map((a: { id: string }) => a.id)).toContain(approval.id);
    expect((await fx.call(node, 'GET', '/api/v1/approvals', alice)).json().items).toEqual([]);
    expect((await fx.call(node, 'GET', '/api/v1/approvals?status=maybe', alice)).statusCode).toBe(400);
  });

  it('rejects: the step fails with who rejected it and why, and the run fails', async () => {
    const { alice } = fx.people;
    const runId = await fx.startRun(node, reviewSteps({ message: 'Deploy on Friday?' }));
    const approval = await fx.waitingApproval(node, runId);
    const rejected = await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}`, alice, {
      decision: 'reject',
      comment: 'not on a Friday',
    });
    expect(rejected.statusCode).toBe(200);
    const run = await fx.finished(node, runId);
    expect(run.status).toBe('failed');
    expect(run.steps.review!.error).toContain('rejected by alice@example.com: "not on a Friday"');
    expect(run.steps.after?.status ?? 'pending').not.toBe('completed');
    expect((await auditRows(approval.id))[0]).toMatchObject({ action: 'approval.reject' });
  });

  it('lets only the owner, the named people and the listed roles decide (403 for anyone else)', async () => {
    const { alice, root } = fx.people;
    const asAlice = { 'x-swarm-owner': alice.id };
    const named = await fx.startRun(
      node,
      reviewSteps({ message: 'Boss only', approvers: { users: ['BOSS@example.com'] } }),
    );
    const first = await fx.waitingApproval(node, named);
    // The admin acting for alice sees it but may not decide it.
    const seen = await fx.call(node, 'GET', `/api/v1/approvals/${first.id}`, root, undefined, asAlice);
    expect(seen.json()).toMatchObject({ canDecide: false });
    const refused = await fx.call(
      node,
      'POST',
      `/api/v1/approvals/${first.id}`,
      root,
      { decision: 'approve' },
      asAlice,
    );
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'FORBIDDEN' });
    expect(refused.json().detail).toContain('BOSS@example.com');
    // The owner always may.
    expect(
      (await fx.call(node, 'POST', `/api/v1/approvals/${first.id}`, alice, { decision: 'approve' }))
        .statusCode,
    ).toBe(200);
    expect((await fx.finished(node, named)).status).toBe('completed');

    const byRole = await fx.startRun(
      node,
      reviewSteps({ message: 'Admins', approvers: { roles: ['admin'] } }),
    );
    const second = await fx.waitingApproval(node, byRole);
    const admin = await fx.call(
      node,
      'POST',
      `/api/v1/approvals/${second.id}`,
      root,
      { decision: 'approve' },
      asAlice,
    );
    expect(admin.statusCode).toBe(200);
    expect(admin.json().decidedBy).toMatchObject({ id: root.id, email: root.email });
    const run = await fx.finished(node, byRole);
    expect(run.steps.review!.output).toMatchObject({ decided_by: { id: root.id } });

    // A key without runs:write cannot decide at all, though it reads.
    const generated = generateApiKey();
    await node.store.as(alice.caller).apiKeys.create({
      name: 'ro',
      prefix: generated.prefix,
      hash: generated.hash,
      scopes: ['runs:read'],
    });
    const third = await fx.startRun(node, reviewSteps({ message: 'read only' }));
    const waiting = await fx.waitingApproval(node, third);
    const reader = { ...alice, key: generated.key };
    expect((await fx.call(node, 'GET', `/api/v1/approvals/${waiting.id}`, reader)).statusCode).toBe(200);
    const noScope = await fx.call(node, 'POST', `/api/v1/approvals/${waiting.id}`, reader, {
      decision: 'approve',
    });
    expect(noScope.statusCode).toBe(403);
    expect(noScope.json().code).toBe('INSUFFICIENT_SCOPE');
    await node.engine.cancelRun(alice.caller, third, 'done testing');
  });

  it('times out as on_timeout says: fail, approve, reject or continue; a late decision is refused', async () => {
    const { alice } = fx.people;
    const runs = Object.fromEntries(
      await Promise.all(
        (['fail', 'approve', 'reject', 'continue'] as const).map(async (action) => [
          action,
          await fx.startRun(
            node,
            reviewSteps({ message: `on_timeout ${action}`, timeout: 1, on_timeout: action }),
          ),
        ]),
      ),
    ) as Record<'fail' | 'approve' | 'reject' | 'continue', string>;
    const fail = await fx.finished(node, runs.fail);
    expect(fail.status).toBe('failed');
    expect(fail.steps.review!.error).toMatch(/nobody decided the approval before its timeout/);
    const approve = await fx.finished(node, runs.approve);
    expect(approve.status).toBe('completed');
    expect(approve.steps.review!.output).toMatchObject({
      decision: 'approve',
      approved: true,
      decided_by: { via: 'timeout' },
    });
    const reject = await fx.finished(node, runs.reject);
    expect(reject.status).toBe('failed');
    expect(reject.steps.review!.error).toMatch(/rejected by its timeout/);
    const carryOn = await fx.finished(node, runs.continue);
    expect(carryOn.status).toBe('completed');
    expect(carryOn.steps.review!.output).toMatchObject({ decision: 'timeout', approved: false });

    const timedOut = (await fx.call(node, 'GET', '/api/v1/approvals?status=timed_out', alice)).json()
      .items as Array<{
      id: string;
      runId: string;
      decidedBy: unknown;
    }>;
    const mine = timedOut.filter((a) => Object.values(runs).includes(a.runId));
    expect(mine).toHaveLength(4);
    expect(mine[0]!.decidedBy).toMatchObject({ via: 'timeout' });
    const late = await fx.call(node, 'POST', `/api/v1/approvals/${mine[0]!.id}`, alice, {
      decision: 'approve',
    });
    expect(late.statusCode).toBe(409);
  });

  it('refuses a bad timeout when the workflow is applied, and a bad form when the step starts', async () => {
    await expect(fx.startRun(node, reviewSteps({ message: 'x', timeout: 'soon' }))).rejects.toThrow(
      /input\.timeout/,
    );
    const formRun = await fx.startRun(node, reviewSteps({ message: 'x', form: { type: 'nonsense' } }));
    const run = await fx.finished(node, formRun);
    expect(run.status).toBe('failed');
    expect(run.steps.review!.error).toMatch(/input\.form/);
  });

  it('fails a step whose notification cannot be sent (no such connector), and leaves nothing to decide', async () => {
    const runId = await fx.startRun(
      node,
      reviewSteps({ message: 'x', notify: { connector: 'mail', to: ['boss@example.com'] } }),
    );
    const run = await fx.finished(node, runId);
    expect(run.status).toBe('failed');
    expect(run.steps.review!.error).toMatch(/connector.*"mail"/);
    const inbox = (await fx.call(node, 'GET', '/api/v1/approvals?status=all', fx.people.alice)).json();
    expect(inbox.items.filter((a: { runId: string }) => a.runId === runId)).toMatchObject([
      { status: 'cancelled' },
    ]);
  });

  it('is cancelled with its run, and then cannot be decided', async () => {
    const { alice } = fx.people;
    const runId = await fx.startRun(node, reviewSteps({ message: 'cancel me' }));
    const approval = await fx.waitingApproval(node, runId);
    await node.engine.cancelRun(alice.caller, runId, 'changed my mind');
    const shown = (await fx.call(node, 'GET', `/api/v1/approvals/${approval.id}`, alice)).json();
    expect(shown.status).toBe('cancelled');
    expect(
      (await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}`, alice, { decision: 'approve' }))
        .statusCode,
    ).toBe(409);
  });
});
