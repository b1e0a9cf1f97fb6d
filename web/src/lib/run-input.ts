// The server derives the same schema for its MCP tools (src/server/mcp): one definition, shared.
export * from '../../../src/registry/workflow/run-input.js';
