/**
 * An `llm` agent's loop settings: `tools` (other agents, by `name@range` or by capability) and
 * the limits that stop a runaway loop. Checked here before anything is stored; whether a named
 * agent exists is resolved when the loop starts (src/runtimes/llm/loop.ts).
 */
import type { FieldIssue } from '../../errors/index.js';
import { MCP_SERVER_NAME, MCP_TOOL_NAME } from './mcp-names.js';
import { checkUnknownKeys, describe, isPlainObject } from './rules.js';
import { ROUTING_STRATEGIES } from '../../storage/index.js';
import { MAX_WAIT_TIMEOUT_MS, parseDuration } from '../workflow/index.js';

export interface LlmToolSpec {
  /** `name` or `name@range` of an agent (builtins too, e.g. `builtin/http_request`). */
  readonly agent?: string;
  /** Instead of an agent: any agent with this capability, chosen by routing when the call runs. */
  readonly capability?: string;
  /** How routing picks among them (a capability tool only). @default round_robin */
  readonly routing?: (typeof ROUTING_STRATEGIES)[number];
  /**
   * Instead of an agent: a tool of one of the owner's MCP servers, `<server>/<tool>`, or every
   * tool of a server, `<server>`; described by the server's own `tools/list` when the loop starts.
   */
  readonly mcp?: string;
  /** The name the model calls it by: [A-Za-z0-9_-], at most 64; defaults from the agent's name. */
  readonly name?: string;
  readonly description?: string;
  /** Required for a capability (the agent is not known in advance); an agent's own by default. */
  readonly input_schema?: Record<string, unknown>;
}

export interface LlmLoopSettings {
  readonly tools?: readonly LlmToolSpec[];
  readonly max_turns?: number;
  readonly max_tool_calls?: number;
  readonly repeat_limit?: number;
  readonly output_retries?: number;
  /** A step or run budget reached: fail the step (default), or ask the run's owner to continue. */
  readonly on_budget?: 'fail' | 'ask';
  /** With `ask`: how long the approval waits (`30m`, `24h`…) before it counts as rejected. */
  readonly budget_approval_timeout?: string;
}

export const ON_BUDGET = ['fail', 'ask'] as const;

export const LLM_LOOP_KEYS = [
  'tools',
  'max_turns',
  'max_tool_calls',
  'repeat_limit',
  'output_retries',
  'on_budget',
  'budget_approval_timeout',
] as const;
export const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TOOLS = 64;
const LIMITS: Record<
  Exclude<(typeof LLM_LOOP_KEYS)[number], 'tools' | 'on_budget' | 'budget_approval_timeout'>,
  number
> = {
  max_turns: 100,
  max_tool_calls: 1000,
  repeat_limit: 100,
  output_retries: 10,
};

/** The loop settings of an llm runtime block, or issues naming the field. */
export function checkLlmLoop(raw: Record<string, unknown>, issues: FieldIssue[]): LlmLoopSettings {
  const settings: Record<string, unknown> = {};
  for (const [key, max] of Object.entries(LIMITS)) {
    const value = raw[key];
    if (value === undefined) continue;
    if (!(
      Number.isInteger(value) &&
      (value as number) >= (key === 'output_retries' ? 0 : 1) &&
      (value as number) <= max
    )) {
      issues.push({
        field: `runtime.${key}`,
        message: `must be an integer from ${key === 'output_retries' ? 0 : 1} to ${max}, got ${describe(value)}`,
      });
      continue;
    }
    settings[key] = value;
  }
  Object.assign(settings, checkOnBudget(raw, issues));
  if (raw.tools === undefined) return settings;
  if (!Array.isArray(raw.tools) || raw.tools.length > MAX_TOOLS) {
    issues.push({
      field: 'runtime.tools',
      message: `must be an array of at most ${MAX_TOOLS} tools ({agent}, {capability, name, input_schema} or {mcp}), got ${describe(raw.tools)}`,
    });
    return settings;
  }
  const names = new Set<string>();
  settings.tools = raw.tools.map((tool: unknown, i): LlmToolSpec => {
    const field = `runtime.tools[${i}]`;
    if (!isPlainObject(tool)) {
      issues.push({ field, message: `must be an object, got ${describe(tool)}` });
      return {};
    }
    checkUnknownKeys(
      tool,
      ['agent', 'capability', 'routing', 'mcp', 'name', 'description', 'input_schema'],
      `${field}.`,
      issues,
      'a tool',
    );
    const hasAgent = typeof tool.agent === 'string' && tool.agent !== '';
    const hasCapability = typeof tool.capability === 'string' && tool.capability !== '';
    const hasMcp = typeof tool.mcp === 'string' && tool.mcp !== '';
    if ([hasAgent, hasCapability, hasMcp].filter(Boolean).length !== 1)
      issues.push({
        field,
        message:
          'must name exactly one of agent (name or name@range), capability and mcp (server or server/tool)',
      });
    const mcpTool = hasMcp ? checkMcpTool(tool, field, issues) : null;
    for (const key of ['agent', 'capability', 'mcp', 'name', 'description'] as const)
      if (tool[key] !== undefined && typeof tool[key] !== 'string')
        issues.push({ field: `${field}.${key}`, message: `must be a string, got ${describe(tool[key])}` });
    if (tool.input_schema !== undefined && !isPlainObject(tool.input_schema))
      issues.push({ field: `${field}.input_schema`, message: 'must be a JSON Schema object' });
    if (
      tool.routing !== undefined &&
      !(hasCapability && (ROUTING_STRATEGIES as readonly unknown[]).includes(tool.routing))
    )
      issues.push({
        field: `${field}.routing`,
        message: hasCapability
          ? `must be one of ${ROUTING_STRATEGIES.join(', ')}, got ${describe(tool.routing)}`
          : 'is for a capability tool only (routing picks among the agents offering it)',
      });
    if (hasCapability && tool.name === undefined)
      issues.push({
        field: `${field}.name`,
        message: 'is required for a capability tool (the name the model calls it by)',
      });
    const name =
      typeof tool.name === 'string'
        ? tool.name
        : hasAgent
          ? toolNameOf(String(tool.agent))
          : mcpTool !== null
            ? mcpToolNameOf(mcpTool)
            : '';
    if (name !== '' && !TOOL_NAME.test(name))
      issues.push({
        field: `${field}.name`,
        message: `"${name}" is not a tool name: letters, digits, _ and -, at most 64`,
      });
    else if (name !== '' && names.has(name))
      issues.push({ field: `${field}.name`, message: `"${name}" is the name of another tool of this agent` });
    names.add(name);
    return tool as LlmToolSpec;
  });
  return settings;
}

