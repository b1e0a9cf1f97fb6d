/**
 * The `mcp` runtime: a task of the virtual agent `mcp/<server>/<tool>` is one `tools/call` on
 * the owner's server, with the task's input as the arguments. The output is the result's
 * `structuredContent` when it has one, else its content blocks. A result with `isError: true`
 * fails the attempt with the tool's own words and no retry; a server that cannot be reached,
 * started or spoken to fails it retryably.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { RuntimeError, type AgentInvocation, type Runtime, type RuntimeContext } from '../runtimes/index.js';
import { McpToolFailed } from './errors.js';
import type { McpPool } from './pool.js';

const MAX_ERROR_CHARS = 2000;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The text of an error result's content blocks, for the failure's message. */
function errorText(result: CallToolResult): string {
  const texts = result.content
    .map((block) => (block.type === 'text' ? block.text : `[${block.type}]`))
    .join(' ')
    .trim();
  const text = texts === '' ? 'it gave no message' : texts;
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

export class McpRuntime implements Runtime {
  constructor(private readonly pool: McpPool) {}

  async execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown> {
    context.signal.throwIfAborted();
    const { runtime } = invocation.agent;
    const server = typeof runtime.server === 'string' ? runtime.server : '';
    const tool = typeof runtime.tool === 'string' ? runtime.tool : '';
    if (server === '' || tool === '')
      throw new RuntimeError('INTERNAL', `agent ${invocation.agent.name} names no MCP server and tool`, {
        retryable: false,
      });
    const input = invocation.input ?? {};
    if (!isPlainObject(input))
      throw RuntimeError.invalidInput('input', "must be an object: the tool's arguments");
    // Known tools only: a typo is a clear error, not whatever the server makes of it.
    const tools = await this.pool.listTools(invocation.ownerId, server);
    if (!tools.some((t) => t.name === tool)) {
      const offered = tools.map((t) => t.name).join(', ');
      throw new RuntimeError(
        'NOT_FOUND',
        `MCP server "${server}" has no tool "${tool}" (it has: ${offered === '' ? 'none' : offered})`,
        { retryable: false, context: { what: 'MCP tool', id: `${server}/${tool}` } },
      );
    }
    const started = Date.now();
    const result = await this.pool.callTool(invocation.ownerId, server, tool, input, context.signal);
    context.log(
      result.isError === true ? 'warning' : 'info',
      `mcp ${server}/${tool} ${result.isError === true ? 'answered with an error' : 'answered'}`,
      { server, tool, duration_ms: Date.now() - started },
    );
    if (result.isError === true) throw new McpToolFailed(server, tool, errorText(result));
    return result.structuredContent ?? result.content;
  }
}
