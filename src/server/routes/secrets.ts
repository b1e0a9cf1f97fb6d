import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loadConfig } from '../../config/index.js';
import { SwarmError } from '../../errors/index.js';
import {
  openKeyring,
  SecretsService,
  SECRET_NAME_PATTERN,
  SECRET_VALUE_MAX_BYTES,
  type Keyring,
  type SecretRecord,
} from '../../secrets/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';
import { sendProblem } from '../problem.js';

export const secretSchema = {
  $id: 'Secret',
  type: 'object',
  description: 'A secret as anyone may see it: never its value',
  required: ['id', 'name', 'scope', 'workflow', 'keyVersion', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scope: { type: 'string', enum: ['global', 'workflow'] },
    workflow: { type: ['string', 'null'], description: 'The workflow a workflow-scoped secret belongs to' },
    keyVersion: {
      type: 'integer',
      description: 'The master-key version its value is encrypted under (0: imported, unreadable)',
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** For the OpenAPI document and request validation. */
const NAME_PATTERN = SECRET_NAME_PATTERN.source;

interface SetBody {
  value: string;
  workflow?: string;
}

function view(secret: SecretRecord) {
  return {
    id: secret.id,
    name: secret.name,
    scope: secret.scope,
    workflow: secret.workflow,
    keyVersion: secret.keyVersion,
    createdAt: secret.createdAt,
    updatedAt: secret.updatedAt,
  };
}

/**
 * Errors on these routes never quote the request: a JSON or YAML parser's message may show a
 * piece of the body, which here is a secret value. Schema errors name the field only.
 */
async function sealedErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const unparsed =
    error instanceof SwarmError
      ? error.issues[0]?.field === 'body'
      : error.validation === undefined && typeof error.statusCode === 'number' && error.statusCode < 500;
  const quiet = !unparsed
    ? error
    : new SwarmError(
        'INPUT_INVALID',
        (error instanceof SwarmError ? error.status : error.statusCode) === 400
          ? 'body: not valid JSON or YAML (the details are withheld: they could quote the value)'
          : `the request was refused (HTTP ${error.statusCode}${error.code ? `, ${error.code}` : ''})`,
        { status: error instanceof SwarmError ? error.status : (error.statusCode ?? 400) },
      );
  await sendProblem(request, reply, quiet);
}

/**
 * `/api/v1/secrets`: set (create or replace), list and remove the caller's secrets. Values go
 * in and never come out — not in responses, logs or the audit log.
 */
export function secretRoutes(app: FastifyInstance, store: Store, keyring?: Keyring): void {
  app.addSchema(secretSchema);
  let service: SecretsService | undefined;
  // Without a keyring from the caller, the environment's, opened when first needed.
  const secrets = () =>
    (service ??= new SecretsService(
      store,
      keyring ?? openKeyring(loadConfig(), { warn: (message) => app.log.warn(message) }),
    ));

  app.put<{ Params: { name: string }; Body: SetBody }>(
    '/api/v1/secrets/:name',
    {
      config: { scope: 'secrets:write' },
      errorHandler: sealedErrors,
      schema: {
        tags: ['secrets'],
        summary: 'Create or replace a secret; its value is never returned',
        description:
          'Encrypted with AES-256-GCM under the current master key. `workflow` scopes it to a workflow (all its versions), which then takes precedence over a global secret of the same name. 201 when created, 200 when replaced.',
        params: {
          type: 'object',
          required: ['name'],
          properties: {
            name: {
              type: 'string',
              pattern: NAME_PATTERN,
              description: 'Letters, digits and _, not starting with a digit; at most 100 characters',
            },
          },
        },
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: {
            value: {
              type: 'string',
              minLength: 1,
              maxLength: SECRET_VALUE_MAX_BYTES,
              description: `The value, at most ${SECRET_VALUE_MAX_BYTES} bytes of UTF-8`,
            },
            workflow: { type: 'string', minLength: 1, description: 'Scope it to this workflow' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['created', 'secret'],
            properties: { created: { type: 'boolean' }, secret: { $ref: 'Secret#' } },
          },
          201: {
            type: 'object',
            required: ['created', 'secret'],
            properties: { created: { type: 'boolean' }, secret: { $ref: 'Secret#' } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { value, workflow } = request.body;
      const { secret, created } = await secrets().set(caller, {
        name: request.params.name,
        value,
        ...(workflow === undefined ? {} : { workflow }),
      });
      return reply.code(created ? 201 : 200).send({ created, secret: view(secret) });
    },
  );

  app.get(
    '/api/v1/secrets',
    {
      config: { scope: 'secrets:read' },
      schema: {
        tags: ['secrets'],
        summary: "List the caller's secrets: names, scope, key version and times, never values",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Secret#' } } },
          },
        },
      },
    },
    async (request) => ({ items: (await secrets().list(callerOf(request))).map(view) }),
  );

  app.delete<{ Params: { name: string }; Querystring: { workflow?: string } }>(
    '/api/v1/secrets/:name',
    {
      config: { scope: 'secrets:write' },
      errorHandler: sealedErrors,
      schema: {
        tags: ['secrets'],
        summary: 'Remove a secret: the global one, or with ?workflow= the one scoped to that workflow',
        params: {
          type: 'object',
          required: ['name'],
          // Any name: secrets imported from a legacy registry may not follow today's rule.
          properties: { name: { type: 'string', minLength: 1, maxLength: 255 } },
        },
        querystring: {
          type: 'object',
          properties: { workflow: { type: 'string', minLength: 1 } },
        },
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      // The audit row is written in the removal's transaction (storage/repositories/secrets.ts).
      await secrets().remove(caller, request.params.name, request.query.workflow);
      return reply.code(204).send();
    },
  );
}
