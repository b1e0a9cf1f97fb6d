import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLink } from '../../src/approvals/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { approvalsFixture, reviewSteps, type ApprovalsFixture, type Node } from './helpers.js';

describe.each(DIALECTS)('approval links, races and restarts on %s', (dialect) => {
  let fx: ApprovalsFixture;
  let node: Node;
  beforeAll(async () => {
    fx = await approvalsFixture(dialect);
    node = await fx.start();
  });
  afterAll(() => fx.close());

  const form = (fields: Record<string, string>) => ({
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });

  it('decides through a signed one-time link without signing in; reused, expired and tampered links are refused', async () => {
    const { alice } = fx.people;
    const runId = await fx.startRun(node, reviewSteps({ message: 'Ship <b>v2</b>?', data: { tag: 'v2' } }));
    const approval = await fx.waitingApproval(node, runId);
    const made = await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}/links`, alice, {
      expiresIn: '1h',
    });
    expect(made.statusCode, made.body).toBe(201);
    const link = made.json() as { id: string; url: string; path: string; expiresAt: string };
    expect(link.url).toMatch(/^http:\/\/localhost(:80)?\/approve\//);
    expect(Date.parse(link.expiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    // The audit log never holds the token.
    expect(
      JSON.stringify(await node.store.handle.db.selectFrom('audit_logs').selectAll().execute()),
    ).not.toContain(link.path.slice('/approve/'.length));

    const page = await node.app.inject({ method: 'GET', url: link.path });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('Ship &#60;b&#62;v2&#60;/b&#62;?');
    expect(page.body).toContain('value="approve"');
    expect(page.body).toContain('&#34;tag&#34;: &#34;v2&#34;');

    // Tampered: one character of the signature, of the expiry, or of the approval id.
    const token = link.path.slice('/approve/'.length);
    const parts = token.split('.');
    const flip = (text: string) => (text.endsWith('A') ? `${text.slice(0, -1)}B` : `${text.slice(0, -1)}A`);
    // The same signature spelled otherwise: the last of 43 base64url characters carries two
    // unused bits, so flipping its lowest bit changes the text and not the decoded bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const signature = parts[4]!;
    const respelled = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1];
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    for (const bad of [
      [...parts.slice(0, 4), flip(parts[4]!)].join('.'),
      [...parts.slice(0, 4), respelled].join('.'),
      [parts[0], parts[1], parts[2], String(Number(parts[3]) + 3600), parts[4]].join('.'),
      'v1.not-a-token',
    ]) {
      const refused = await node.app.inject({
        method: 'POST',
        url: `/approve/${bad}`,
        ...form({ decision: 'approve' }),
      });
      expect(refused.statusCode, bad).toBe(404);
      expect(refused.body).toContain('APPROVAL_LINK_INVALID');
    }
    const badDecision = await node.app.inject({
      method: 'POST',
      url: link.path,
      ...form({ decision: 'maybe' }),
    });
    expect(badDecision.statusCode).toBe(400);
    expect(badDecision.body).toContain('decision');

    const decided = await node.app.inject({
      method: 'POST',
      url: link.path,
      ...form({ decision: 'approve', comment: 'looks good' }),
    });
    expect(decided.statusCode, decided.body).toBe(200);
    expect(decided.body).toContain('Approved');
    const reused = await node.app.inject({ method: 'POST', url: link.path, ...form({ decision: 'reject' }) });
    expect(reused.statusCode).toBe(410);
    expect(reused.body).toContain('APPROVAL_LINK_USED');
    expect((await node.app.inject({ method: 'GET', url: link.path })).statusCode).toBe(410);

    const run = await fx.finished(node, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.review!.output).toMatchObject({
      decision: 'approve',
      comment: 'looks good',
      decided_by: { id: null, via: 'link', link: { id: link.id, created_by: alice.id } },
    });
    const audit = await node.store.handle.db
      .selectFrom('audit_logs')
      .selectAll()
      .where('action', '=', 'approval.approve')
      .where('resource_id', '=', approval.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ owner_id: alice.id, actor_id: null });
    expect(audit[0]!.extra_metadata).toContain(link.id);

    // A link to an approval already decided decides nothing.
    expect(
      (await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}/links`, alice, {})).json().code,
    ).toBe('APPROVAL_SETTLED');
    const bad = await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}/links`, alice, {
      expiresIn: 'soon',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('body.expiresIn');
  });

  it('refuses an expired link, and a link whose approval another decision settled', async () => {
    const { alice } = fx.people;
    const runId = await fx.startRun(node, reviewSteps({ message: 'expiring' }));
    const approval = await fx.waitingApproval(node, runId);
    const expired = await createLink(node.store.handle.db, fx.keyring, {
      ownerId: alice.id,
      approvalId: approval.id,
      createdBy: alice.id,
      expiresAt: new Date(Date.now() - 1000),
    });
    const refused = await node.app.inject({
      method: 'POST',
      url: expired.path,
      ...form({ decision: 'approve' }),
    });
    expect(refused.statusCode).toBe(410);
    expect(refused.body).toContain('APPROVAL_LINK_EXPIRED');

    const good = (await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}/links`, alice)).json() as {
      path: string;
    };
    await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}`, alice, { decision: 'approve' });
    const late = await node.app.inject({ method: 'POST', url: good.path, ...form({ decision: 'reject' }) });
    expect(late.statusCode).toBe(409);
    expect(late.body).toContain('APPROVAL_SETTLED');
    expect((await fx.finished(node, runId)).status).toBe('completed');
  });

  it('two servers racing to decide: one wins, the other gets 409, and the run carries on once', async () => {
    const { alice } = fx.people;
    const other = await fx.start(node);
    try {
      const runId = await fx.startRun(node, reviewSteps({ message: 'race' }));
      const approval = await fx.waitingApproval(node, runId);
      const url = `/api/v1/approvals/${approval.id}`;
      const answers = await Promise.all([
        fx.call(node, 'POST', url, alice, { decision: 'approve', comment: 'first' }),
        fx.call(other, 'POST', url, alice, { decision: 'reject', comment: 'second' }),
        fx.call(other, 'POST', url, alice, { decision: 'approve', comment: 'third' }),
      ]);
      const codes = answers.map((a) => a.statusCode).sort();
      expect(codes).toEqual([200, 409, 409]);
      const winner = answers.find((a) => a.statusCode === 200)!.json() as {
        decision: string;
        comment: string;
      };
      const run = await fx.finished(node, runId);
      expect(run.status).toBe(winner.decision === 'approve' ? 'completed' : 'failed');
      const tasks = await node.store.handle.db
        .selectFrom('tasks')
        .select(['status', 'step_id'])
        .where('run_id', '=', runId)
        .execute();
      expect(tasks.filter((t) => t.step_id === 'review')).toEqual([
        { status: winner.decision === 'approve' ? 'COMPLETED' : 'FAILED', step_id: 'review' },
      ]);
      const audit = await node.store.handle.db
        .selectFrom('audit_logs')
        .select('action')
        .where('resource_id', '=', approval.id)
        .execute();
      expect(audit).toEqual([{ action: `approval.${winner.decision}` }]);
    } finally {
      await other.stop();
    }
  });

  it('survives a server restart during the wait: the decision on a new server resumes the run', async () => {
    const { alice } = fx.people;
    const runId = await fx.startRun(node, reviewSteps({ message: 'after a restart', timeout: '1h' }));
    const approval = await fx.waitingApproval(node, runId);
    await node.stop();
    node = await fx.start();
    const shown = await fx.call(node, 'GET', `/api/v1/approvals/${approval.id}`, alice);
    expect(shown.json()).toMatchObject({ status: 'waiting', canDecide: true });
    const decided = await fx.call(node, 'POST', `/api/v1/approvals/${approval.id}`, alice, {
      decision: 'approve',
    });
    expect(decided.statusCode).toBe(200);
    const run = await fx.finished(node, runId);
    expect(run.status).toBe('completed');
    expect(run.steps.review!.output).toMatchObject({ approved: true, decided_by: { id: alice.id } });
  });
});
