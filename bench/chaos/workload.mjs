// What a chaos run asks Swarm to do, and the clients that ask: runs started through the API and
// through signed webhooks, each recorded in a client-side history (what was sent, what was
// answered) that the checker compares with the database afterwards.
import { createHmac } from 'node:crypto';

/**
 * Started through the API. A chain (prepare → … → done) with a for_each fan-out (square) and a
 * fan-in (total); every step a builtin agent. Every step but `total` keeps the default
 * `max_attempts: 1`: a worker dying under one of them must not fail the run.
 */
export const DAG_WORKFLOW = {
  name: 'chaos-dag',
  version: '1.0.0',
  description: 'chaos suite: chain + for_each fan-out + fan-in, builtin agents',
  steps: [
    {
      id: 'prepare',
      agent: 'builtin/transform',
      input: { key: '{{ trigger.key }}', items: '{{ trigger.items }}' },
    },
    { id: 'wait', agent: 'builtin/delay', needs: ['prepare'], input: { ms: '{{ trigger.delay_ms }}' } },
    {
      id: 'square',
      agent: 'builtin/transform',
      needs: ['prepare'],
      for_each: 'steps.prepare.output.items',
      input: { i: '{{ index }}', v: '{{ item * item }}' },
    },
    {
      id: 'total',
      agent: 'builtin/transform',
      needs: ['square', 'wait'],
      input: { sum: '{{ $sum(steps.square.output.v) }}', count: '{{ $count(steps.square.output) }}' },
      retry: { max_attempts: 3, initial_delay_ms: 200 },
    },
    {
      id: 'verdict',
      agent: 'builtin/condition',
      needs: ['total'],
      input: { value: '{{ steps.total.output.sum = trigger.expected }}' },
    },
    {
      id: 'done',
      agent: 'builtin/transform',
      needs: ['verdict'],
      input: {
        key: '{{ trigger.key }}',
        ok: '{{ steps.verdict.output.result }}',
        sum: '{{ steps.total.output.sum }}',
      },
    },
  ],
};

/** Started by signed webhooks: receive → for_each double → sum, default attempts throughout. */
export const HOOK_WORKFLOW = {
  name: 'chaos-hook',
  version: '1.0.0',
  description: 'chaos suite: webhook-triggered fan-out',
  trigger: { type: 'webhook', path: 'chaos/hook' },
  steps: [
    {
      id: 'receive',
      agent: 'builtin/transform',
      input: { key: '{{ trigger.key }}', items: '{{ trigger.items }}' },
    },
    {
      id: 'double',
      agent: 'builtin/transform',
      needs: ['receive'],
      for_each: 'steps.receive.output.items',
      input: { v: '{{ item * 2 }}' },
    },
    {
      id: 'sum',
      agent: 'builtin/transform',
      needs: ['double'],
      input: { key: '{{ trigger.key }}', sum: '{{ $sum(steps.double.output.v) }}' },
    },
  ],
};

/**
 * `--flow`: the same workflows under flow control (docs/flow-control.md, run-concurrency.md).
 * Limits only delay: what a run must produce does not change. The keys are few (the item count
 * mod 3, an item mod 4), so they are shared by many runs and bind when a stalled worker holds
 * their slots. The limited `wait` is a real delay (0–300 ms), so its intervals overlap and the
 * checker's concurrency check has something to see; the rate limit is loose (the load is about
 * 30 items/s) so it does not set the pace; the run-level `queue` limit binds when runs pile up.
 */
export function withFlow(workflow) {
  const steps = workflow.steps.map((step) => {
    if (workflow === DAG_WORKFLOW && step.id === 'wait')
      return { ...step, concurrency: { key: '$count(trigger.items) % 3', limit: 2 } };
    if (workflow === DAG_WORKFLOW && step.id === 'square')
      return { ...step, rate_limit: { limit: 60, period: '1s' } };
    if (workflow === HOOK_WORKFLOW && step.id === 'double')
      return { ...step, concurrency: { key: 'item % 4', limit: 3, scope: 'workflow' } };
    return step;
  });
  const run =
    workflow === HOOK_WORKFLOW
      ? { concurrency: { key: '$count(trigger.items) % 2', limit: 8, strategy: 'queue' } }
      : {};
  return { ...workflow, ...run, steps };
}

/**
 * What a run of each workflow must have produced, from what its client sent: the checker reads
 * every step's output and compares.
 * @param {'dag' | 'hook'} kind  @param {{key: string, items: number[], expected?: number}} data
 * @returns {Record<string, (output: any) => string | null>} per step: null, or what is wrong
 */
