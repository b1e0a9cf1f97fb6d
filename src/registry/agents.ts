import semver from 'semver';
import { NotFoundError, SwarmError } from '../errors/index.js';
import type { AgentRecord, CallerStore } from '../storage/index.js';
import { BUILTIN_AGENTS, manifestHash, validateAgentManifest } from './agent/index.js';
import { invalidDefinition } from './invalid.js';
import type { AgentManifest, AgentResolver, ResolvedAgent } from './types.js';

/** An agent as the API shows it: the caller's own versions, or one of Swarm's builtins. */
export interface AgentView {
  readonly id: string | null;
  readonly name: string;
  readonly version: string;
  readonly builtin: boolean;
  readonly status: string;
  readonly manifest: AgentManifest;
  readonly path: string | null;
  readonly trustScore: number | null;
  readonly healthScore: number | null;
  readonly createdAt: string | null;
}

export const AGENT_STATES = ['active', 'deprecated', 'disabled'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

function viewOf(record: AgentRecord): AgentView {
  return {
    id: record.id,
    name: record.name,
    version: record.version,
    builtin: false,
    status: record.status,
    manifest: record.manifest as AgentManifest,
    path: record.path,
    trustScore: record.trustScore,
    healthScore: record.healthScore,
    createdAt: record.createdAt,
  };
}

function builtinView(manifest: AgentManifest): AgentView {
  return {
    id: null,
    name: manifest.name,
    version: manifest.version,
    builtin: true,
    status: 'active',
    manifest,
    path: null,
    trustScore: null,
    healthScore: null,
    createdAt: null,
  };
}

/** The newest of several versions by semver. */
export function latest<T extends { version: string }>(items: readonly T[]): T | undefined {
  return [...items].sort((a, b) => semver.rcompare(a.version, b.version))[0];
}

export interface AgentQuery {
  readonly capability?: string;
  readonly tag?: string;
  readonly type?: string;
  readonly status?: string;
  readonly includeBuiltin?: boolean;
}

/** Agent operations of one caller. */
export class AgentRegistry {
  constructor(private readonly scoped: CallerStore) {}

  /**
   * Registers a manifest. The same name and version again is a no-op when the content is the
   * same, and a conflict when it differs: a published version never changes.
   */
  async register(
    document: unknown,
    options: { path?: string } = {},
  ): Promise<{ agent: AgentView; created: boolean }> {
    const result = validateAgentManifest(document);
    if (!result.ok) throw invalidDefinition('agent manifest', result.issues);
    const manifest = result.value;
    const hash = manifestHash(manifest);
    const runtime = manifest.runtime as Record<string, unknown>;
    const inserted = await this.scoped.agents.insert({
      name: manifest.name,
      version: manifest.version,
      description: manifest.description ?? null,
      type: manifest.type,
      capabilities: [...manifest.capabilities],
      permissions: [...manifest.permissions],
      inputSchema: manifest.input_schema,
      outputSchema: manifest.output_schema,
      runtimeType: manifest.runtime.type,
      runtimeConfig: Object.fromEntries(Object.entries(runtime).filter(([key]) => key !== 'type')),
      memoryMb: manifest.resources.memory_mb,
      timeoutSeconds: manifest.resources.timeout_seconds,
      tags: [...manifest.tags],
      author: manifest.author ?? null,
      path: options.path ?? null,
      manifest,
      contentHash: hash,
    });
    if (inserted !== null) return { agent: viewOf(inserted), created: true };
    const existing = (await this.scoped.agents.find(manifest.name, manifest.version))!;
    if (existing.contentHash !== hash) {
      throw new SwarmError(
        'CONFLICT',
        `agent ${manifest.name}@${manifest.version} is already registered with different content; publish a new version`,
        { context: { name: manifest.name, version: manifest.version } },
      );
    }
    return { agent: viewOf(existing), created: false };
  }

  /** The latest version of each agent matching the filters (the caller's, then builtins). */
  async list(query: AgentQuery = {}): Promise<AgentView[]> {
    const { includeBuiltin = true, ...filters } = query;
    const records = await this.scoped.agents.list(filters);
    const byName = new Map<string, AgentRecord[]>();
    for (const record of records) byName.set(record.name, [...(byName.get(record.name) ?? []), record]);
    const own = [...byName.values()].map((versions) => viewOf(latest(versions)!));
    const builtins = includeBuiltin
      ? BUILTIN_AGENTS.filter(
          (m) =>
            (filters.capability === undefined || m.capabilities.includes(filters.capability)) &&
            (filters.tag === undefined || m.tags.includes(filters.tag)) &&
            (filters.type === undefined || m.type === filters.type) &&
            (filters.status === undefined || filters.status === 'active'),
        ).map(builtinView)
      : [];
    return [...own, ...builtins];
  }

  /** One version, or the latest when `version` is omitted. */
  async get(name: string, version?: string): Promise<AgentView> {
    const builtin = BUILTIN_AGENTS.find(
      (m) => m.name === name && (version === undefined || m.version === version),
    );
    if (builtin !== undefined) return builtinView(builtin);
    const versions = (await this.scoped.agents.list({ name })).filter(
      (r) => version === undefined || r.version === version,
    );
    const found = latest(versions);
    if (found === undefined)
      throw new NotFoundError('agent', version === undefined ? name : `${name}@${version}`);
    return viewOf(found);
  }

  async versions(name: string): Promise<AgentView[]> {
    const versions = await this.scoped.agents.list({ name });
    if (versions.length === 0) throw new NotFoundError('agent', name);
    return versions.sort((a, b) => semver.compare(a.version, b.version)).map(viewOf);
  }

  /** Deprecate (still usable, flagged), disable (no new work), or re-activate a version or all versions. */
  async setStatus(name: string, status: AgentState, version?: string): Promise<AgentView[]> {
    if (name.startsWith('builtin/'))
      throw new SwarmError('FORBIDDEN', `builtin agent ${name} cannot be changed`);
    const changed = await this.scoped.agents.setStatus(name, version, status);
    if (changed === 0) throw new NotFoundError('agent', version === undefined ? name : `${name}@${version}`);
    return version === undefined ? this.versions(name) : [await this.get(name, version)];
  }

  /** What workflow validation sees: the caller's usable agents and Swarm's builtins. */
  resolver(): AgentResolver {
    const usable = (records: readonly AgentRecord[]) =>
      records.filter((r) => r.status === 'active' || r.status === 'deprecated');
    const resolved = (m: AgentManifest): ResolvedAgent => ({
      name: m.name,
      version: m.version,
      capabilities: m.capabilities,
      ...(m.input_schema === undefined ? {} : { input_schema: m.input_schema }),
      ...(m.output_schema === undefined ? {} : { output_schema: m.output_schema }),
    });
    return {
      resolve: async (name, range) => {
        const candidates = name.startsWith('builtin/')
          ? BUILTIN_AGENTS.filter((m) => m.name === name)
          : usable(await this.scoped.agents.list({ name })).map((r) => r.manifest as AgentManifest);
        const version = semver.maxSatisfying(
          candidates.map((m) => m.version),
          range,
        );
        const match = candidates.find((m) => m.version === version);
        return match === undefined ? null : resolved(match);
      },
      hasCapability: async (capability) =>
        BUILTIN_AGENTS.some((m) => m.capabilities.includes(capability)) ||
        usable(await this.scoped.agents.list({ capability, status: 'active' })).length > 0,
      exists: async (name) =>
        name.startsWith('builtin/')
          ? BUILTIN_AGENTS.some((m) => m.name === name)
          : (await this.scoped.agents.list({ name })).length > 0,
    };
  }
}