/** `on_budget` and `budget_approval_timeout` (which only `ask` uses), or issues naming the field. */
function checkOnBudget(raw: Record<string, unknown>, issues: FieldIssue[]): Partial<LlmLoopSettings> {
  const settings: { on_budget?: 'fail' | 'ask'; budget_approval_timeout?: string } = {};
  if (raw.on_budget !== undefined) {
    if ((ON_BUDGET as readonly unknown[]).includes(raw.on_budget))
      settings.on_budget = raw.on_budget as 'fail' | 'ask';
    else
      issues.push({
        field: 'runtime.on_budget',
        message: `must be one of ${ON_BUDGET.join(', ')}, got ${describe(raw.on_budget)}`,
      });
  }
  if (raw.budget_approval_timeout === undefined) return settings;
  if (raw.on_budget !== 'ask') {
    issues.push({
      field: 'runtime.budget_approval_timeout',
      message: 'is for on_budget: ask only (how long the approval to continue waits)',
    });
    return settings;
  }
  const ms = parseDuration(raw.budget_approval_timeout, MAX_WAIT_TIMEOUT_MS);
  if (typeof ms === 'string') issues.push({ field: 'runtime.budget_approval_timeout', message: ms });
  else if (ms < 1000)
    issues.push({ field: 'runtime.budget_approval_timeout', message: 'must be at least 1s' });
  else settings.budget_approval_timeout = String(raw.budget_approval_timeout).trim();
  return settings;
}

/**
 * An `mcp` tool: `<server>` (all its tools: none may be renamed, each keeps its own name) or
 * `<server>/<tool>`. Its input schema is the server's, so none is given here. Returns the tool's
 * name, or null for a whole server (or a wrong reference).
 */
function checkMcpTool(tool: Record<string, unknown>, field: string, issues: FieldIssue[]): string | null {
  const reference = String(tool.mcp);
  const slash = reference.indexOf('/');
  const server = slash < 0 ? reference : reference.slice(0, slash);
  const name = slash < 0 ? null : reference.slice(slash + 1);
  if (!MCP_SERVER_NAME.test(server) || (name !== null && !MCP_TOOL_NAME.test(name))) {
    issues.push({
      field: `${field}.mcp`,
      message: `"${reference}" must be <server> or <server>/<tool> (a server as declared with swarm mcp servers add)`,
    });
    return null;
  }
  if (tool.input_schema !== undefined)
    issues.push({
      field: `${field}.input_schema`,
      message: "is the MCP server's own (from tools/list): it cannot be given for an mcp tool",
    });
  if (name === null && tool.name !== undefined)
    issues.push({
      field: `${field}.name`,
      message: 'cannot rename all the tools of a server: name one tool (mcp: <server>/<tool>) to rename it',
    });
  return name;
}

/** The name the model calls an MCP tool by: its own, with what tool names cannot hold made `_`. */
export function mcpToolNameOf(tool: string): string {
  return tool.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/** The default tool name of an agent reference: `builtin/http_request@^1` → `builtin_http_request`. */
export function toolNameOf(reference: string): string {
  const at = reference.lastIndexOf('@');
  const name = at > 0 ? reference.slice(0, at) : reference;
  return name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}
