/**
 * One live MCP session with one server, for one owner: the SDK's Client over the sandboxed stdio
 * transport or over streamable HTTP with the guarded fetch. It knows the values of the secrets it
 * was opened with only to redact them from whatever it hands back.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { RuntimeError, type HttpPolicy } from '../runtimes/index.js';
import { Redactor } from '../secrets/index.js';
import type { McpServerRecord } from '../storage/index.js';
import { SWARM_VERSION } from '../version/index.js';
import { McpServerUnavailable } from './errors.js';
import { guardedFetch } from './guarded-fetch.js';
import { startStdioServer, type StdioLaunchOptions } from './launch.js';
import { SandboxStdioTransport } from './stdio-transport.js';

/** A tool as `tools/list` describes it: what a loop shows the model, and what it may call. */
export interface McpTool {
  readonly name: string;
  readonly description?: string;
  readonly inputSchema: Record<string, unknown>;
}

export interface ConnectOptions {
  /** Where a stdio server starts; asked for by stdio servers only (the sandbox is made on first use). */
  readonly stdio: () => StdioLaunchOptions;
  /** The worker's HTTP policy (SWARM_ALLOW_PRIVATE_NETWORKS); `timeoutMs` bounds each request's headers. */
  readonly http: HttpPolicy;
  /** How long `initialize` and `tools/list` may take. */
  readonly requestTimeoutMs: number;
}

