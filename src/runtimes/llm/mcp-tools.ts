/**
 * An `llm` agent's `{mcp: "<server>/<tool>"}` and `{mcp: "<server>"}` tools, resolved when its
 * loop starts: each becomes a LoopTool whose calls are child tasks of the virtual agent
 * `mcp/<server>/<tool>` (src/mcp/ runs them), described to the model by the server's own
 * `tools/list`. The runtime knows the servers only through `McpToolLister`, so this layer does
 * not depend on the MCP client.
 */
import { MCP_AGENT_VERSION, mcpAgentName, mcpToolNameOf, type LlmToolSpec } from '../../registry/index.js';
import { RuntimeError } from '../errors.js';
import type { LoopTool } from './loop.js';

/** A server's tool as `tools/list` gives it. */
export interface ListedMcpTool {
  readonly name: string;
  readonly description?: string;
  readonly inputSchema: Record<string, unknown>;
}

/** The tools of the owner's MCP server `server`; throws (RuntimeError) when it cannot list them. */
export type McpToolLister = (ownerId: string, server: string) => Promise<readonly ListedMcpTool[]>;

export async function mcpLoopTools(
  spec: LlmToolSpec,
  lister: McpToolLister | undefined,
  ownerId: string,
  where: string,
): Promise<LoopTool[]> {
  const reference = spec.mcp ?? '';
  const slash = reference.indexOf('/');
  const server = slash < 0 ? reference : reference.slice(0, slash);
  const only = slash < 0 ? null : reference.slice(slash + 1);
  if (lister === undefined)
    throw new RuntimeError('INTERNAL', `${where}: this worker cannot reach MCP servers`, {
      retryable: false,
    });
  const listed = await lister(ownerId, server);
  const chosen = only === null ? listed : listed.filter((tool) => tool.name === only);
  if (only !== null && chosen.length === 0)
    throw new RuntimeError(
      'NOT_FOUND',
      `${where}: MCP server "${server}" has no tool "${only}" (it has: ${listed.map((t) => t.name).join(', ') || 'none'})`,
      { retryable: false, context: { tool: reference } },
    );
  return chosen.map((tool) => ({
    name: only !== null && spec.name !== undefined ? spec.name : mcpToolNameOf(tool.name),
    description:
      (only !== null ? spec.description : undefined) ??
      tool.description ??
      `The tool ${tool.name} of the MCP server ${server}`,
    inputSchema: tool.inputSchema,
    target: { agentName: mcpAgentName(server, tool.name), agentVersion: MCP_AGENT_VERSION },
  }));
}

/** Two tools the model would call by one name: a whole server's tools can meet others' names. */
export function assertDistinctToolNames(tools: readonly LoopTool[], who: string): void {
  const seen = new Set<string>();
  for (const tool of tools) {
    if (seen.has(tool.name))
      throw new RuntimeError(
        'INPUT_INVALID',
        `${who}: two tools are called "${tool.name}" (rename one with runtime.tools[].name)`,
        { retryable: false },
      );
    seen.add(tool.name);
  }
}
