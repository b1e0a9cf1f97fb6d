/**
 * Agent manifests: validation, loading from disk, content hashing, and Swarm's builtin agents.
 * Pure code, no database: the registry service stores what this part accepts.
 */
export { validateAgentManifest, type ValidateAgentOptions } from './validate.js';
export { loadAgentManifest, MANIFEST_FILE_NAMES, type LoadedAgent } from './load.js';
export { manifestHash, manifestSigningPayload } from './hash.js';
export { BUILTIN_AGENTS, isBuiltinName } from './builtins.js';
export { BUILTIN_NAMES, BUILTIN_PREFIX, FIXED_PERMISSIONS, type BuiltinName } from './rules.js';
export { createSchemaAjv, SCHEMA_AJV_OPTIONS, DRAFT_07 } from './json-schema.js';
export { parseEd25519PublicKey, verifyEd25519 } from './signature.js';
export { schemaIssues, fieldPath } from './instance-schemas.js';
export {
  MCP_PREFIX,
  MCP_AGENT_VERSION,
  MCP_SERVER_NAME,
  MCP_TOOL_NAME,
  mcpAgentName,
  parseMcpAgentName,
  type McpToolRef,
} from './mcp-names.js';
