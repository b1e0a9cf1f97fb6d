import { oneOf, table, type Migration } from './ddl.js';

/** How Swarm reaches an MCP server: a program it starts in the process sandbox, or a URL. */
export const MCP_TRANSPORTS = ['stdio', 'http'] as const;

/**
 * MCP servers, declared per owner (src/mcp/): a `stdio` server is a command (with an argument
 * array, never a shell line) a worker starts in the process sandbox; an `http` server is a
 * streamable-HTTP URL reached through the address guard. Credentials are never stored here:
 * `headers` maps a header name to the NAME of one of the owner's secrets, and `env` lists the
 * names of the secrets a stdio server gets as variables; the values are read when connecting.
 */
export const mcpServers: Migration = {
  version: 18,
  name: 'mcp-servers',
  async up(db, dialect) {
    await table(db, dialect, 'mcp_servers')
      .id()
      .owner()
      .text('name', { notNull: true })
      .text('transport', { notNull: true, check: oneOf('transport', MCP_TRANSPORTS) })
      .text('command')
      .json('args', { notNull: true, default: { json: [] } })
      .text('url')
      .json('headers', { notNull: true, default: { json: {} } })
      .json('env', { notNull: true, default: { json: [] } })
      .timestamps()
      .check(
        'endpoint',
        "(transport = 'stdio' AND command IS NOT NULL) OR (transport = 'http' AND url IS NOT NULL)",
      )
      .unique('name', ['owner_id', 'name'])
      .create();
  },
};
