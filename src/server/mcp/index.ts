/** Swarm as an MCP server: workflows as tools, runs and their logs as resources (docs/mcp.md). */
export { mcpRoutes, type McpDeps, type McpOptions } from './routes.js';
export { toolNameOf } from './tool-name.js';
export { WAIT_ARGUMENT } from './tools.js';
