/**
 * The llm runtime as the worker builds it: its lookups backed by the store (the task owner's
 * providers, configurations, budgets, provider windows and agents) and its secrets by the
 * secrets service.
 */
import semver from 'semver';
import { BUILTIN_AGENTS } from '../../registry/index.js';
import type { Store } from '../../storage/index.js';
import type { HttpPolicy } from '../types.js';
import type { McpToolLister } from './mcp-tools.js';
import { LlmRuntime, type LlmLookup, type ToolAgent } from './runtime.js';

/** The storage-backed lookup: providers, configurations and usage records of the task's owner. */
export function storeLlmLookup(store: Store): LlmLookup {
  const as = (ownerId: string) => store.as({ userId: ownerId, role: 'member' });
  return {
    provider: (ownerId, name) =>
      name === undefined ? as(ownerId).llm.defaultProvider() : as(ownerId).llm.provider(name),
    configuration: (ownerId, agent, runId) => as(ownerId).llm.configuration(agent, runId),
    recordUsage: (ownerId, usage) => as(ownerId).llm.recordUsage(usage),
    spendLimits: (ownerId, at) => as(ownerId).budgets.limits(at),
    reserveProviderRequest: (ownerId, provider, minute, limits) =>
      as(ownerId).budgets.reserveProviderRequest(provider, minute, limits),
    addProviderTokens: (ownerId, provider, minute, tokens) =>
      as(ownerId).budgets.addProviderTokens(provider, minute, tokens),
    resolveAgent: async (ownerId, name, range) => {
      const candidates: ToolAgent[] = name.startsWith('builtin/')
        ? BUILTIN_AGENTS.filter((m) => m.name === name)
        : (await as(ownerId).agents.list({ name }))
            .filter((r) => r.status === 'active' || r.status === 'deprecated')
            .map((r) => ({
              name: r.name,
              version: r.version,
              ...(r.description == null ? {} : { description: r.description }),
              ...(r.inputSchema == null ? {} : { input_schema: r.inputSchema }),
            }));
      const version = semver.maxSatisfying(
        candidates.map((c) => c.version),
        range,
      );
      return candidates.find((c) => c.version === version) ?? null;
    },
  };
}

/** Something that resolves secrets by name the way SecretsService does. */
export interface SecretsSource {
  resolve(ownerId: string, names: readonly string[]): Promise<Record<string, string>>;
}

/**
 * An LlmRuntime over the store and the secrets service: what createWorker wires as `llm`.
 * `http` is the worker's HTTP policy; LLM calls are slow, so the request timeout defaults to
 * 10 minutes (the agent's timeout_seconds still bounds the whole attempt).
 */
export function createLlmRuntime(options: {
  store: Store;
  secrets: SecretsSource;
  http: Pick<HttpPolicy, 'allowPrivateNetworks'> & Partial<HttpPolicy>;
  allowedUrls?: readonly string[];
  mcpTools?: McpToolLister;
}): LlmRuntime {
  return new LlmRuntime({
    ...(options.allowedUrls === undefined ? {} : { allowedUrls: options.allowedUrls }),
    ...(options.mcpTools === undefined ? {} : { mcpTools: options.mcpTools }),
    providers: storeLlmLookup(options.store),
    secrets: async (ownerId, name) => (await options.secrets.resolve(ownerId, [name]))[name]!,
    http: {
      timeoutMs: 600_000,
      maxResponseBytes: 10 * 1024 * 1024,
      ...options.http,
    },
  });
}
