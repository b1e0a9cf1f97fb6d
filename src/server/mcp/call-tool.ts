import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Engine, RunView } from '../../engine/index.js';
import { isSwarmError, type FieldIssue } from '../../errors/index.js';
import type { Registry } from '../../registry/index.js';
import type { Caller } from '../../storage/index.js';
import { assertCallerScope } from '../route-scope.js';
import { argumentIssues } from './arguments.js';
import { MCP_ERROR } from './errors.js';
import { runUri } from './resources.js';
import { inputSchemaOf, WAIT_ARGUMENT, workflowOfTool, type WaitLimits } from './tools.js';
import { runHasEnded, waitForRunEnd } from './wait-for-run.js';

export interface ToolCallContext {
  readonly registry: Registry;
  readonly engine: Engine;
  readonly caller: Caller;
  /** Wakes an in-process worker, as the API does when it starts a run. */
  readonly onRunStarted: () => void;
  readonly wait: WaitLimits & { readonly pollMs: number };
  /** Ends the wait early: the client went away, or the server is closing. */
  readonly signal: AbortSignal;
}

/** A tool error the model can read and act on (MCP: errors of the call, not of the protocol). */
function toolError(message: string, error: Record<string, unknown>): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }], structuredContent: { error } };
}

function invalidArguments(issues: readonly FieldIssue[]): CallToolResult {
  const lines = issues.map((issue) => `${issue.field}: ${issue.message}`);
  return toolError(`invalid arguments; nothing was started:\n${lines.join('\n')}`, {
    code: 'INPUT_INVALID',
    errors: issues,
  });
}

/** How long this call waits: `_wait_seconds` if given and valid, else the default. */
function waitSecondsOf(value: unknown, wait: WaitLimits): number | FieldIssue {
  if (value === undefined) return wait.defaultSeconds;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= wait.maxSeconds)
    return value;
  return { field: `arguments.${WAIT_ARGUMENT}`, message: `must be an integer from 0 to ${wait.maxSeconds}` };
}

/**
 * `tools/call`: starts a run of the tool's workflow through the same engine path as
 * `POST /api/v1/workflows/{name}/runs`, then waits for it to end (reading the database, so a
 * worker in any process may run it). Needs `runs:write`; nothing is started without it.
 */
export async function callWorkflowTool(
  context: ToolCallContext,
  toolName: string,
  args: Record<string, unknown> | undefined,
): Promise<CallToolResult> {
  const { caller, engine } = context;
  assertCallerScope(caller, 'runs:write', 'calling a tool (starting a run)');
  const { agents, workflows } = context.registry.as(caller);
  const workflow = await workflowOfTool(workflows, toolName);
  if (workflow === undefined)
    throw new McpError(MCP_ERROR.invalidParams, `unknown tool: ${toolName}`, {
      code: 'NOT_FOUND',
      tool: toolName,
    });

  const { [WAIT_ARGUMENT]: waitArgument, ...input } = args ?? {};
  const waitSeconds = waitSecondsOf(waitArgument, context.wait);
  if (typeof waitSeconds !== 'number') return invalidArguments([waitSeconds]);
  const issues = argumentIssues(await inputSchemaOf(workflow, agents), input);
  if (issues.length > 0) return invalidArguments(issues);

  let runId: string;
  try {
    runId = await engine.startRun(caller, workflow, agents, { input, triggerType: 'manual' });
  } catch (error) {
    // The input breaks a first step's expression, the workflow was disabled a moment ago, an
    // agent is gone: the caller's to fix, as the API's 400 and 409 are.
    if (isSwarmError(error) && error.status < 500)
      return toolError(`the run could not start: ${error.message}`, {
        code: error.code,
        ...(error.issues.length > 0 ? { errors: error.issues } : {}),
      });
    throw error;
  }
  context.onRunStarted();
  const run = await waitForRunEnd(engine, caller, runId, {
    waitMs: waitSeconds * 1000,
    pollMs: context.wait.pollMs,
    signal: context.signal,
  });
  return resultOf(run, waitSeconds);
}

/** A run as a tool result: its output once completed, its error once it failed, else where to look. */
export function resultOf(run: RunView, waitedSeconds: number): CallToolResult {
  const uri = runUri(run.id);
  if (run.status === 'completed')
    return {
      content: [{ type: 'text', text: JSON.stringify(run.result ?? null) }],
      structuredContent: { runId: run.id, status: run.status, output: run.result ?? null },
    };
  if (runHasEnded(run)) {
    const where = run.errorStep === null ? '' : ` at step ${run.errorStep}`;
    return {
      isError: true,
      content: [{ type: 'text', text: `run ${run.id} ${run.status}${where}: ${run.error ?? run.status}` }],
      structuredContent: {
        runId: run.id,
        status: run.status,
        error: run.error,
        errorStep: run.errorStep,
      },
    };
  }
  return {
    content: [
      {
        type: 'text',
        text: `run ${run.id} is still ${run.status} after ${waitedSeconds} s: read the resource ${uri} for its status and, once it has ended, its output`,
      },
      { type: 'resource_link', uri, name: `run ${run.id}`, mimeType: 'application/json' },
    ],
    structuredContent: { runId: run.id, status: run.status, resource: uri },
  };
}
