import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/index.js';
import {
  checkConnectorConfig,
  checkConnectorName,
  checkConnectorType,
  ConnectorResolver,
  CONNECTOR_TYPES,
  probeConnector,
  secretOf,
  SmtpMailer,
} from '../../connectors/index.js';
import { InputError, NotFoundError } from '../../errors/index.js';
import type { HttpPolicy } from '../../runtimes/index.js';
import { openKeyring, SecretsService, type Keyring } from '../../secrets/index.js';
import type { Caller, ConnectorRecord, Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const connectorSchema = {
  $id: 'Connector',
  type: 'object',
  description:
    "A connector (seed 004): settings for reaching an outside service. Credentials are the owner's secrets, named in `config`, never shown",
  required: ['id', 'name', 'type', 'active', 'config', 'secret', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    type: { type: 'string', description: '`http` or `smtp` (imported rows may hold other types)' },
    active: { type: 'boolean' },
    config: {
      type: 'object',
      additionalProperties: true,
      description:
        'http: `{base_url, headers?, auth?: {type: bearer|basic|api_key, secret, username?, header?}}`; smtp: `{host, port, tls: implicit|starttls|none, username?, password_secret?, from}`',
    },
    secret: { type: ['string', 'null'], description: 'The NAME of the secret the config uses' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

const view = (c: ConnectorRecord) => ({
  id: c.id,
  name: c.name,
  type: c.type,
  active: c.active,
  config: c.config,
  secret: c.secretsRef,
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
});

const refParams = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

const configBody = { type: 'object', additionalProperties: true } as const;

/** The secret the config names must be one of the caller's global secrets: 400 naming the field. */
async function checkSecret(store: Store, caller: Caller, type: string, config: Record<string, unknown>) {
  const secret = secretOf(type, config);
  if (secret === null) return null;
  const globals = (await store.as(caller).secrets.list()).filter((s) => s.scope === 'global');
  if (!globals.some((s) => s.name === secret.name))
    throw new InputError(
      secret.field,
      `no global secret named "${secret.name}" (set it first with \`swarm secrets set ${secret.name}\`)`,
    );
  return secret.name;
}

/**
 * `/api/v1/connectors`: the caller's connectors (seed 004), by name or id. The test route reaches
 * the connector's server the way a step would (the address guard, the owner's secret) and
 * answers `{ok, message}`: a dead server is an answer, not an error.
 */
export function connectorRoutes(
  app: FastifyInstance,
  store: Store,
  deps: { readonly keyring?: Keyring; readonly allowPrivateNetworks?: boolean } = {},
): void {
  app.addSchema(connectorSchema);
  let probe: Parameters<typeof probeConnector>[0] | undefined;
  // Built when first needed: the keyring may be the environment's (tests build apps without one).
  const probeDeps = () => {
    if (probe !== undefined) return probe;
    const config = loadConfig();
    const keyring = deps.keyring ?? openKeyring(config, { warn: (message) => app.log.warn(message) });
    const policy: HttpPolicy = {
      allowPrivateNetworks: deps.allowPrivateNetworks ?? config.allowPrivateNetworks,
      timeoutMs: 15_000,
      maxResponseBytes: 1024 * 1024,
    };
    const connectors = new ConnectorResolver(store, new SecretsService(store, keyring));
    probe = { connectors, mailer: new SmtpMailer(connectors, policy), policy };
    return probe;
  };
  const find = async (caller: Caller, ref: string) => {
    const found = await store.as(caller).connectors.find(ref);
    if (found === null) throw new NotFoundError('connector', ref);
    return found;
  };

  app.get(
    '/api/v1/connectors',
    {
      config: { scope: 'connectors:read' },
      schema: {
        tags: ['connectors'],
        summary: "List the caller's connectors",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Connector#' } } },
          },
        },
      },
    },
    async (request) => ({ items: (await store.as(callerOf(request)).connectors.list()).map(view) }),
  );

  app.post<{ Body: { name: string; type: string; config: Record<string, unknown> } }>(
    '/api/v1/connectors',
    {
      config: { scope: 'connectors:write' },
      schema: {
        tags: ['connectors'],
        summary: 'Add a connector',
        description:
          'Body: `name`, `type` (`http` or `smtp`) and `config` (see the Connector schema). A secret the config names must be one of your global secrets. 409 when the name is taken; 400 naming each wrong field; nothing is written on any error.',
        body: {
          type: 'object',
          required: ['name', 'type', 'config'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            type: { type: 'string', enum: [...CONNECTOR_TYPES] },
            config: configBody,
          },
        },
        response: { 201: { $ref: 'Connector#' }, 400: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const name = checkConnectorName(request.body.name);
      const type = checkConnectorType(request.body.type);
      const config = checkConnectorConfig(type, request.body.config) as unknown as Record<string, unknown>;
      const secretsRef = await checkSecret(store, caller, type, config);
      const saved = await store.as(caller).connectors.create({ name, type, config, secretsRef });
      return reply.code(201).send(view(saved));
    },
  );

  app.get<{ Params: { ref: string } }>(
    '/api/v1/connectors/:ref',
    {
      config: { scope: 'connectors:read' },
      schema: {
        tags: ['connectors'],
        summary: 'One connector, by name or id',
        params: refParams,
        response: { 200: { $ref: 'Connector#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => view(await find(callerOf(request), request.params.ref)),
  );

  app.patch<{ Params: { ref: string }; Body: { name?: string; config?: Record<string, unknown> } }>(
    '/api/v1/connectors/:ref',
    {
      config: { scope: 'connectors:write' },
      schema: {
        tags: ['connectors'],
        summary: 'Rename a connector or replace its config (its type stays)',
        params: refParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { name: { type: 'string' }, config: configBody },
        },
        response: {
          200: { $ref: 'Connector#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const existing = await find(caller, request.params.ref);
      const type = checkConnectorType(existing.type, 'type');
      const name = request.body.name === undefined ? existing.name : checkConnectorName(request.body.name);
      const config = checkConnectorConfig(type, request.body.config ?? existing.config) as unknown as Record<
        string,
        unknown
      >;
      const secretsRef = await checkSecret(store, caller, type, config);
      const saved = await store.as(caller).connectors.update(existing.id, { name, config, secretsRef });
      if (saved === null) throw new NotFoundError('connector', request.params.ref);
      return view(saved);
    },
  );

  app.delete<{ Params: { ref: string } }>(
    '/api/v1/connectors/:ref',
    {
      config: { scope: 'connectors:write' },
      schema: {
        tags: ['connectors'],
        summary: 'Remove a connector (the secret it names stays)',
        params: refParams,
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const existing = await find(caller, request.params.ref);
      if ((await store.as(caller).connectors.remove(existing.id)) === null)
        throw new NotFoundError('connector', request.params.ref);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { ref: string } }>(
    '/api/v1/connectors/:ref/test',
    {
      config: { scope: 'connectors:write' },
      schema: {
        tags: ['connectors'],
        summary: 'Check a connector works: smtp connects and logs in; http sends HEAD to base_url',
        description:
          'Nothing is sent that matters. Answers 200 `{ok, message}` whether or not the server answered; the address guard applies (private addresses only with SWARM_ALLOW_PRIVATE_NETWORKS).',
        params: refParams,
        response: {
          200: {
            type: 'object',
            required: ['ok', 'message'],
            properties: { ok: { type: 'boolean' }, message: { type: 'string' } },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const existing = await find(caller, request.params.ref);
      // Bounded by the policy's timeout, not by the client: a probe holds nothing worth cancelling.
      return probeConnector(
        probeDeps(),
        caller.userId,
        existing.name,
        existing.type,
        new AbortController().signal,
      );
    },
  );
}
