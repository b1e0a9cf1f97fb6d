import type { FastifyInstance } from 'fastify';
import { InputError } from '../../errors/index.js';
import { DEFAULT_ROTATION_GRACE_SECONDS, TriggerService } from '../../triggers/index.js';
import { callerOf } from '../auth-hook.js';
import type { RouteDeps } from './deps.js';

export const TRIGGER_TYPES = ['webhook', 'schedule', 'event'] as const;

/** A trigger as anyone may see it: never its secret (the response schema drops anything else). */
export const triggerSchema = {
  $id: 'Trigger',
  type: 'object',
  required: ['id', 'workflow', 'type', 'enabled', 'fireCount', 'createdAt'],
  properties: {
    id: { type: 'string' },
    workflow: { type: 'string' },
    type: { type: 'string', enum: [...TRIGGER_TYPES] },
    enabled: { type: 'boolean' },
    path: { type: ['string', 'null'], description: 'Webhook: the path under /hooks/' },
    url: { type: ['string', 'null'], description: 'Webhook: /hooks/<path>, relative to the server' },
    previousSecretValidUntil: {
      type: ['string', 'null'],
      description: 'Webhook: until when a rotated-out secret is still accepted',
    },
    cron: { type: ['string', 'null'] },
    timezone: { type: ['string', 'null'] },
    misfire: { type: ['string', 'null'], enum: ['skip', 'catch_up', null] },
    catchUpLimit: { type: ['integer', 'null'] },
    nextRunAt: { type: ['string', 'null'] },
    lastRunAt: { type: ['string', 'null'] },
    eventSource: { type: ['string', 'null'] },
    eventType: { type: ['string', 'null'] },
    fireCount: { type: 'integer' },
    createdAt: { type: 'string' },
  },
} as const;

export const firingSchema = {
  $id: 'TriggerFiring',
  type: 'object',
  required: ['id', 'key', 'status', 'createdAt'],
  properties: {
    id: { type: 'string' },
    key: {
      type: 'string',
      description: 'What makes it once: the idempotency key, the tick, or the event id',
    },
    status: {
      type: 'string',
      enum: ['started', 'skipped', 'failed', 'refused'],
      description:
        'refused: the event loop guard or the trigger’s throttle stopped it (see reason); skipped: a schedule’s missed tick, or a debounced firing (its run starts once the quiet period passes)',
    },
    runId: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    reason: {
      type: ['string', 'null'],
      description:
        'Why a firing was refused: `depth-limit` (the event is SWARM_MAX_EVENT_DEPTH deep), `self-triggered` (a run of the same workflow caused it) or `throttled` (over the trigger’s `throttle`); null otherwise',
    },
    scheduledFor: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
  },
} as const;

const refParams = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string', minLength: 1, description: "The workflow's name or the trigger id" } },
} as const;
const problems = { 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } } as const;

/** The URL a webhook trigger listens on, relative to the server. */
export function hookUrl(path: string): string {
  return `/hooks/${path.split('/').map(encodeURIComponent).join('/')}`;
}

function withUrl<T extends { path: string | null }>(view: T): T & { url: string | null } {
  return { ...view, url: view.path === null ? null : hookUrl(view.path) };
}

/** An optional positive integer from the query string, or 400 naming `field`. */
function queryInteger(raw: string | undefined, field: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max)
    throw new InputError(field, `must be an integer from ${min} to ${max}`);
  return Number(raw);
}

/**
 * `/api/v1/triggers`: the caller's triggers (one per workflow that is not manual, kept in step
 * with its latest version when it is applied): list, show, enable/disable, rotate a webhook's
 * secret, a schedule's next times, and what fired.
 */
