import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { callerHas } from '../auth/index.js';
import { InputError, NotFoundError, SwarmError } from '../errors/index.js';
import type { AgentRecord, Caller, CallerStore } from '../storage/index.js';
import {
  BUILTIN_AGENTS,
  MCP_AGENT_VERSION,
  manifestHash,
  parseMcpAgentName,
  validateAgentManifest,
} from './agent/index.js';
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
  constructor(
    private readonly scoped: CallerStore,
    /** Who registers: publishing code needs `agents:publish`. Unset: Swarm itself. */
    private readonly caller?: Caller,
    /** Where code may be registered from; unset: anywhere (see RegistryOptions). */
    private readonly agentsDirs?: readonly string[],
  ) {}

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
    const folder = await this.codeFolder(manifest, options.path);
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
      maxConcurrency: manifest.resources.max_concurrency ?? null,
      tags: [...manifest.tags],
      author: manifest.author ?? null,
      path: folder,
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

  /**
   * Who may publish code and from where. A node, python or binary agent runs its folder's code on
   * the workers: registering one needs `agents:publish` (403), and its folder must resolve (symlinks
   * and `..` followed) inside one of the agents folders (400 naming `path`). Returns the path to
   * store: the real one for such agents, the given one (unchecked, unused) for the others.
   */
  private async codeFolder(manifest: AgentManifest, given: string | undefined): Promise<string | null> {
    if (!(LOCAL_RUNTIMES as readonly string[]).includes(manifest.runtime.type)) return given ?? null;
    if (this.caller !== undefined && !callerHas(this.caller, 'agents:publish')) {
      throw new SwarmError(
        'INSUFFICIENT_SCOPE',
        `registering a ${manifest.runtime.type} agent puts its code on the workers: it needs the scope "agents:publish" (admins have it; a member only when an admin grants it, and only with a key that names it)`,
        {
          issues: [{ field: 'scope', message: '"agents:publish" is required' }],
          context: { scope: 'agents:publish' },
        },
      );
    }
    if (given === undefined || this.agentsDirs === undefined) return given ?? null;
    return insideAgentsDirs(given, this.agentsDirs);
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
    // An MCP tool (`mcp/<server>/<tool>`) resolves when its server is declared; the tool itself
    // is only known to the server, and asking it here would make validation depend on it being up.
    const mcpDeclared = async (name: string) => {
      const tool = parseMcpAgentName(name);
      return tool !== null && (await this.scoped.mcp.server(tool.server)) !== null;
    };
    return {
      resolve: async (name, range) => {
        if (parseMcpAgentName(name) !== null)
          return semver.satisfies(MCP_AGENT_VERSION, range) && (await mcpDeclared(name))
            ? { name, version: MCP_AGENT_VERSION, capabilities: [] }
            : null;
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
        parseMcpAgentName(name) !== null
          ? mcpDeclared(name)
          : name.startsWith('builtin/')
            ? BUILTIN_AGENTS.some((m) => m.name === name)
            : (await this.scoped.agents.list({ name })).length > 0,
    };
  }
}

/** The runtimes whose code runs on the workers, from the agent's folder. */
export const LOCAL_RUNTIMES = ['node', 'python', 'binary'] as const;

/**
 * The real path of `folder` when it is an existing folder inside one of `roots` (each compared by
 * its real path too), else an InputError naming `path`: `/bin`, `../..` and a symlink leading out
 * of a root are all refused.
 */
export async function insideAgentsDirs(folder: string, roots: readonly string[]): Promise<string> {
  const allowed = `it must be a folder inside one of the agents folders (SWARM_AGENTS_DIRS: ${roots.join(', ')})`;
  if (!path.isAbsolute(folder)) throw new InputError('path', `must be an absolute path; ${allowed}`);
  let real: string;
  try {
    real = await realpath(folder);
  } catch {
    throw new InputError('path', `${folder} does not exist on the server; ${allowed}`);
  }
  if (!(await stat(real)).isDirectory())
    throw new InputError('path', `${folder} is not a folder; ${allowed}`);
  for (const root of roots) {
    const realRoot = await realpath(root).catch(() => null);
    if (realRoot === null) continue;
    const relative = path.relative(realRoot, real);
    if (!relative.startsWith('..') && !path.isAbsolute(relative)) return real;
  }
  throw new InputError(
    'path',
    `${folder}${real === folder ? '' : ` (${real})`} is outside the agents folders; ${allowed}`,
  );
}
