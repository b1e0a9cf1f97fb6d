import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { EXAMPLES_DIR } from '../../src/registry/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { liftRateLimits } from '../helpers/rate-limits.js';
import { until } from '../helpers/until.js';
import { startFakeLlm, type FakeLlm } from '../runtimes/llm-server.js';
import { header, startSmtp } from '../helpers/smtp.js';
import { startScriptedModel, type ScriptedModel } from '../runtimes/scripted-model.js';

interface RunView {
  id: string;
  status: string;
  error: string | null;
  result: Record<string, unknown> | null;
  steps: Record<string, { status: string; output?: unknown }>;
}

/**
 * Every example workflow, run by a real server (its worker, its trigger daemon) the way the
 * README runs them, checked against what its description promises. A new example without a
 * check here fails the last test: an example nobody checks drifts from what it says.
 */
describe.each(DIALECTS)('the example workflows on %s do what their descriptions say', (dialect) => {
  let llm: FakeLlm;
  let model: ScriptedModel;
  let testDb: TestDatabase;
  let server: RunningServer;
  let key: string;
  const checked = new Set<string>();

  beforeAll(async () => {
    llm = await startFakeLlm();
    model = await startScriptedModel();
  });
  afterAll(async () => {
    await llm.close();
    await model.close();
  });
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        // The scripted model stands in for a local one: its origin alone is allowed.
        SWARM_LLM_ALLOWED_URLS: `${new URL(llm.url).origin},${new URL(model.url).origin}`,
        // notify-by-email sends through an SMTP server the test starts on loopback.
        SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
      }),
    );
    key = server.bootstrapped!.key;
    // Runs are polled every 25 ms: faster than the key's default 60 requests a minute.
    await liftRateLimits(server.store);
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  async function api<T>(method: string, url: string, body?: unknown): Promise<T> {
    const response = await fetch(`${server.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    expect(response.status, `${method} ${url}: ${text}`).toBeLessThan(300);
    return JSON.parse(text) as T;
  }

  const ended = (id: string) =>
    until(
      `run ${id} to end`,
      async () => {
        const run = await api<RunView>('GET', `/api/v1/runs/${id}`);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined;
      },
      60_000,
    );

  async function run(workflow: string, input: unknown): Promise<RunView> {
    checked.add(workflow);
    const { id } = await api<{ id: string }>('POST', `/api/v1/workflows/${workflow}/runs`, { input });
    const view = await ended(id);
    expect(view.error, `${workflow} failed`).toBeNull();
    expect(view.status).toBe('completed');
    return view;
  }

  /** The first run of `workflow` that a trigger started, once it ended. */
  async function triggered(workflow: string): Promise<RunView> {
    checked.add(workflow);
    const first = await until(
      `a run of ${workflow}`,
      async () =>
        (await api<{ items: { id: string }[] }>('GET', `/api/v1/runs?workflow=${workflow}`)).items[0],
      60_000,
    );
    return ended(first.id);
  }

  it('runs every example as described', async () => {
    // hello: greet someone, decide whether the name is long, put the answer together.
    expect((await run('hello', { name: 'Alexandra' })).result).toEqual({
      answer: { message: 'Hello, Alexandra!', long_name: true },
    });
    expect((await run('hello', {})).result).toEqual({
      answer: { message: 'Hello, world!', long_name: false },
    });

    // text-report: count the words, classify the sentiment, assemble a short report.
    expect((await run('text-report', { text: 'What a lovely, sunny day' })).result).toEqual({
      report: { title: 'Text report', words: 5, sentiment: 'positive', summary: '5 words, positive' },
    });

    // count-each: count the words of every document in parallel and add them up.
    expect((await run('count-each', { documents: ['one two', 'three', 'four five six'] })).result).toEqual({
      total: { documents: 3, words: 6 },
    });

    // sentiment-vote: three classifications, the majority label.
    const vote = await run('sentiment-vote', { text: 'this is terrible' });
    expect(vote.result).toMatchObject({ vote: { decision: { label: 'negative' }, reached: true } });

    // release-*: three reviewers with fixed opinions (strict rejects: no docs; lenient and careful
    // approve) decide by each consensus strategy; each decision is recorded with the run.
    const release = { tests_passed: true, lines_changed: 300, has_docs: false };
    const voted = await run('release-vote', release);
    expect(voted.result).toMatchObject({
      review: { decision: { verdict: 'approve' }, reached: true, quorum: 2 },
    });
    expect((voted as RunView & { consensus: unknown[] }).consensus).toEqual([
      expect.objectContaining({ strategy: 'voting', finalResult: { verdict: 'approve' } }),
    ]);
    const listed = await api<{ items: { stepId: string; details: { reached: boolean } }[] }>(
      'GET',
      `/api/v1/runs/${voted.id}/consensus`,
    );
    expect(listed.items).toMatchObject([{ stepId: 'review', details: { reached: true } }]);
    const missing = await fetch(`${server.url}/api/v1/runs/no-such-run/consensus`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
    // Every example agent starts at the same trust, so the weights split as the count does.
    expect((await run('release-weighted', release)).result).toMatchObject({
      review: {
        decision: { verdict: 'approve' },
        reached: true,
        weights: { review__1: expect.any(Number), review__3: expect.any(Number) },
      },
    });
    expect((await run('release-judge', release)).result).toEqual({
      review: {
        decision: { verdict: 'approve' },
        choice: 1,
        confidence: 0.67,
        reasoning: 'candidate 1 is the longest (21 characters); 2 of 3 candidates said the same',
      },
    });
    const mixture = await run('release-mixture', release);
    expect(mixture.result).toEqual({ review: { verdict: 'approve', approvals: 2, of: 3, confidence: 0.67 } });
    expect((mixture as RunView & { consensus: unknown[] }).consensus).toEqual([
      expect.objectContaining({ strategy: 'mixture_of_agents', confidence: 0.67 }),
    ]);
    // A release without passing tests: all reject, unanimously.
    expect((await run('release-vote', { ...release, tests_passed: false })).result).toMatchObject({
      review: { decision: { verdict: 'reject' }, agreement: 1 },
    });

    // review-pipeline: word count and sentiment at the same time, joined by agent name.
    expect((await run('review-pipeline', { text: 'I love this great tool' })).result).toMatchObject({
      review: { 'word-count': { words: 5, characters: 22 }, sentiment: { label: 'positive' } },
    });

    // greet-and-echo (nodes and edges): greet someone, then echo the greeting.
    expect((await run('greet-and-echo', { name: 'Ada' })).result).toEqual({
      echo: { message: 'Hello, Ada!' },
    });

    // feedback-triage escalates only negative feedback, as an event that starts
    // negative-feedback-alert, which turns it into an alert record.
    const calm = await run('feedback-triage', { text: 'Works well, thanks' });
    expect(calm.steps.escalate?.status).toBe('skipped');
    const angry = await run('feedback-triage', { text: 'The app is broken and slow' });
    expect(angry.steps.escalate?.status).toBe('completed');
    const alert = await triggered('negative-feedback-alert');
    expect(alert.status).toBe('completed');
    expect(alert.result).toMatchObject({
      alert: { alert: 'Negative feedback (score -1)', text: 'The app is broken and slow' },
    });
    // Only the negative one escalated.
    expect(
      (await api<{ items: unknown[] }>('GET', '/api/v1/runs?workflow=negative-feedback-alert')).items,
    ).toHaveLength(1);

    // order-waits-for-payment: accepted, then waits for its own order.paid; another order's
    // payment does not count, this one's ships it.
    checked.add('order-waits-for-payment');
    const { id: orderRun } = await api<{ id: string }>(
      'POST',
      '/api/v1/workflows/order-waits-for-payment/runs',
      {
        input: { order_id: 'A-17' },
      },
    );
    await until('the order to wait for its payment', async () => {
      const view = await api<{ waiting: { kind: string; stepId: string }[] }>(
        'GET',
        `/api/v1/runs/${orderRun}`,
      );
      return view.waiting.some((w) => w.kind === 'event' && w.stepId === 'paid');
    });
    await api('POST', '/api/v1/events', {
      source: 'shop',
      type: 'order.paid',
      payload: { order_id: 'A-18', amount: 7 },
    });
    const { id: payment } = await api<{ id: string }>('POST', '/api/v1/events', {
      source: 'shop',
      type: 'order.paid',
      payload: { order_id: 'A-17', amount: 42 },
    });
    const shipped = await ended(orderRun);
    expect(shipped.status).toBe('completed');
    expect(shipped.result).toEqual({
      ship: { order_id: 'A-17', amount: 42, payment_event: payment, status: 'shipped' },
    });

    // deploy-service: one deploy per service at a time; a newer deploy of a service cancels the
    // one in progress (naming it), another service's deploy runs alongside.
    checked.add('deploy-service');
    const deploy = async (service: string, version: string) =>
      (
        await api<{ id: string }>('POST', '/api/v1/workflows/deploy-service/runs', {
          input: { service, version },
        })
      ).id;
    const oldDeploy = await deploy('api', '1.0.0');
    const newDeploy = await deploy('api', '1.0.1');
    const webDeploy = await deploy('web', '2.0.0');
    const superseded = (await ended(oldDeploy)) as RunView & { cancellationReason: string | null };
    expect(superseded.status).toBe('cancelled');
    expect(superseded.cancellationReason).toContain(`cancelled by newer run ${newDeploy}`);
    for (const [service, version] of [
      ['api', '1.0.1'],
      ['web', '2.0.0'],
    ])
      await api('POST', '/api/v1/events', {
        source: 'ci',
        type: 'build.published',
        payload: { service, version },
      });
    expect((await ended(newDeploy)).result).toEqual({
      deploy: { service: 'api', version: '1.0.1', status: 'deployed' },
    });
    expect((await ended(webDeploy)).status).toBe('completed');

    // notify-by-email: a report, emailed with it attached through the smtp connector "mail".
    const smtp = await startSmtp();
    try {
      await api('POST', '/api/v1/connectors', {
        name: 'mail',
        type: 'smtp',
        config: { host: '127.0.0.1', port: smtp.port, tls: 'none', from: 'swarm@example.com' },
      });
      const mailed = await run('notify-by-email', { team: 'ops', done: 3, open: 1, to: 'ops@example.com' });
      expect(mailed.steps.email?.output).toMatchObject({ accepted: ['ops@example.com'], rejected: [] });
      expect(smtp.delivered).toHaveLength(1);
      const raw = smtp.delivered[0]!.raw;
      expect(header(raw, 'Subject')).toBe('Daily report for ops');
      expect(raw).toContain('3 tasks done, 1 still open.');
      expect(raw).toContain('filename=report.json');

      // expense-approval: the approval step emails a signed link through "mail", then waits; the
      // link's page decides it without signing in, and the run goes on to the payment.
      checked.add('expense-approval');
      const { id: expense } = await api<{ id: string }>('POST', '/api/v1/workflows/expense-approval/runs', {
        input: { amount: 120, purpose: 'train tickets', approver: 'boss@example.com' },
      });
      await until('the approval link to be emailed', async () => smtp.delivered.length === 2);
      const mail = smtp.delivered[1]!;
      expect(mail.to).toEqual(['boss@example.com']);
      expect(header(mail.raw, 'Subject')).toContain('Approve an expense of 120 EUR for train tickets?');
      // The text part is quoted-printable: soft line breaks and =XX escapes undone.
      const body = mail.raw
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      const linkPath = /\/approve\/[A-Za-z0-9._~-]+/.exec(body)?.[0];
      expect(linkPath).toBeDefined();
      const page = await fetch(`${server.url}${linkPath}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('train tickets');
      const decided = await fetch(`${server.url}${linkPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'decision=approve&comment=fine',
      });
      expect(decided.status).toBe(200);
      const paid = await ended(expense);
      expect(paid.status).toBe('completed');
      expect(paid.steps.pay?.output).toMatchObject({ status: 'paid', amount: 120, comment: 'fine' });
    } finally {
      await smtp.close();
    }

    // morning-digest: summarise the notes (an LLM agent, routed by capability) and announce it.
    await api('PUT', '/api/v1/llm-providers/local-openai', { provider: 'custom', base_url: llm.url });
    llm.reply = JSON.stringify({ summary: 'A good deploy, two tests fixed, planning on Thursday.' });
    const digest = await run('morning-digest', {});
    expect(digest.steps.summarise?.output).toEqual({
      summary: 'A good deploy, two tests fixed, planning on Thursday.',
    });
    const sent = JSON.stringify(llm.requests.at(-1)?.body);
    expect(sent).toContain('Deploy went well. Two flaky tests fixed.');
    const events = await api<{ items: { type: string; payload: unknown }[] }>(
      'GET',
      '/api/v1/events?type=digest.ready',
    );
    expect(events.items.map((e) => e.payload)).toEqual([
      { summary: 'A good deploy, two tests fixed, planning on Thursday.' },
    ]);

    // research: the researcher's loop calls word-count (Python) and the notes MCP server's tool
    // (stdio, in the sandbox) in parallel, then answers with JSON its output_schema accepts.
    await api('PUT', '/api/v1/llm-providers/local-openai', { provider: 'custom', base_url: model.url });
    await api('PUT', '/api/v1/mcp/servers/notes', {
      command: 'node',
      args: [path.join(EXAMPLES_DIR, 'agents', 'researcher', 'notes-server.mjs')],
    });
    const before = model.requests.length;
    model.script = [
      {
        toolCalls: [
          { name: 'word-count', arguments: { text: 'budgets cap spending' } },
          { name: 'search_notes', arguments: { query: 'budgets' } },
        ],
      },
      { text: '{"answer": "Budgets cap what model calls spend.", "sources": ["notes"]}' },
    ];
    const research = await run('research', { question: 'What do budgets do?' });
    expect(research.steps.research?.output).toEqual({
      answer: 'Budgets cap what model calls spend.',
      sources: ['notes'],
    });
    const calls = model.requests.slice(before);
    expect(calls).toHaveLength(2);
    const offered = (calls[0]!.body.tools as { function: { name: string } }[]).map((t) => t.function.name);
    expect(offered).toEqual(['word-count', 'search_notes']);
    const results = JSON.stringify(calls[1]!.body.messages);
    expect(results).toContain('{\\"words\\":3,\\"characters\\":20}');
    expect(results).toContain('Budgets cap what model calls spend per step');

    // The dynamic patterns, with deterministic process agents only.
    // split-and-count (hierarchical): three parts over word-count and echo, a review, the answer.
    const split = await run('split-and-count', { text: 'one two three four five six' });
    expect(split.steps.delegate?.output).toEqual({
      answer: {
        parts: 4,
        outputs: [
          { words: 2, characters: 7 },
          { text: 'three four' },
          { words: 2, characters: 8 },
          { text: expect.stringMatching(/^review: /) as string },
        ],
      },
      rounds: 3,
      subtasks: 4,
      stop_reason: 'answer',
    });
    const speakers = async (id: string, step: string) =>
      (
        await api<{ turns: { sender: string }[]; toolCalls: unknown[] }>(
          'GET',
          `/api/v1/runs/${id}/steps/${step}/conversation`,
        )
      ).turns.map((t) => t.sender.replace(/@.*/, ''));
    // 3 plans and 4 results, each a turn of the conversation.
    expect(await speakers(split.id, 'delegate')).toHaveLength(7);

    // debate (round_robin): turns until the critic agrees, at round 3 of 10.
    const debate = await run('debate', { topic: 'tests' });
    expect(debate.steps.debate?.output).toMatchObject({
      final: { text: 'critic (round 3): convinced after 5 messages', agree: true },
      last_speaker: 'critic',
      rounds: 3,
      turns: 6,
      stop_reason: 'until',
    });

    // moderated-chat (selector): the moderator's picks, six turns.
    const chat = await run('moderated-chat', {});
    expect(chat.steps.chat?.output).toMatchObject({ turns: 6, stop_reason: 'max_rounds' });
    expect(await speakers(chat.id, 'chat')).toEqual([
      'speaker',
      'scribe',
      'critic',
      'scribe',
      'critic',
      'speaker',
    ]);

    // brainstorm (mesh): all three speak each round, hearing the earlier rounds; done at round 2.
    const brainstorm = await run('brainstorm', {});
    expect(brainstorm.steps.brainstorm?.output).toMatchObject({
      final: { counts: { speaker: 1, critic: 1, scribe: 1 } },
      rounds: 2,
      turns: 6,
      stop_reason: 'done',
    });

    // help-desk (handoff): the desk hands the question to billing, which answers.
    expect((await run('help-desk', { question: 'Why twice?' })).steps.desk?.output).toEqual({
      answer: 'resolved "Why twice?" after 1 hand-offs',
      agent: 'billing',
      handoffs: 1,
      path: ['desk', 'billing'],
    });

    const definitions = fs
      .readdirSync(path.join(EXAMPLES_DIR, 'workflows'))
      .map((file) => {
        const text = fs.readFileSync(path.join(EXAMPLES_DIR, 'workflows', file), 'utf8');
        return /^\s*"?name"?\s*:\s*"?([\w-]+)"?/m.exec(text)![1]!;
      })
      .sort();
    expect([...checked].sort()).toEqual(definitions);
    // Some thirty agent processes for the patterns alone: more than the default 30 s on a busy machine.
  }, 180_000);
});
