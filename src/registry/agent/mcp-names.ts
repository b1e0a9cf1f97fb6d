/**
 * How MCP tools are named as agents: `mcp/<server>/<tool>`, a virtual agent of the task's owner
 * (its MCP server `<server>`, declared with `swarm mcp servers add`), always at version 0.0.0.
 * Here, below the registry and the runtimes, because workflow validation, task submission, the
 * worker's agent lookup and the LLM loop all read the same names.
 */

/** `mcp/`: reserved; registered agent names cannot contain "/" (see validate.ts). */
export const MCP_PREFIX = 'mcp/';

/** The one version of an MCP tool agent: a tool has no versions of its own, any range matches it. */
export const MCP_AGENT_VERSION = '0.0.0';

/** An MCP server's name: the same rule as LLM provider names. */
export const MCP_SERVER_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** A tool's name as MCP defines it (SEP-986: letters, digits, `_`, `-`, `.`; 1 to 128). */
export const MCP_TOOL_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export interface McpToolRef {
  readonly server: string;
  readonly tool: string;
}

/** `mcp/<server>/<tool>` for a server's tool. */
export function mcpAgentName(server: string, tool: string): string {
  return `${MCP_PREFIX}${server}/${tool}`;
}

/** The server and tool an `mcp/<server>/<tool>` name points at, or null for any other name. */
export function parseMcpAgentName(name: string): McpToolRef | null {
  if (!name.startsWith(MCP_PREFIX)) return null;
  const rest = name.slice(MCP_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return null;
  const server = rest.slice(0, slash);
  const tool = rest.slice(slash + 1);
  return MCP_SERVER_NAME.test(server) && MCP_TOOL_NAME.test(tool) ? { server, tool } : null;
}
