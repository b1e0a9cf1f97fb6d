import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FieldIssue } from '../../errors/index.js';
import {
  BACKOFF_KINDS,
  CONCURRENCY_STRATEGIES,
  CONSENSUS_STRATEGIES,
  ORCHESTRATION_PATTERNS,
  ROUTING_STRATEGIES,
} from './types.js';

/**
 * The shape of a definition as JSON Schema: types, ranges, enums and unknown properties.
 * Rules that depend on several fields (which kind a step is, judge vs. strategy, trigger type
 * vs. its fields) are checked in code, where the message can say what is wrong in words.
 */

const str = { type: 'string', minLength: 1 };
const expression = { type: 'string', minLength: 1 };
const mapping = { type: 'object' };
/** A trigger's debounce (`limit` refused) or throttle: a period, an optional key, a limit. */
const firingFlow = (withLimit: boolean) => ({
  type: 'object',
  required: withLimit ? ['period', 'limit'] : ['period'],
  additionalProperties: false,
  properties: {
    key: expression,
    period: str,
    ...(withLimit ? { limit: { type: 'integer', minimum: 1, maximum: 100_000 } } : {}),
  },
});
const trigger = {
  type: 'object',
  required: ['type'],
  additionalProperties: false,
  properties: {
    // `cron` is seed 004's name for a schedule trigger.
    type: { enum: ['manual', 'webhook', 'schedule', 'cron', 'event'] },
    path: str,
    cron: str,
    timezone: str,
    misfire: { enum: ['skip', 'catch_up'] },
    catch_up_limit: { type: 'integer', minimum: 1, maximum: 1000 },
    source: str,
    event_type: str,
    allow_self: { type: 'boolean' },
    debounce: firingFlow(false),
    throttle: firingFlow(true),
  },
};
const retry = {
  type: 'object',
  additionalProperties: false,
  properties: {
    max_attempts: { type: 'integer', minimum: 1, maximum: 100 },
    backoff: { enum: BACKOFF_KINDS },
    initial_delay_ms: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    max_delay_ms: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    jitter: { type: 'boolean' },
  },
};
const agentList = { type: 'array', minItems: 1, maxItems: 50, items: str };
/** Most a step (or a whole run) may spend on model calls: tokens, US dollars, or both. */
const budget = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    tokens: { type: 'integer', minimum: 1, maximum: 1_000_000_000_000 },
    cost_usd: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000_000 },
  },
};
/** How a consensus member's trust moves: `false` for not at all. */
const consensusTrust = {
  type: ['object', 'boolean'],
  if: { type: 'boolean' },
  then: { const: false, 'x-message': 'must be false (or {agree, dissent})' },
  else: {
    type: 'object',
    additionalProperties: false,
    properties: {
      agree: { type: 'number', minimum: 0, maximum: 1 },
      dissent: { type: 'number', minimum: -1, maximum: 0 },
    },
  },
};
/** A hierarchical pool member: an agent ref, an agent that may delegate, or a routed capability. */
const poolMember = {
  type: ['string', 'object'],
  if: { type: 'string' },
  then: { minLength: 1 },
  else: {
    type: 'object',
    additionalProperties: false,
    properties: {
      agent: str,
      delegates: { type: 'boolean' },
      capability: str,
      routing: { enum: ROUTING_STRATEGIES },
    },
  },
};
/** Fields of the patterns run at run time (src/runtimes/orchestration); which go where is checked in code. */
const dynamicFields = {
  coordinator: str,
  pool: { type: 'array', minItems: 1, maxItems: 50, items: poolMember },
  max_rounds: { type: 'integer', minimum: 1, maximum: 100 },
  max_subtasks: { type: 'integer', minimum: 1, maximum: 1000 },
  max_depth: { type: 'integer', minimum: 1, maximum: 5 },
  allow_self_delegation: { type: 'boolean' },
  until: expression,
  window: { type: 'integer', minimum: 1, maximum: 1000 },
  selector: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    properties: { agent: str, expression },
  },
  max_handoffs: { type: 'integer', minimum: 1, maximum: 100 },
  max_ping_pong: { type: 'integer', minimum: 1, maximum: 100 },
};
/** `wait_for`: a step that waits for an event (run by builtin/wait_for_event; see wait-for.ts). */
const waitFor = {
  type: 'object',
  required: ['event'],
  additionalProperties: false,
  properties: {
    event: str,
    source: str,
    match: expression,
    timeout: str,
    lookback: str,
    on_timeout: { enum: ['fail', 'continue'] },
  },
};
/** Flow control (docs/flow-control.md): what a limit counts over. */
const flowScope = { enum: ['step', 'workflow', 'agent', 'owner'] };
const concurrencyLimit = {
  type: 'object',
  required: ['limit'],
  additionalProperties: false,
  properties: { key: expression, limit: { type: 'integer', minimum: 1, maximum: 100_000 }, scope: flowScope },
};
const rateLimit = {
  type: 'object',
  required: ['limit', 'period'],
  additionalProperties: false,
  properties: {
    key: expression,
    limit: { type: 'integer', minimum: 1, maximum: 100_000 },
    period: str,
    scope: flowScope,
  },
};
// One limit or a list; if/then/else instead of oneOf so errors point inside the limit.
const concurrency = {
  type: ['object', 'array'],
  if: { type: 'array' },
  then: { minItems: 1, maxItems: 8, items: concurrencyLimit },
  else: concurrencyLimit,
};
const step = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    agent: str,
    capability: str,
    routing: { enum: ROUTING_STRATEGIES },
    pattern: { enum: ORCHESTRATION_PATTERNS },
    type: { enum: ['consensus'] },
    wait_for: waitFor,
    agents: agentList,
    rounds: { type: 'integer', minimum: 1, maximum: 100 },
    ...dynamicFields,
    strategy: { enum: CONSENSUS_STRATEGIES },
    judge: str,
    // mixture_of_agents: the aggregator (another name for `judge`) and the aggregation layers.
    aggregator: str,
    layers: { type: 'array', minItems: 1, maxItems: 10, items: agentList },
    // voting: a count of members (integer); weighted: a fraction of the total weight (0 < q ≤ 1).
    quorum: { type: 'number', exclusiveMinimum: 0 },
    on_no_quorum: { enum: ['fail', 'continue'] },
    trust: consensusTrust,
    input: mapping,
    needs: { type: 'array', uniqueItems: true, items: { type: 'string' } },
    when: expression,
    for_each: expression,
    retry,
    timeout_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
    priority: { type: 'integer', minimum: 1, maximum: 10 },
    budget,
    concurrency,
    rate_limit: rateLimit,
  },
};
const handler = {
  type: 'object',
  required: ['agent'],
  additionalProperties: false,
  properties: { agent: str, input: mapping },
};
// One handler or a list; if/then/else instead of oneOf so errors point inside the handler.
const handlers = {
  type: ['object', 'array'],
  if: { type: 'array' },
  then: { items: handler },
  else: handler,
};
const common = {
  name: {
    type: 'string',
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
    'x-message': 'must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit',
  },
  version: { type: 'string' },
  description: { type: 'string' },
  trigger,
  variables: { type: 'object' },
  // At most `limit` running runs per key value; the strategy says what happens to the rest.
  concurrency: {
    type: 'object',
    required: ['limit'],
    additionalProperties: false,
    properties: {
      key: expression,
      limit: { type: 'integer', minimum: 1, maximum: 10_000 },
      strategy: { enum: CONCURRENCY_STRATEGIES },
    },
  },
  // The whole run's deadline: past it the run ends `timeout` and its running attempts stop.
  timeout_seconds: { type: 'integer', minimum: 1, maximum: 2_592_000 },
  tags: { type: 'array', uniqueItems: true, items: str },
  // What the whole run may spend on model calls (each step may have its own too).
  budget,
  // Alerts this workflow opts in to (docs/alerts.md): one `task_completion` alert per completed run.
  alerts: {
    type: 'object',
    additionalProperties: false,
    required: ['on_completion'],
    properties: { on_completion: { enum: ['info', 'warning', 'critical'] } },
  },
};

