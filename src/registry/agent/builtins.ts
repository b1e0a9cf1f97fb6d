/**
 * The agents Swarm ships. The registry registers them itself as builtin/<name>@1.0.0 and the
 * worker runs them in-process (runtime {type: builtin}); their schemas are what workflow
 * validation checks step inputs against, so they describe exactly what each one accepts.
 */
import type { AgentKind, AgentManifest, JsonSchema } from '../types.js';
import { BUILTIN_NAMES, BUILTIN_PREFIX, type BuiltinName } from './rules.js';

interface BuiltinSpec {
  readonly description: string;
  readonly type?: AgentKind;
  readonly permissions?: readonly string[];
  readonly input_schema: JsonSchema;
  readonly output_schema: JsonSchema;
  /** @default 300 */
  readonly timeout_seconds?: number;
}

const object = (
  properties: Record<string, JsonSchema>,
  required: readonly string[] = [],
  closed = true,
): JsonSchema => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required: [...required] } : {}),
  ...(closed ? { additionalProperties: false } : {}),
});
const text = { type: 'string', minLength: 1 };
const email = { type: 'string', format: 'email' };
const recipients = { anyOf: [email, { type: 'array', items: email, minItems: 1, maxItems: 100 }] };

const SPECS: Record<BuiltinName, BuiltinSpec> = {
  noop: {
    description: 'Does nothing and succeeds with {}: a placeholder, or a join point in a DAG.',
    input_schema: true,
    output_schema: object({}),
  },
  transform: {
    description: "Outputs its resolved input unchanged: reshapes data with the step's input mapping.",
    input_schema: true,
    output_schema: true,
  },
  http_request: {
    description:
      'Sends one HTTP request and outputs the status, headers and body (JSON parsed when possible).',
    permissions: ['network:http'],
    input_schema: object(
      {
        url: {
          type: 'string',
          minLength: 1,
          // An http(s) URL, or (with `connector`) a path relative to the connector's base_url.
          pattern: '^(https?://|(?![A-Za-z][A-Za-z0-9+.-]*:))',
          description: 'an http(s) URL; with `connector`, a path relative to its base_url',
        },
        method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'], default: 'GET' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: {},
        connector: {
          ...text,
          description: "one of the owner's http connectors: base URL, default headers and auth",
        },
        idempotency_key: {
          type: 'boolean',
          default: true,
          description:
            "false: no Idempotency-Key header; by default the step's key (the same for its retries and a fork's replays)",
        },
      },
      ['url'],
    ),
    output_schema: object(
      {
        status: { type: 'integer', minimum: 100, maximum: 599 },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: {},
      },
      ['status', 'headers', 'body'],
    ),
  },
  delay: {
    description:
      'Waits `ms` milliseconds, or until `sleep_until` (an ISO 8601 timestamp), holding no worker: the task sleeps on the queue, so restarts of any process do not restart the wait.',
    // Exactly one of the two; the runtime says which is missing (a schema's oneOf would not).
    input_schema: object({
      ms: { type: 'integer', minimum: 0, maximum: 86_400_000 },
      sleep_until: { type: 'string', description: 'e.g. "2030-01-31T09:00:00Z": with a time zone' },
    }),
    output_schema: object(
      {
        waited_ms: { type: 'integer', minimum: 0 },
        until: { type: 'string', description: 'when the wait was due (UTC)' },
      },
      ['waited_ms', 'until'],
    ),
  },
  condition: {
    description: "Outputs whether `value` is truthy (JSONata's rules): the branch point for `when`.",
    type: 'coordination',
    input_schema: object({ value: { description: 'usually "{{ expression }}"' } }, ['value']),
    output_schema: object({ result: { type: 'boolean' } }, ['result']),
  },
  emit_event: {
    description: 'Emits the event {source, type, payload}; workflows subscribed to it start.',
    permissions: ['event:emit'],
    input_schema: object({ source: text, type: text, payload: {} }, ['source', 'type']),
    output_schema: object({ event_id: { type: 'string' } }, ['event_id']),
  },
  send_email: {
    description:
      "Sends an email through one of the owner's smtp connectors: text and HTML bodies, attachments (inline or the run's artifacts by name).",
    permissions: ['network:smtp'],
    input_schema: object(
      {
        connector: { ...text, description: 'name of an smtp connector' },
        to: recipients,
        cc: recipients,
        bcc: recipients,
        subject: { type: 'string', maxLength: 998 },
        text: { type: 'string' },
        html: { type: 'string' },
        attachments: {
          type: 'array',
          maxItems: 20,
          items: {
            anyOf: [
              object({ artifact: text, filename: text }, ['artifact']),
              object(
                {
                  filename: text,
                  content: { type: 'string' },
                  encoding: { enum: ['utf8', 'base64'] },
                  content_type: text,
                },
                ['filename', 'content'],
              ),
            ],
          },
        },
      },
      ['connector', 'to', 'subject'],
    ),
    output_schema: object(
      {
        message_id: { type: 'string' },
        accepted: { type: 'array', items: { type: 'string' } },
        rejected: { type: 'array', items: { type: 'string' } },
      },
      ['message_id', 'accepted', 'rejected'],
    ),
  },
  approval: {
    description:
      'Waits for a person to approve or reject (API, CLI, dashboard inbox or a signed link), holding no worker; outputs the decision. A rejection fails the step (docs/waiting.md).',
    type: 'coordination',
    input_schema: object(
      {
        message: { ...text, description: 'what the person is asked' },
        data: { description: 'what they review' },
        approvers: object({
          users: {
            type: 'array',
            items: text,
            minItems: 1,
            uniqueItems: true,
            description: 'user ids or emails',
          },
          roles: {
            type: 'array',
            items: { enum: ['admin', 'member', 'viewer'] },
            minItems: 1,
            uniqueItems: true,
          },
        }),
        form: { type: 'object', description: "a JSON Schema the decision's data must satisfy" },
        timeout: {
          anyOf: [
            { type: 'integer', minimum: 1 },
            { type: 'string', pattern: '^\\s*\\d{1,7}(s|m|h|d)\\s*$' },
          ],
          description: 'seconds, or 30s, 15m, 24h, 7d; absent: no timeout',
        },
        on_timeout: { enum: ['fail', 'approve', 'reject', 'continue'], default: 'fail' },
        notify: object(
          {
            connector: { ...text, description: 'name of an SMTP connector' },
            to: { type: 'array', items: email, minItems: 1 },
            subject: { type: 'string' },
          },
          ['connector', 'to'],
        ),
      },
      ['message'],
    ),
    output_schema: object(
      {
        decision: { enum: ['approve', 'timeout'] },
        approved: { type: 'boolean' },
        data: {},
        comment: { type: ['string', 'null'] },
        decided_by: object(
          {
            id: { type: ['string', 'null'] },
            email: { type: ['string', 'null'] },
            via: { enum: ['api', 'link', 'timeout'] },
            link: object({ id: { type: 'string' }, created_by: { type: 'string' } }, ['id', 'created_by']),
          },
          ['id', 'email', 'via'],
        ),
        decided_at: { type: 'string' },
      },
      ['decision', 'approved', 'data', 'comment', 'decided_by', 'decided_at'],
    ),
  },
  consensus: {
    description:
      "Counts the members' outputs of a voting or weighted consensus step (the engine decides on the count).",
    type: 'coordination',
    input_schema: object(
      {
        strategy: { enum: ['voting', 'weighted', 'judge_based', 'mixture_of_agents'] },
        quorum: {
          type: 'number',
          exclusiveMinimum: 0,
          description:
            'voting: votes that must agree (default: a strict majority); weighted: the fraction of the total weight (default: more than half)',
        },
        results: {
          type: 'array',
          minItems: 1,
          description: "the members' outputs, in the order of the step's agents",
        },
        weights: {
          type: 'array',
          items: { type: 'number', minimum: 0 },
          description: "weighted: each result's weight (default 1 each)",
        },
        judge: { description: "judge_based: the judge's verdict" },
      },
      ['strategy', 'results'],
    ),
    output_schema: object(
      {
        decision: {},
        reached: { type: 'boolean' },
        agreement: { type: 'number', minimum: 0, maximum: 1 },
        votes: {
          type: 'array',
          items: object(
            { value: {}, count: { type: 'integer', minimum: 0 }, weight: { type: 'number', minimum: 0 } },
            ['value', 'count'],
          ),
        },
      },
      ['decision', 'reached', 'agreement'],
    ),
  },
  orchestrate: {
    description:
      'Runs a hierarchical, round_robin, selector, mesh or handoff step at run time: each turn is a durable child task; the state is committed after every round (docs/patterns.md).',
    type: 'coordination',
    input_schema: object(
      {
        pattern: { enum: ['hierarchical', 'round_robin', 'selector', 'mesh', 'handoff'] },
        input: { description: "the step's input, handed to the agents" },
        agents: { type: 'array', minItems: 1, maxItems: 50, items: text },
        coordinator: text,
        pool: {
          type: 'array',
          minItems: 1,
          maxItems: 50,
          items: object({
            agent: text,
            delegates: { type: 'boolean' },
            capability: text,
            routing: { type: 'string' },
          }),
        },
        max_rounds: { type: 'integer', minimum: 1, maximum: 100 },
        max_subtasks: { type: 'integer', minimum: 1, maximum: 1000 },
        max_depth: { type: 'integer', minimum: 1, maximum: 5 },
        depth: { type: 'integer', minimum: 0, maximum: 5 },
        allow_self_delegation: { type: 'boolean' },
        until: text,
        window: { type: 'integer', minimum: 1, maximum: 1000 },
        selector: object({ agent: text, expression: text }),
        max_handoffs: { type: 'integer', minimum: 1, maximum: 100 },
        max_ping_pong: { type: 'integer', minimum: 1, maximum: 100 },
        max_retries: { type: 'integer', minimum: 0, maximum: 99 },
        timeout_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
      },
      ['pattern'],
    ),
    output_schema: { type: 'object' },
  },
  wait_for_event: {
    description:
      'Waits, holding no worker, for the first event of type `event` (and `source`) whose `match` holds, published since its run started (or within `lookback`); the event dispatcher matches it. The `wait_for` step form runs it.',
    type: 'coordination',
    input_schema: object(
      {
        event: { ...text, description: 'the event type, e.g. order.paid' },
        source: { ...text, description: 'only events from this source' },
        match: {
          ...text,
          description:
            'JSONata over {event, trigger, variables, steps, run}; the event counts when it is true',
        },
        timeout: { ...text, description: 'a duration ("30s", "2h", "7d"); none: wait until the run ends' },
        lookback: {
          ...text,
          description:
            'events published this long before the wait began count too; default: since the run started',
        },
        on_timeout: { enum: ['fail', 'continue'], description: 'default fail' },
        scope: {
          type: 'object',
          description: 'what `match` sees besides `event` (the wait_for form fills it)',
        },
      },
      ['event'],
    ),
    output_schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        event: object({ id: text, type: text, source: text, payload: {}, created_at: { type: 'string' } }, [
          'id',
          'type',
          'source',
          'payload',
          'created_at',
        ]),
        waited_ms: { type: 'integer', minimum: 0 },
        timed_out: { const: true },
      },
      anyOf: [{ required: ['event', 'waited_ms'] }, { required: ['timed_out'] }],
    },
  },
};

function manifest(name: BuiltinName, spec: BuiltinSpec): AgentManifest {
  return {
    name: `${BUILTIN_PREFIX}${name}`,
    version: '1.0.0',
    description: spec.description,
    type: spec.type ?? 'execution',
    capabilities: [`builtin:${name}`],
    permissions: [...(spec.permissions ?? [])],
    input_schema: spec.input_schema,
    output_schema: spec.output_schema,
    resources: { memory_mb: 128, timeout_seconds: spec.timeout_seconds ?? 300 },
    runtime: { type: 'builtin', name },
    tags: ['builtin'],
    author: 'Swarm',
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Every builtin agent, already normalised (as validateAgentManifest would return it), frozen. */
export const BUILTIN_AGENTS: readonly AgentManifest[] = deepFreeze(
  BUILTIN_NAMES.map((name) => manifest(name, SPECS[name])),
);

/** Whether `name` is one of Swarm's builtin agents (`builtin/noop`…). */
export function isBuiltinName(name: string): boolean {
  return (
    name.startsWith(BUILTIN_PREFIX) &&
    (BUILTIN_NAMES as readonly string[]).includes(name.slice(BUILTIN_PREFIX.length))
  );
}
