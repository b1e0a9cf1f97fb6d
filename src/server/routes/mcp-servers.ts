import type { FastifyInstance } from 'fastify';
import { callerHas } from '../../auth/index.js';
import { loadConfig } from '../../config/index.js';
import { InputError, NotFoundError, SwarmError } from '../../errors/index.js';
import { checkMcpServerInput, checkMcpServerName, createMcpPool, type McpPool } from '../../mcp/index.js';
import { ProcessSandbox } from '../../runtimes/index.js';
import { openKeyring, SecretsService, type Keyring } from '../../secrets/index.js';
import type { McpServerRecord, Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const mcpServerSchema = {
  $id: 'McpServer',
  type: 'object',
  description:
    'An MCP server: a stdio program started in the process sandbox, or a streamable-HTTP URL. Credentials are secrets, named here, never shown',
  required: ['id', 'name', 'transport', 'command', 'args', 'url', 'headers', 'env', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    transport: { type: 'string', enum: ['stdio', 'http'] },
    command: {
      type: ['string', 'null'],
      description: 'stdio: the program (a name on the sandbox PATH, or absolute)',
    },
    args: { type: 'array', items: { type: 'string' }, description: 'stdio: its arguments (no shell)' },
    url: { type: ['string', 'null'], description: 'http: the streamable-HTTP endpoint' },
    headers: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'http: header name → the NAME of the secret holding its value',
    },
    env: {
      type: 'array',
      items: { type: 'string' },
      description: 'stdio: names of the secrets passed as environment variables',
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

const mcpToolSchema = {
  $id: 'McpTool',
  type: 'object',
  description: 'A tool as the server lists it (tools/list)',
  required: ['name', 'inputSchema'],
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    inputSchema: { type: 'object', additionalProperties: true },
  },
} as const;

function view(server: McpServerRecord) {
  return {
    id: server.id,
    name: server.name,
    transport: server.transport,
    command: server.command,
    args: server.args,
    url: server.url,
    headers: server.headers,
    env: server.env,
    createdAt: server.createdAt,
    updatedAt: server.updatedAt,
  };
}

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/**
 * `/api/v1/mcp/servers`: the caller's MCP servers, and their tools listed live. A stdio server
 * runs a program on the workers, so declaring one also needs `agents:publish`, like registering
 * a node, python or binary agent. `deps.pool` lists tools (the process's pool: `swarm start`
 * shares the worker's); without one, a pool of the routes' own is made from the environment when
 * first needed, and closed with the app.
 */
export function mcpServerRoutes(
  app: FastifyInstance,
  store: Store,
  deps: { readonly pool?: McpPool; readonly keyring?: Keyring } = {},
): void {
  app.addSchema(mcpServerSchema);
  app.addSchema(mcpToolSchema);
  let own: McpPool | undefined;
  const tools = () => deps.pool ?? (own ??= envPool(store, app, deps.keyring));
  app.addHook('onClose', async () => {
    await own?.close();
  });
  const saved = {
    type: 'object',
    required: ['created', 'server'],
    properties: { created: { type: 'boolean' }, server: { $ref: 'McpServer#' } },
  } as const;

  app.put<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/mcp/servers/:name',
    {
      config: { scope: 'mcp:write' },
      schema: {
        tags: ['mcp'],
        summary: 'Declare or replace an MCP server',
        description:
          "Body: `command` (a program: a name on the sandbox PATH or an absolute path; `node` is the worker's Node.js) with `args` (an array, no shell) and `env` (names of secrets passed as variables) for a stdio server, which also needs the `agents:publish` scope; or `url` (http/https, no credentials, query or fragment) with `headers` (header name → NAME of a global secret) for a streamable-HTTP server. Every secret named must exist. 201 when created, 200 when replaced; with `If-None-Match: *`, an existing server is 409 instead. 400 naming each wrong field; nothing is written on any error.",
        params: nameParams,
        body: {
          type: 'object',
          properties: {
            transport: { type: 'string', enum: ['stdio', 'http'] },
            command: { type: 'string' },
            args: { type: 'array', items: { type: 'string' } },
            url: { type: 'string' },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
            env: { type: 'array', items: { type: 'string' } },
          },
        },
        response: {
          200: saved,
          201: saved,
          400: { $ref: 'Problem#' },
          403: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const input = checkMcpServerInput(request.params.name, request.body);
      if (input.transport === 'stdio' && !callerHas(caller, 'agents:publish'))
        throw new SwarmError(
          'INSUFFICIENT_SCOPE',
          'a stdio MCP server runs its command on the workers: declaring one needs the scope "agents:publish" (admins have it; a member only when an admin grants it, and only with a key that names it)',
          {
            issues: [{ field: 'command', message: '"agents:publish" is required to run a program' }],
            context: { scope: 'agents:publish' },
          },
        );
      const scoped = store.as(caller);
      const globals = new Set(
        (await scoped.secrets.list()).filter((s) => s.scope === 'global').map((s) => s.name),
      );
      const missing = [
        ...Object.entries(input.headers).map(([header, secret]) => ({ field: `headers.${header}`, secret })),
        ...input.env.map((secret, i) => ({ field: `env[${i}]`, secret })),
      ].filter((use) => !globals.has(use.secret));
      const [first, ...more] = missing.map((use) => ({
        field: use.field,
        message: `no global secret named "${use.secret}" (set it first with \`swarm secrets set ${use.secret}\`)`,
      }));
      if (first !== undefined) throw new InputError(first.field, first.message, more);
      // `If-None-Match: *` (swarm mcp servers add): create only; an existing name is 409.
      const createOnly = request.headers['if-none-match'] === '*';
      const { server, created } = await scoped.mcp.setServer(input, { createOnly });
      return reply.code(created ? 201 : 200).send({ created, server: view(server) });
    },
  );

  app.get(
    '/api/v1/mcp/servers',
    {
      config: { scope: 'mcp:read' },
      schema: {
        tags: ['mcp'],
        summary: "List the caller's MCP servers",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'McpServer#' } } },
          },
        },
      },
    },
    async (request) => ({ items: (await store.as(callerOf(request)).mcp.servers()).map(view) }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/mcp/servers/:name',
    {
      config: { scope: 'mcp:read' },
      schema: {
        tags: ['mcp'],
        summary: 'One MCP server',
        params: nameParams,
        response: { 200: { $ref: 'McpServer#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const name = checkMcpServerName(request.params.name);
      const server = await store.as(callerOf(request)).mcp.server(name);
      if (server === null) throw new NotFoundError('MCP server', name);
      return view(server);
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/mcp/servers/:name/tools',
    {
      config: { scope: 'mcp:read' },
      schema: {
        tags: ['mcp'],
        summary: "The server's tools, listed live (kept for 30 s)",
        description:
          'Starts (stdio) or reaches (http) the server when no connection is open. A server that cannot be started, reached or spoken to is 424 MCP_SERVER_UNAVAILABLE (Failed Dependency) naming it; an address the HTTP policy refuses (private, without SWARM_ALLOW_PRIVATE_NETWORKS) is 403 FORBIDDEN; never an empty list in place of an error.',
        params: nameParams,
        response: {
          200: {
            type: 'object',
            required: ['server', 'tools'],
            properties: {
              server: { type: 'string' },
              tools: { type: 'array', items: { $ref: 'McpTool#' } },
            },
          },
          403: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          424: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const name = checkMcpServerName(request.params.name);
      if ((await store.as(caller).mcp.server(name)) === null) throw new NotFoundError('MCP server', name);
      return { server: name, tools: await tools().listTools(caller.userId, name) };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/mcp/servers/:name',
    {
      config: { scope: 'mcp:write' },
      schema: {
        tags: ['mcp'],
        summary: 'Remove an MCP server (the secrets it names stay)',
        params: nameParams,
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const name = checkMcpServerName(request.params.name);
      const removed = await store.as(callerOf(request)).mcp.removeServer(name);
      if (removed === null) throw new NotFoundError('MCP server', name);
      return reply.code(204).send();
    },
  );
}

/** An app built without the process's pool (tests): one from the environment's settings. */
function envPool(store: Store, app: FastifyInstance, keyring: Keyring | undefined): McpPool {
  const config = loadConfig();
  return createMcpPool({
    store,
    secrets: new SecretsService(
      store,
      keyring ?? openKeyring(config, { warn: (message) => app.log.warn(message) }),
    ),
    home: config.home,
    allowPrivateNetworks: config.allowPrivateNetworks,
    allowUnisolated: config.allowUnisolatedAgents,
    sandbox: () =>
      new ProcessSandbox({
        isolation: { mode: config.agentIsolation, uid: config.agentUid, gid: config.agentGid },
      }),
  });
}