const stepsForm = {
  type: 'object',
  required: ['name', 'version'],
  additionalProperties: false,
  properties: {
    ...common,
    steps: { type: 'array', minItems: 1, items: step },
    // A whole workflow may be one pattern: `pattern` + `agents` (+ `input`, `rounds`) instead of `steps`.
    pattern: { enum: ORCHESTRATION_PATTERNS },
    agents: agentList,
    input: mapping,
    rounds: step.properties.rounds,
    on_error: handlers,
    on_success: handlers,
  },
};

const nodesForm = {
  type: 'object',
  required: ['name', 'version', 'nodes'],
  additionalProperties: false,
  properties: {
    ...common,
    nodes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['id', 'type'],
        additionalProperties: false,
        properties: { id: { type: 'string' }, type: str, name: { type: 'string' }, config: mapping },
      },
    },
    edges: { type: 'array', items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'string' } } },
  },
};

/**
 * Compiled on first use, not when the module loads: compiling both forms takes ~0.2 s, which
 * every CLI command paid at start (`swarm --version` included) though most never check a workflow.
 */
let validators: { steps: ValidateFunction; nodes: ValidateFunction } | undefined;
function compiledValidators() {
  if (validators === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' });
    validators = { steps: ajv.compile(stepsForm), nodes: ajv.compile(nodesForm) };
  }
  return validators;
}

