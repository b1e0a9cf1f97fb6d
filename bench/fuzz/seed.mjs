// Before fuzzing, the fuzzer makes one of most things through the API (a run, a task, a key, a
// secret, a webhook, …) so that requests can name things that exist and get past "not found" to
// the code behind it. Each step is allowed to fail (the API may have moved on): what failed is
// noted, and its routes are fuzzed with ids of nothing instead.
import { DEAD_URL } from './corpus.mjs';
import { send } from './http.mjs';

/** @typedef {import('./generate.mjs').Fixtures} Fixtures */

/** A workflow to deliver signed webhooks to; it is never offered to the other routes. */
const HOOK_WORKFLOW = 'fuzz-hook';
/** One the other routes may change, disable, rotate, fail. */
const SPARE_WORKFLOW = 'fuzz-spare';
/** A manual workflow that runs at once (one builtin step): its run is the runs' fixture. */
const RUN_WORKFLOW = 'fuzz-run';

/**
 * @param {{ host: string, port: number }} target @param {string} apiKey
 * @param {Record<string, any>} doc the OpenAPI document
 * @returns {Promise<{ fixtures: Fixtures, notes: string[] }>}
 */
export async function seedFixtures(target, apiKey, doc) {
  /** @type {string[]} */
  const notes = [];
  /**
   * @param {string} method @param {string} path @param {unknown} [body]
   * @returns {Promise<any>} the answer's JSON, or null (noted) when it was not a 2xx
   */
  const api = async (method, path, body) => {
    const { response, error } = await send(target, {
      method,
      path,
      headers: [
        ['authorization', `Bearer ${apiKey}`],
        ...(body === undefined
          ? []
          : /** @type {[string, string][]} */ ([['content-type', 'application/json']])),
      ],
      body: body === undefined ? null : Buffer.from(JSON.stringify(body)),
    });
    const text = response?.body.toString('utf8') ?? '';
    if (response === null || response.status >= 300) {
      notes.push(`${method} ${path}: ${response?.status ?? error} ${text.slice(0, 160)}`);
      return null;
    }
    return text === '' ? {} : JSON.parse(text);
  };
  /** @type {Record<string, string[]>} */
  const pools = {};
  /** @param {string} name @param {...unknown} values */
  const add = (name, ...values) => {
    const strings = values.filter((v) => typeof v === 'string' && v !== '');
    pools[name] = [...new Set([...(pools[name] ?? []), .../** @type {string[]} */ (strings)])];
  };

  const workflows = (await api('GET', '/api/v1/workflows'))?.items ?? [];
  const agents = (await api('GET', '/api/v1/agents'))?.items ?? [];
  const workflowDocs = workflows.map((/** @type {any} */ w) => w.definition ?? w.workflow).filter(Boolean);
  const agentManifests = agents.map((/** @type {any} */ a) => a.manifest).filter(Boolean);
  add('workflows.name', ...workflows.map((/** @type {any} */ w) => w.name));
  add('workflows.version', ...workflows.map((/** @type {any} */ w) => w.version));
  add('agents.name', ...agents.map((/** @type {any} */ a) => a.name), 'builtin/transform');
  add('agents.version', ...agents.map((/** @type {any} */ a) => a.version));

  const echoStep = { id: 'echo', agent: 'builtin/transform', input: { got: '{{ trigger }}' } };
  for (const [name, hookPath] of [
    [HOOK_WORKFLOW, 'fuzz/hook'],
    [SPARE_WORKFLOW, 'fuzz/spare'],
  ])
    await api('POST', '/api/v1/workflows', {
      name,
      version: '1.0.0',
      trigger: { type: 'webhook', path: hookPath },
      steps: [echoStep],
    });
  await api('POST', '/api/v1/workflows', { name: RUN_WORKFLOW, version: '1.0.0', steps: [echoStep] });
  add('workflows.name', SPARE_WORKFLOW, RUN_WORKFLOW);
  const triggers = (await api('GET', '/api/v1/triggers'))?.items ?? [];
  /** @type {Fixtures['hook']} */
  let hook = null;
  for (const trigger of triggers) {
    const ref = trigger.id ?? trigger.ref;
    if (trigger.workflow === HOOK_WORKFLOW || trigger.workflowName === HOOK_WORKFLOW) {
      const rotated = await api('POST', `/api/v1/triggers/${ref}/rotate-secret`, { graceSeconds: 0 });
      if (typeof rotated?.secret === 'string')
        hook = { path: trigger.path ?? 'fuzz/hook', secret: rotated.secret };
    } else add('triggers.ref', ref, trigger.name);
  }
  if (hook === null)
    notes.push(`no webhook trigger of ${HOOK_WORKFLOW} with a secret: /hooks/ gets unsigned requests`);

  const run = await api('POST', `/api/v1/workflows/${RUN_WORKFLOW}/runs`, {
    input: { text: 'a lovely day' },
  });
  add('runs.id', run?.id);
  const artifacts = run?.id ? await api('GET', `/api/v1/runs/${run.id}/artifacts`) : null;
  add('artifacts.id', ...(artifacts?.items ?? []).map((/** @type {any} */ a) => a.id));

  const task = await api('POST', '/api/v1/tasks', { agent: agents[0]?.name ?? 'echo', input: {} });
  add('tasks.id', task?.id ?? task?.task?.id);
  const chain = await api('POST', '/api/v1/task-chains', {
    steps: [{ agent: agents[0]?.name ?? 'echo', input: {} }],
  });
  add('task-chains.id', chain?.id ?? chain?.chain?.id);
  await api('PUT', '/api/v1/task-templates/fuzz-template', {
    type: 'fuzz',
    agent: agents[0]?.name ?? 'echo',
  });
  add('task-templates.name', 'fuzz-template');

  // A key to delete, and a revoked one to authenticate with. Never the fuzzer's own key.
  const spare = await api('POST', '/api/v1/keys', { name: 'fuzz-spare' });
  add('keys.id', spare?.id ?? spare?.apiKey?.id);
  const doomed = await api('POST', '/api/v1/keys', { name: 'fuzz-revoked' });
  const doomedId = doomed?.id ?? doomed?.apiKey?.id;
  const revokedKey =
    typeof doomed?.key === 'string' && doomedId && (await api('DELETE', `/api/v1/keys/${doomedId}`))
      ? doomed.key
      : null;

  await api('PUT', '/api/v1/secrets/FUZZ_SECRET', { value: 'fuzz-value' });
  add('secrets.name', 'FUZZ_SECRET');
  // At the dead URL, which the fuzzer's own server allows: never a provider's public default.
  await api('PUT', '/api/v1/llm-providers/fuzz', {
    provider: 'openai',
    model: 'fuzz',
    base_url: DEAD_URL,
    api_key_secret: 'FUZZ_SECRET',
  });
  add('llm-providers.name', 'fuzz');
  const scheduled = await api('POST', '/api/v1/scheduled-tasks', {
    name: 'fuzz',
    cron: '0 0 1 1 *',
    capability: 'util:echo',
  });
  add('scheduled-tasks.id', scheduled?.id);
  const webhook = await api('POST', '/api/v1/webhooks', {
    name: 'fuzz',
    url: DEAD_URL,
    eventTypes: ['run.completed'],
  });
  const webhookId = webhook?.id ?? webhook?.webhook?.id;
  add('webhooks.id', webhookId);
  if (webhookId) {
    const delivery = await api('POST', `/api/v1/webhooks/${webhookId}/test`);
    add('webhook-deliveries.id', delivery?.id ?? delivery?.deliveryId ?? delivery?.delivery?.id);
  }
  await api('POST', '/api/v1/events', { source: 'fuzz', type: 'fuzz.seeded', payload: {} });

  return {
    fixtures: {
      apiKey,
      revokedKey,
      pools,
      hook,
      workflowDocs,
      agentManifests,
      components: doc.components?.schemas ?? {},
    },
    notes,
  };
}
