import {
  McpError,
  type ListResourcesResult,
  type ReadResourceResult,
  type ResourceTemplate,
} from '@modelcontextprotocol/sdk/types.js';
import type { Engine, RunLogs, RunView } from '../../engine/index.js';
import { isSwarmError } from '../../errors/index.js';
import type { Caller } from '../../storage/index.js';
import { assertCallerScope } from '../route-scope.js';
import { MCP_ERROR } from './errors.js';

const JSON_TYPE = 'application/json';
/** The most log lines one read gives; the API's `GET /api/v1/runs/{id}/logs` pages through all. */
export const MAX_LOG_LINES = 1000;
/** Runs per page of `resources/list`. */
const RUNS_PER_PAGE = 50;

export const runUri = (id: string): string => `swarm://runs/${encodeURIComponent(id)}`;
const logsUri = (id: string): string => `${runUri(id)}/logs`;

export const RESOURCE_TEMPLATES: ResourceTemplate[] = [
  {
    uriTemplate: 'swarm://runs/{id}',
    name: 'run',
    title: 'A run',
    description: 'A run of one of your workflows: its status, input, output, error and steps (JSON).',
    mimeType: JSON_TYPE,
  },
  {
    uriTemplate: 'swarm://runs/{id}/logs',
    name: 'run-logs',
    title: "A run's execution log",
    description: `The run's log lines, oldest first (JSON; the first ${MAX_LOG_LINES}).`,
    mimeType: JSON_TYPE,
  },
];

/** `resources/list`: the caller's runs, newest first, a page at a time (the API's cursor). */
export async function listRunResources(
  engine: Engine,
  caller: Caller,
  cursor: string | undefined,
): Promise<ListResourcesResult> {
  assertCallerScope(caller, 'runs:read', 'listing resources (runs)');
  const page = await engine.listRunPage(caller, {
    limit: RUNS_PER_PAGE,
    ...(cursor === undefined ? {} : { cursor }),
  });
  return {
    resources: page.items.map((run) => ({
      uri: runUri(run.id),
      name: `run ${run.id}`,
      title: `${run.workflow}@${run.version}: ${run.status}`,
      description: `A run of ${run.workflow}@${run.version}, ${run.status}${run.startedAt === null ? '' : `, started ${run.startedAt}`}`,
      mimeType: JSON_TYPE,
    })),
    ...(page.next === null ? {} : { nextCursor: page.next }),
  };
}

/** What a run resource shows: the run as the API has it, its input and output named so. */
function runDocument(run: RunView): Record<string, unknown> {
  return {
    id: run.id,
    workflow: run.workflow,
    version: run.version,
    status: run.status,
    attempt: run.attempt,
    input: run.trigger.data,
    output: run.result,
    error: run.error,
    errorStep: run.errorStep,
    steps: run.steps,
    startedAt: run.startedAt,
    completedAt: run.completedAt,
    durationMs: run.durationMs,
    tokens: run.tokens,
    cost: run.cost,
    handlers: run.handlers,
    trigger: { type: run.trigger.type, id: run.trigger.id, startedBy: run.trigger.startedBy },
    logs: logsUri(run.id),
  };
}

const RESOURCE_URI = /^swarm:\/\/runs\/([^/?#]+)(\/logs)?$/;

function notFound(uri: string): McpError {
  return new McpError(MCP_ERROR.resourceNotFound, `resource not found: ${uri}`, { code: 'NOT_FOUND', uri });
}

function runIdOf(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}

/**
 * `resources/read` of `swarm://runs/{id}` or `swarm://runs/{id}/logs`. Another owner's run is
 * "not found", as in the API: the answer does not say whether it exists.
 */
export async function readRunResource(
  engine: Engine,
  logs: RunLogs,
  caller: Caller,
  uri: string,
): Promise<ReadResourceResult> {
  assertCallerScope(caller, 'runs:read', 'reading a resource (a run)');
  const match = RESOURCE_URI.exec(uri);
  const runId = match?.[1] === undefined ? null : runIdOf(match[1]);
  if (runId === null) throw notFound(uri);
  try {
    const document =
      match?.[2] === undefined
        ? runDocument(await engine.getRun(caller, runId))
        : await logDocument(logs, caller, runId);
    return { contents: [{ uri, mimeType: JSON_TYPE, text: JSON.stringify(document, null, 2) }] };
  } catch (error) {
    if (isSwarmError(error) && error.code === 'NOT_FOUND') throw notFound(uri);
    throw error;
  }
}

async function logDocument(logs: RunLogs, caller: Caller, runId: string): Promise<Record<string, unknown>> {
  const lines = await logs.list(caller, runId, { limit: MAX_LOG_LINES + 1 });
  return {
    runId,
    lines: lines.slice(0, MAX_LOG_LINES),
    // More than one read gives: the API pages through them (`?after=` the last id here).
    truncated: lines.length > MAX_LOG_LINES,
  };
}