/** Tool pages read at most: a server that pages forever is not listing tools. */
const MAX_TOOL_PAGES = 50;
/** A tool call's own bound is the task's (its signal); this only keeps the SDK's default (60 s) off. */
const CALL_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export class McpConnection {
  private ended = false;
  private readonly closeListeners: Array<() => void> = [];

  private constructor(
    readonly server: McpServerRecord,
    private readonly client: Client,
    private readonly transport: Transport,
    private readonly stdio: SandboxStdioTransport | null,
    readonly redactor: Redactor,
    private readonly cleanUp: () => Promise<void>,
  ) {
    client.onclose = () => {
      if (this.ended) return;
      this.ended = true;
      void this.cleanUp();
      for (const listener of this.closeListeners.splice(0)) listener();
    };
  }

  /**
   * Starts (stdio) or reaches (http) the server and initialises a session. `secrets` holds the
   * values of the secrets it names (its env, its headers), read by the caller just now.
   */
  static async open(
    server: McpServerRecord,
    secrets: Readonly<Record<string, string>>,
    options: ConnectOptions,
  ): Promise<McpConnection> {
    const redactor = new Redactor(secrets);
    const client = new Client({ name: 'swarm', version: SWARM_VERSION }, { capabilities: {} });
    // Reported in the error thrown by whichever request it breaks; nothing to do out of band.
    client.onerror = () => undefined;
    let transport: Transport;
    let stdio: SandboxStdioTransport | null = null;
    let cleanUp = () => Promise.resolve();
    if (server.transport === 'stdio') {
      const env = Object.fromEntries(server.env.map((name) => [name, secrets[name] ?? '']));
      const started = await startStdioServer(server, env, options.stdio());
      stdio = new SandboxStdioTransport(started.proc, redactor);
      transport = stdio;
      cleanUp = started.cleanUp;
    } else {
      const headers = Object.fromEntries(
        Object.entries(server.headers).map(([header, secret]) => [header, secrets[secret] ?? '']),
      );
      transport = new StreamableHTTPClientTransport(new URL(server.url ?? ''), {
        fetch: guardedFetch({ policy: options.http, maxResponseBytes: options.http.maxResponseBytes }),
        requestInit: { headers },
        // A broken event stream is not retried in the background: the next request finds out,
        // and the pool reconnects once then.
        reconnectionOptions: {
          maxRetries: 0,
          initialReconnectionDelay: 1000,
          maxReconnectionDelay: 1000,
          reconnectionDelayGrowFactor: 1,
        },
      });
    }
    const connection = new McpConnection(server, client, transport, stdio, redactor, cleanUp);
    try {
      await client.connect(transport, { timeout: options.requestTimeoutMs });
    } catch (error) {
      const failure = connection.failure(error, 'connecting');
      await connection.close();
      throw failure;
    }
    return connection;
  }

  /** Whether the session is over (the program died, the transport closed). */
  get closed(): boolean {
    return this.ended;
  }

  onClose(listener: () => void): void {
    if (this.ended) listener();
    else this.closeListeners.push(listener);
  }

  /** Every tool the server offers, all pages read. */
  async listTools(timeoutMs: number): Promise<McpTool[]> {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_TOOL_PAGES; page++) {
        const result = await this.client.listTools(cursor === undefined ? {} : { cursor }, {
          timeout: timeoutMs,
        });
        tools.push(...result.tools.map(toolOf));
        cursor = result.nextCursor;
        if (cursor === undefined) return this.redactor.redact(tools);
      }
    } catch (error) {
      throw this.failure(error, 'listing its tools');
    }
    throw new McpServerUnavailable(
      this.server.name,
      `tools/list still had more pages after ${MAX_TOOL_PAGES}`,
      {
        retryable: false,
      },
    );
  }

  /** One `tools/call`; its result redacted. An `isError` result is returned, not thrown. */
  async callTool(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<CallToolResult> {
    try {
      const result = await this.client.callTool({ name: tool, arguments: args }, undefined, {
        signal,
        timeout: CALL_TIMEOUT_MS,
      });
      return this.redactor.redact(result as CallToolResult);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw this.failure(error, `calling ${tool}`);
    }
  }

  async close(): Promise<void> {
    try {
      await this.client.close();
    } catch {
      // closing what is already broken
    }
    if (this.stdio !== null) await this.stdio.close();
    if (!this.ended) {
      this.ended = true;
      await this.cleanUp();
      for (const listener of this.closeListeners.splice(0)) listener();
    }
  }

  /**
   * What an error of the SDK or the transport means for Swarm: a refused address stays a
   * refusal (FORBIDDEN, with the server named), bad arguments are the caller's (INPUT_INVALID),
   * everything else says the server is unavailable — retryable unless it cannot change by itself
   * (an HTTP 4xx such as 401). Messages are redacted: a server may echo what it was given.
   */
  failure(error: unknown, doing: string): RuntimeError {
    const name = this.server.name;
    const text = (message: string) => this.redactor.redactText(message);
    if (error instanceof RuntimeError) {
      if (error.code === 'FORBIDDEN')
        return new RuntimeError('FORBIDDEN', `MCP server "${name}": ${text(error.message)}`, {
          retryable: false,
          context: { server: name, ...error.context },
        });
      if (error.code === 'MCP_SERVER_UNAVAILABLE' || error.code === 'MCP_TOOL_FAILED') return error;
    }
    if (error instanceof McpError) {
      if (error.code === ErrorCode.InvalidParams)
        return RuntimeError.invalidInput(
          'input',
          `MCP server "${name}" refused the arguments: ${text(error.message)}`,
        );
      if (error.code === ErrorCode.ConnectionClosed && this.stdio !== null)
        return new McpServerUnavailable(
          name,
          `its program ended while ${doing} (${this.stdio.describeExit()})`,
        );
      const transient = error.code === ErrorCode.ConnectionClosed || error.code === ErrorCode.RequestTimeout;
      return new McpServerUnavailable(name, `${doing}: ${text(error.message)}`, { retryable: transient });
    }
    if (error instanceof StreamableHTTPError) {
      const status = error.code ?? 0;
      const lasting = status >= 400 && status < 500 && status !== 404 && status !== 408 && status !== 429;
      const shown = status === 0 ? '' : `HTTP ${status}: `;
      // 404 on a session: the server forgot it (restarted) and ran nothing.
      return new McpServerUnavailable(name, `${doing}: ${shown}${text(error.message)}`, {
        retryable: !lasting,
        delivered: status !== 404,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    // A refused connection carried nothing.
    return new McpServerUnavailable(
      name,
      `${doing}: ${text(message)}${code === undefined ? '' : ` (${code})`}`,
      { delivered: code !== 'ECONNREFUSED' },
    );
  }
}

function toolOf(tool: Tool): McpTool {
  return {
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    inputSchema: tool.inputSchema as Record<string, unknown>,
  };
}
