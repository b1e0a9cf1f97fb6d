import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RunLogs, type Engine } from '../../engine/index.js';
import { SwarmError } from '../../errors/index.js';
import type { Registry } from '../../registry/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';
import { createMcpServer, type McpContext } from './server.js';

export interface McpOptions {
  /** How long a tool call waits for its run when it does not say (`_wait_seconds`). @default 25 */
  readonly waitSeconds?: number;
  /** The longest wait a call may ask for. @default 60 */
  readonly maxWaitSeconds?: number;
  /** How often a waiting call reads its run. @default 250 */
  readonly pollMs?: number;
}

export interface McpDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly engine: Engine;
  readonly onRunStarted: () => void;
}

/** The request headers the MCP transport reads; nothing else (the key least of all) is handed on. */
const TRANSPORT_HEADERS = ['accept', 'content-type', 'mcp-protocol-version'] as const;

/**
 * The request as the SDK's web-standard transport takes it. Its body was parsed by Fastify (the
 * API's JSON parser: body limit, depth and NUL checks) and is passed beside it.
 */
function webRequestOf(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const name of TRANSPORT_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers.set(name, value);
  }
  return new Request('http://swarm.invalid/mcp', { method: 'POST', headers });
}

/** Sends the transport's answer through Fastify, so its hooks (headers, metrics, tracing) apply. */
async function send(reply: FastifyReply, response: Response): Promise<FastifyReply> {
  // The transport's own refusals (an Accept without JSON, a body that is not JSON-RPC) come as
  // JSON-RPC errors; like every 4xx of this API they go out as problem+json, its message kept.
  if (response.status >= 400) {
    const said = await response.text();
    let message = said;
    try {
      const parsed = JSON.parse(said) as { error?: { message?: unknown } };
      if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    } catch {
      // Not JSON: the text as it is.
    }
    throw new SwarmError('INPUT_INVALID', `MCP: ${message.slice(0, 500) || `HTTP ${response.status}`}`, {
      status: response.status,
    });
  }
  reply.code(response.status);
  response.headers.forEach((value, name) => void reply.header(name, value));
  const body = await response.text();
  return reply.send(body === '' ? undefined : body);
}

/**
 * `/mcp`: Swarm as an MCP server over streamable HTTP (docs/mcp.md). Stateless: no session id,
 * no stream kept open, a fresh MCP server and transport per POST, JSON answers. So any server
 * process behind a load balancer can answer any request, and a tool call waits for its run by
 * reading the database. The caller is authenticated like every API request (bearer key,
 * `X-Swarm-Owner`, rate limits); each MCP method checks its own scope.
 */
export function mcpRoutes(app: FastifyInstance, deps: McpDeps, options: McpOptions = {}): void {
  const maxSeconds = options.maxWaitSeconds ?? 60;
  const context: McpContext = {
    registry: deps.registry,
    engine: deps.engine,
    logs: new RunLogs(deps.store),
    onRunStarted: deps.onRunStarted,
    wait: {
      defaultSeconds: Math.min(options.waitSeconds ?? 25, maxSeconds),
      maxSeconds,
      pollMs: options.pollMs ?? 250,
    },
  };
  // Calls waiting for their runs: a closing server ends their waits (each answers with its run
  // as it stands) instead of holding close() up for as long as they would wait.
  const waiting = new Set<AbortController>();
  app.addHook('preClose', (done) => {
    for (const controller of waiting) controller.abort();
    done();
  });

  app.post(
    '/mcp',
    {
      config: { scope: 'authenticated' },
      schema: {
        tags: ['mcp'],
        summary: 'The MCP endpoint (streamable HTTP, stateless): JSON-RPC requests in, JSON answers out',
        description:
          'Each runnable workflow is a tool (`tools/list` needs `workflows:read`, `tools/call` `runs:write`); runs and their logs are resources (`runs:read`). See docs/mcp.md.',
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const controller = new AbortController();
      waiting.add(controller);
      // The client went away: a waiting call stops reading its run.
      const gone = () => controller.abort();
      reply.raw.once('close', gone);
      const server = createMcpServer(context, caller, controller.signal, (error) =>
        request.log.error({ err: error }, 'MCP request failed'),
      );
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      // Refusals (bad Accept, not JSON-RPC) are answered by the transport with a 4xx; noted only.
      transport.onerror = (error) => request.log.debug({ err: error }, 'MCP request refused');
      try {
        await server.connect(transport);
        const response = await transport.handleRequest(webRequestOf(request), {
          parsedBody: request.body,
        });
        return await send(reply, response);
      } finally {
        waiting.delete(controller);
        reply.raw.off('close', gone);
        await server.close();
      }
    },
  );

  // Stateless: there is no stream to open (GET) nor session to end (DELETE), and MCP's answer to
  // both is 405.
  for (const method of ['GET', 'DELETE'] as const)
    app.route({
      method,
      url: '/mcp',
      config: { scope: 'authenticated' },
      schema: { tags: ['mcp'], summary: 'Not served: the MCP endpoint is stateless (405)' },
      handler: async (_request, reply) => {
        reply.header('allow', 'POST');
        throw new SwarmError(
          'METHOD_NOT_ALLOWED',
          `${method} /mcp is not served: this MCP endpoint is stateless (no event stream, no session); send requests with POST`,
        );
      },
    });
}