export function triggerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.addSchema(triggerSchema);
  app.addSchema(firingSchema);
  let service: TriggerService | undefined;
  // The keyring is opened when first needed: most of these routes never touch a secret.
  const triggers = () => (service ??= new TriggerService(deps.store, deps.keyring()));

  app.get<{ Querystring: { type?: string } }>(
    '/api/v1/triggers',
    {
      config: { scope: 'triggers:read' },
      schema: {
        tags: ['triggers'],
        summary: "The caller's triggers, by workflow name; never their secrets",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { type: { type: 'string', enum: [...TRIGGER_TYPES] } },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Trigger#' } } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { type } = request.query;
      const items = await triggers().list(callerOf(request), type === undefined ? {} : { type });
      return { items: items.map(withUrl) };
    },
  );

  app.get<{ Params: { ref: string } }>(
    '/api/v1/triggers/:ref',
    {
      config: { scope: 'triggers:read' },
      schema: {
        tags: ['triggers'],
        summary: "One trigger, by its workflow's name or its id",
        params: refParams,
        response: { 200: { $ref: 'Trigger#' }, ...problems },
      },
    },
    async (request) => withUrl(await triggers().get(callerOf(request), request.params.ref)),
  );

  for (const [action, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    app.post<{ Params: { ref: string } }>(
      `/api/v1/triggers/:ref/${action}`,
      {
        config: { scope: 'triggers:write' },
        schema: {
          tags: ['triggers'],
          summary: enabled
            ? 'Enable a trigger; a schedule starts from now (ticks it slept through are not misfires)'
            : 'Disable a trigger: it stops firing (the workflow can still be run by hand)',
          params: refParams,
          response: { 200: { $ref: 'Trigger#' }, ...problems },
        },
      },
      async (request) => withUrl(await triggers().setEnabled(callerOf(request), request.params.ref, enabled)),
    );
  }

  app.post<{ Params: { ref: string }; Body: { graceSeconds?: number } | undefined }>(
    '/api/v1/triggers/:ref/rotate-secret',
    {
      config: { scope: 'triggers:write' },
      // The body is optional: a POST without one means every default.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['triggers'],
        summary: 'Give a webhook trigger a new signing secret, returned this once',
        description: `The previous secret is still accepted for \`graceSeconds\` (default ${DEFAULT_ROTATION_GRACE_SECONDS}, 0: not at all, at most 2592000), so senders can move over.`,
        params: refParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { graceSeconds: { type: 'integer' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['trigger', 'secret'],
            properties: {
              trigger: { $ref: 'Trigger#' },
              secret: { type: 'string', description: 'The new secret: store it now, it is not shown again' },
            },
          },
          ...problems,
        },
      },
    },
    async (request) => {
      const { trigger, secret } = await triggers().rotateSecret(
        callerOf(request),
        request.params.ref,
        request.body?.graceSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS,
      );
      return { trigger: withUrl(trigger), secret };
    },
  );

  app.get<{ Params: { ref: string }; Querystring: { count?: string } }>(
    '/api/v1/triggers/:ref/next',
    {
      config: { scope: 'triggers:read' },
      schema: {
        tags: ['triggers'],
        summary: 'The next times a schedule trigger fires (its time zone and DST included)',
        params: refParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { count: { type: 'string', description: '1–100, default 5' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['trigger', 'times'],
            properties: {
              trigger: { $ref: 'Trigger#' },
              times: { type: 'array', items: { type: 'string', format: 'date-time' } },
            },
          },
          ...problems,
        },
      },
    },
    async (request) => {
      const count = queryInteger(request.query.count, 'count', 1, 100) ?? 5;
      const { trigger, times } = await triggers().next(callerOf(request), request.params.ref, count);
      return { trigger: withUrl(trigger), times };
    },
  );

  app.get<{ Params: { ref: string }; Querystring: { limit?: string } }>(
    '/api/v1/triggers/:ref/firings',
    {
      config: { scope: 'triggers:read' },
      schema: {
        tags: ['triggers'],
        summary: "A trigger's firings, newest first: the run each started, or why it started none",
        params: refParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'string', description: '1–500, default 50' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'TriggerFiring#' } } },
          },
          ...problems,
        },
      },
    },
    async (request) => {
      const limit = queryInteger(request.query.limit, 'limit', 1, 500) ?? 50;
      return { items: await triggers().firings(callerOf(request), request.params.ref, limit) };
    },
  );
}
