/**
 * The MCP connections of one process (a worker, or the API server listing tools): one per
 * (owner, server), opened when first needed and kept. A stdio server whose program dies is
 * started again on next use; a definition changed since the connection was opened gets a new
 * one. Tool lists are kept briefly per connection. Listing, which is idempotent, reconnects once
 * after a failure and lists again; a second failure is an error, never an empty list. A tool
 * call is sent again (once, after reconnecting and listing again) only when the server certainly
 * never got it; otherwise it may have run: its failure drops the connection, and the task's retry
 * gets a fresh one.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { RuntimeError, type HttpPolicy } from '../runtimes/index.js';
import type { McpServerRecord, Store } from '../storage/index.js';
import { McpConnection, type McpTool } from './connection.js';
import { McpServerUnavailable } from './errors.js';
import type { StdioLaunchOptions } from './launch.js';
import { secretNamesOf } from './server-input.js';

/** How the pool reads the values of an owner's (global) secrets, like SecretsService.resolve. */
export interface McpSecretSource {
  resolve(ownerId: string, names: readonly string[]): Promise<Record<string, string>>;
}

export interface McpPoolOptions {
  readonly store: Store;
  /** Absent: servers that name secrets cannot connect (said so, naming them). */
  readonly secrets?: McpSecretSource;
  /** The sandbox and SWARM_HOME stdio servers start in; made when first needed. */
  readonly stdio: () => StdioLaunchOptions;
  /** The worker's HTTP policy: private addresses only with SWARM_ALLOW_PRIVATE_NETWORKS. */
  readonly http: HttpPolicy;
  /** How long a tool list is kept. @default 30 s */
  readonly toolsTtlMs?: number;
  /** How long `initialize` and `tools/list` may take. @default 30 s */
  readonly requestTimeoutMs?: number;
  readonly now?: () => number;
}

interface Entry {
  /** The definition it was opened with: a changed one (updated_at) opens a new connection. */
  readonly version: string;
  readonly connection: Promise<McpConnection>;
  tools: { readonly list: McpTool[]; readonly at: number } | null;
}

export class McpPool {
  private readonly entries = new Map<string, Entry>();
  private closing = false;

  constructor(private readonly options: McpPoolOptions) {}

  /** The owner's server `name`, or NOT_FOUND saying how to declare it. */
  async server(ownerId: string, name: string): Promise<McpServerRecord> {
    const server = await this.options.store.as({ userId: ownerId, role: 'member' }).mcp.server(name);
    if (server === null)
      throw new RuntimeError(
        'NOT_FOUND',
        `no MCP server named "${name}" (declare it with \`swarm mcp servers add ${name} --command … | --url …\`)`,
        { retryable: false, context: { what: 'MCP server', id: name } },
      );
    return server;
  }

  /** The server's tools: from the last few seconds' list, else listed now. */
  async listTools(ownerId: string, name: string): Promise<McpTool[]> {
    const server = await this.server(ownerId, name);
    const ttl = this.options.toolsTtlMs ?? 30_000;
    const now = this.options.now ?? Date.now;
    const cached = this.live(server)?.tools;
    if (cached != null && now() - cached.at < ttl) return cached.list;
    let entry = this.entry(server);
    let tools: McpTool[];
    try {
      tools = await this.listOn(entry);
    } catch (error) {
      if (!reconnectable(error)) throw error;
      // Once: a restarted server, an expired session or a dead program gets one fresh connection.
      await this.drop(server, entry);
      entry = this.entry(server);
      tools = await this.listOn(entry);
    }
    entry.tools = { list: tools, at: now() };
    return tools;
  }

  /** One call of `tool`; an `isError` result is returned for the caller to judge. */
  async callTool(
    ownerId: string,
    name: string,
    tool: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    const server = await this.server(ownerId, name);
    const entry = this.entry(server);
    try {
      return await (await entry.connection).callTool(tool, args, signal);
    } catch (error) {
      if (!reconnectable(error)) throw error;
      await this.drop(server, entry);
      // Sent again only when it certainly never arrived (a refused connection, a session the
      // restarted server does not know): once, on a new connection whose tools are listed again.
      if (!(error instanceof McpServerUnavailable) || error.delivered) throw error;
      const tools = await this.listTools(ownerId, name);
      if (!tools.some((t) => t.name === tool)) throw error;
      return (await this.entry(server).connection).callTool(tool, args, signal);
    }
  }

  /** Ends every connection (stdio programs are killed); later use is refused. */
  async close(): Promise<void> {
    this.closing = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      entries.map(async (entry) => {
        const connection = await entry.connection.catch(() => null);
        await connection?.close();
      }),
    );
  }

  private async listOn(entry: Entry): Promise<McpTool[]> {
    const connection = await entry.connection;
    return connection.listTools(this.options.requestTimeoutMs ?? 30_000);
  }

  private key(server: McpServerRecord): string {
    return `${server.ownerId}\u0000${server.name}`;
  }

  /** The entry for this very definition, whose connection has not ended; or null. */
  private live(server: McpServerRecord): Entry | null {
    const entry = this.entries.get(this.key(server));
    return entry !== undefined && entry.version === versionOf(server) ? entry : null;
  }

  /** The connection to use now: the kept one, or a new one (replacing an outdated one). */
  private entry(server: McpServerRecord): Entry {
    if (this.closing)
      throw new McpServerUnavailable(server.name, 'this process is shutting down', { retryable: true });
    const key = this.key(server);
    const kept = this.live(server);
    if (kept !== null) return kept;
    const outdated = this.entries.get(key);
    if (outdated !== undefined) void this.drop(server, outdated);
    const entry: Entry = { version: versionOf(server), connection: this.open(server), tools: null };
    this.entries.set(key, entry);
    entry.connection.then(
      (connection) =>
        connection.onClose(() => {
          // A dead program or a closed session: the next use starts a new one.
          if (this.entries.get(key) === entry) this.entries.delete(key);
        }),
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry;
  }

  private async open(server: McpServerRecord): Promise<McpConnection> {
    const names = secretNamesOf(server);
    let secrets: Record<string, string> = {};
    if (names.length > 0) {
      if (this.options.secrets === undefined)
        throw new McpServerUnavailable(
          server.name,
          `it needs secrets ${names.join(', ')}, but this process has no access to secrets`,
          { retryable: false },
        );
      try {
        secrets = await this.options.secrets.resolve(server.ownerId, names);
      } catch (error) {
        // NOT_FOUND names the missing secrets (never a value); it stays so until one is set.
        const message = error instanceof Error ? error.message : String(error);
        throw new McpServerUnavailable(server.name, `its secrets cannot be read: ${message}`, {
          retryable: false,
          cause: error,
        });
      }
    }
    return McpConnection.open(server, secrets, {
      stdio: this.options.stdio,
      http: this.options.http,
      requestTimeoutMs: this.options.requestTimeoutMs ?? 30_000,
    });
  }

  private async drop(server: McpServerRecord, entry: Entry): Promise<void> {
    const key = this.key(server);
    if (this.entries.get(key) === entry) this.entries.delete(key);
    const connection = await entry.connection.catch(() => null);
    await connection?.close();
  }
}

function versionOf(server: McpServerRecord): string {
  return `${server.id}\u0000${server.updatedAt}`;
}

/** Failures a new connection may cure: the server's, not a refusal nor bad arguments. */
function reconnectable(error: unknown): boolean {
  return error instanceof McpServerUnavailable && error.retryable;
}
