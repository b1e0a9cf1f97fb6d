/**
 * What an MCP client needs to use Swarm's `/mcp` endpoint (docs/mcp.md): its URL, an API key
 * with the scopes below, and a configuration in the client's own format.
 */

/** List the tools (workflows), call them (start runs), read runs and their logs. */
export const MCP_SCOPES = ['workflows:read', 'runs:write', 'runs:read'] as const;

/** Stands for the key in a snippet: keys are shown once, never kept by the dashboard. */
export const KEY_PLACEHOLDER = 'YOUR_SWARM_API_KEY';

export const MCP_CLIENTS = {
  'claude-code': 'Claude Code',
  'claude-desktop': 'Claude Desktop',
  http: 'Other clients (streamable HTTP)',
} as const;
export type McpClientKind = keyof typeof MCP_CLIENTS;

export function mcpUrl(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/mcp`;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** The configuration of `kind` for the endpoint at `url`, with `key` (or the placeholder). */
export function mcpConfigSnippet(kind: McpClientKind, url: string, key = KEY_PLACEHOLDER): string {
  switch (kind) {
    case 'claude-code':
      return `claude mcp add --transport http swarm ${url} --header "Authorization: Bearer ${key}"`;
    case 'claude-desktop':
      // Claude Desktop's config file starts local (stdio) servers: mcp-remote bridges to HTTP. The
      // header comes from env, so no shell or platform splits it at the space.
      return json({
        mcpServers: {
          swarm: {
            command: 'npx',
            args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${SWARM_AUTH}'],
            env: { SWARM_AUTH: `Bearer ${key}` },
          },
        },
      });
    case 'http':
      return json({
        mcpServers: { swarm: { type: 'http', url, headers: { Authorization: `Bearer ${key}` } } },
      });
  }
}