export function expectedSteps(kind, data) {
  const eq = (/** @type {unknown} */ got, /** @type {unknown} */ want) =>
    canonical(got) === canonical(want) ? null : `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
  const squares = data.items.map((x, i) => ({ i, v: x * x }));
  const doubles = data.items.map((x) => ({ v: x * 2 }));
  const sumOf = (/** @type {{v: number}[]} */ list) => list.reduce((s, o) => s + o.v, 0);
  if (kind === 'dag') {
    return {
      prepare: (o) => eq(o, { key: data.key, items: data.items }),
      wait: (o) => (o && typeof o === 'object' ? null : `got ${JSON.stringify(o)}`),
      square: (o) => eq(o, squares),
      total: (o) => eq(o, { sum: sumOf(squares), count: squares.length }),
      verdict: (o) => eq(o, { result: true }),
      done: (o) => eq(o, { key: data.key, ok: true, sum: sumOf(squares) }),
    };
  }
  return {
    receive: (o) => eq(o, { key: data.key, items: data.items }),
    double: (o) => eq(o, doubles),
    sum: (o) => eq(o, { key: data.key, sum: sumOf(doubles) }),
  };
}

/** JSON with object keys sorted: PostgreSQL's jsonb keeps its own key order. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** Unix-seconds timestamped HMAC, as src/triggers/webhook.ts verifies it (what a sender does). */
export function sign(secret, body, t = Math.floor(Date.now() / 1000)) {
  const mac = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  return `t=${t},v1=${mac}`;
}

/**
 * The client-side history: one entry per operation, appended as answers come. `status` 0 is a
 * network error (connection refused or reset: the server was down or killed mid-request).
 */
export class History {
  constructor() {
    /** @type {Array<{kind: 'api', key: string, data: object, status: number, runId: string | null, error?: string, at: number}>} */
    this.api = [];
    /**
     * One per delivery (its Idempotency-Key); `answers` every attempt's status and runId.
     * @type {Array<{kind: 'hook', key: string, data: object, answers: Array<{status: number, runId: string | null, duplicate: boolean | null, at: number, error?: string}>, resend: boolean}>}
     */
    this.hooks = [];
  }
}

/**
 * Starts one run through `POST /api/v1/workflows/chaos-dag/runs`. No retry: the endpoint has no
 * idempotency key, so after an error the client cannot know whether the run exists — the
 * checker counts those as indeterminate (neither promised nor lost).
 * @param {{url: string, apiKey: string, history: History}} ctx
 * @param {{key: string, items: number[], delay_ms: number, expected: number}} data
 */
export async function startApiRun(ctx, data) {
  const entry = {
    kind: /** @type {const} */ ('api'),
    key: data.key,
    data,
    status: 0,
    runId: null,
    at: Date.now(),
  };
  ctx.history.api.push(entry);
  try {
    const res = await fetch(`${ctx.url}/api/v1/workflows/${DAG_WORKFLOW.name}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: data }),
      signal: AbortSignal.timeout(30_000),
    });
    entry.status = res.status;
    const json = await res.json().catch(() => null);
    if (res.ok) entry.runId = json?.id ?? null;
    else entry.error = json?.detail ?? json?.title ?? res.statusText;
  } catch (error) {
    entry.error = String(error?.cause?.code ?? error?.name ?? error);
  }
  entry.at = Date.now();
  return entry;
}

/**
 * Delivers one webhook the way real senders do: signed, with an Idempotency-Key, and on a
 * network error, a timeout or a 5xx, sent again with the same key (backing off) until it is
 * answered 2xx, refused with a 4xx, or `deadline` passes.
 * @param {{hookUrl: string, secret: string, history: History, random: () => number}} ctx
 * @param {{key: string, items: number[]}} data
 * @param {number} deadline  ms epoch
 * @param {boolean} [resend]  a deliberate resend of a key already accepted
 */
export async function deliverWebhook(ctx, data, deadline, resend = false) {
  const entry = { kind: /** @type {const} */ ('hook'), key: data.key, data, answers: [], resend };
  ctx.history.hooks.push(entry);
  const body = JSON.stringify(data);
  for (let attempt = 0; ; attempt++) {
    const answer = { status: 0, runId: null, duplicate: null, at: Date.now() };
    try {
      const res = await fetch(ctx.hookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': data.key,
          'x-swarm-signature': sign(ctx.secret, body),
        },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      answer.status = res.status;
      const json = await res.json().catch(() => null);
      answer.runId = json?.runId ?? null;
      answer.duplicate = json?.duplicate ?? null;
      if (!res.ok) answer.error = json?.detail ?? res.statusText;
    } catch (error) {
      answer.error = String(error?.cause?.code ?? error?.name ?? error);
    }
    answer.at = Date.now();
    entry.answers.push(answer);
    const retry = answer.status === 0 || answer.status >= 500 || answer.status === 429;
    if (!retry || Date.now() >= deadline) return entry;
    const backoff = Math.min(4000, 200 * 2 ** attempt) * (0.5 + ctx.random());
    await new Promise((r) => setTimeout(r, Math.min(backoff, Math.max(0, deadline - Date.now()))));
  }
}

/** The 2xx answer a delivery ended with, if any. */
export function acceptedAnswer(entry) {
  return entry.answers.find((a) => a.status >= 200 && a.status < 300) ?? null;
}