/** `steps[2]` + `needs` → `steps[2].needs`; keys that are not identifiers are quoted. */
export function fieldOf(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const part = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (base === '') return part.startsWith('[') ? `(document)${part}` : part;
  return part.startsWith('[') ? `${base}${part}` : `${base}.${part}`;
}

/** An Ajv instancePath (`/steps/2/needs/0`) as a field (`steps[2].needs[0]`), indexing arrays by the data. */
export function pointerToField(pointer: string, data: unknown, base = ''): string {
  let field = base;
  let node = data;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const isIndex = Array.isArray(node) && /^\d+$/.test(key);
    field = fieldOf(field, isIndex ? Number(key) : key);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return field;
}

/** One Ajv error as a FieldIssue, or null for errors that only summarise others (if/then). */
export function ajvIssue(error: ErrorObject, data: unknown, base = ''): FieldIssue | null {
  const field = pointerToField(error.instancePath, data, base);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'if':
      return null;
    case 'required':
      return { field: fieldOf(field, String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return {
        field: fieldOf(field, String(params.additionalProperty)),
        message: `unknown property "${String(params.additionalProperty)}"`,
      };
    case 'enum':
      return {
        field: field || '(document)',
        message: `must be one of: ${(params.allowedValues as unknown[]).join(', ')}`,
      };
    case 'uniqueItems': {
      const [a, b] = [Number(params.i), Number(params.j)];
      return { field: fieldOf(field, Math.max(a, b)), message: `repeats item ${Math.min(a, b)}` };
    }
    default: {
      const custom = (error.parentSchema as Record<string, unknown> | undefined)?.['x-message'];
      const message =
        (error.keyword === 'pattern' || error.keyword === 'const') && typeof custom === 'string'
          ? custom
          : (error.message ?? 'is invalid');
      return { field: field || '(document)', message };
    }
  }
}

/** Shape errors of a definition, in either form (`nodes` present = seed 004's form). */
export function shapeIssues(doc: Record<string, unknown>): FieldIssue[] {
  const { steps, nodes } = compiledValidators();
  const validate = 'nodes' in doc ? nodes : steps;
  if (validate(doc)) return [];
  return (validate.errors ?? []).flatMap((e) => ajvIssue(e, doc) ?? []);
}
