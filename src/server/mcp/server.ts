import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Engine, RunLogs } from '../../engine/index.js';
import type { Registry } from '../../registry/index.js';
import type { Caller } from '../../storage/index.js';
import { assertCallerScope } from '../route-scope.js';
import { SWARM_VERSION } from '../version.js';
import { callWorkflowTool } from './call-tool.js';
import { toMcpError } from './errors.js';
import { strictly } from './request-params.js';
import { listRunResources, readRunResource, RESOURCE_TEMPLATES } from './resources.js';
import { inputSchemaOf, runnableWorkflows, toolOf, type WaitLimits } from './tools.js';

/** What the MCP endpoint works with: the same registry and engine as the API routes. */
export interface McpContext {
  readonly registry: Registry;
  readonly engine: Engine;
  readonly logs: RunLogs;
  readonly onRunStarted: () => void;
  readonly wait: WaitLimits & { readonly pollMs: number };
}

const INSTRUCTIONS =
  "Each tool runs one of your Swarm workflows: its arguments are the run's input. A call waits " +
  'for the run to end and returns its output; a run still going after the wait is returned with ' +
  'its id: read the resource swarm://runs/{id} (and swarm://runs/{id}/logs) until its status is ' +
  'completed, failed, cancelled or timeout.';

/**
 * An MCP server for one request of one caller. The endpoint is stateless (any process behind a
 * load balancer answers any request), so a server lives for one HTTP request: the caller is
 * known, and every handler reads the database as that caller.
 */
export function createMcpServer(
  context: McpContext,
  caller: Caller,
  signal: AbortSignal,
  onDefect: (error: unknown) => void,
): Server {
  const server = new Server(
    { name: 'swarm', title: 'Swarm', version: SWARM_VERSION },
    {
      capabilities: { tools: { listChanged: false }, resources: { listChanged: false } },
      instructions: INSTRUCTIONS,
    },
  );
  // Each handler is registered for its method with any params, and checks them itself: the SDK's
  // own check would answer a malformed request as an internal error, where it is invalid params.
  // Every handler's failure becomes an MCP error a client can read; defects say no more than that.
  const answer = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw toMcpError(error, onDefect);
    }
  };

  server.setRequestHandler(ListToolsRequestSchema.pick({ method: true }).loose(), (raw) =>
    answer(async () => {
      strictly(ListToolsRequestSchema, raw);
      assertCallerScope(caller, 'workflows:read', 'listing tools (workflows)');
      const { agents, workflows } = context.registry.as(caller);
      const tools = [];
      for (const workflow of await runnableWorkflows(workflows))
        tools.push(toolOf(workflow, await inputSchemaOf(workflow, agents), context.wait));
      return { tools };
    }),
  );
  server.setRequestHandler(CallToolRequestSchema.pick({ method: true }).loose(), (raw, extra) =>
    answer(() => {
      const { params } = strictly(CallToolRequestSchema, raw);
      return callWorkflowTool(
        {
          registry: context.registry,
          engine: context.engine,
          caller,
          onRunStarted: context.onRunStarted,
          wait: context.wait,
          signal: AbortSignal.any([signal, extra.signal]),
        },
        params.name,
        params.arguments,
      );
    }),
  );
  server.setRequestHandler(ListResourceTemplatesRequestSchema.pick({ method: true }).loose(), (raw) =>
    answer(async () => {
      strictly(ListResourceTemplatesRequestSchema, raw);
      assertCallerScope(caller, 'runs:read', 'listing resource templates (runs)');
      return { resourceTemplates: RESOURCE_TEMPLATES };
    }),
  );
  server.setRequestHandler(ListResourcesRequestSchema.pick({ method: true }).loose(), (raw) =>
    answer(() => {
      const { params } = strictly(ListResourcesRequestSchema, raw);
      return listRunResources(context.engine, caller, params?.cursor);
    }),
  );
  server.setRequestHandler(ReadResourceRequestSchema.pick({ method: true }).loose(), (raw) =>
    answer(() => {
      const { params } = strictly(ReadResourceRequestSchema, raw);
      return readRunResource(context.engine, context.logs, caller, params.uri);
    }),
  );
  return server;
}
