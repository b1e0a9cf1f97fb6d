/** The `llm` runtime: OpenAI, Anthropic, Ollama and OpenAI-compatible providers. */
export {
  LlmRuntime,
  buildCall,
  messagesOf,
  unfence,
  type LlmLookup,
  type LlmRuntimeOptions,
  type SecretResolver,
} from './runtime.js';
export { createLlmRuntime, storeLlmLookup, type SecretsSource } from './store-runtime.js';
export {
  buildRequest,
  parseReply,
  endpoint,
  DEFAULT_BASE_URLS,
  ANTHROPIC_VERSION,
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  type LlmCall,
  type ChatMessage,
  type LlmReply,
} from './wire.js';
export { priceOf, costAt, PRICES_CHECKED, type Price } from './prices.js';
export { ProviderWait } from './spending.js';
export {
  checkProviderInput,
  checkProviderName,
  checkBaseUrl,
  PROVIDER_NAME_PATTERN,
  type ProviderInput,
} from './providers.js';
export { mcpLoopTools, type McpToolLister, type ListedMcpTool } from './mcp-tools.js';
