import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import {
  runInputSchema,
  type AgentRegistry,
  type InputJsonSchema,
  type WorkflowRegistry,
  type WorkflowView,
} from '../../registry/index.js';
import { toolNameOf } from './tool-name.js';

/**
 * The argument that says how long a call waits for its run: not part of the run's input. A
 * leading underscore keeps it apart from the input fields a definition reads (`trigger.x`).
 */
export const WAIT_ARGUMENT = '_wait_seconds';

/** A run input's schema as a tool's inputSchema must be: an object. */
export type ObjectSchema = InputJsonSchema & { readonly type: 'object' };

/** How long tool calls wait for their runs, in seconds. */
export interface WaitLimits {
  /** When the call does not say (`_wait_seconds`). */
  readonly defaultSeconds: number;
  /** The most a call may ask for. */
  readonly maxSeconds: number;
}

/** Whether a run of it can start now (the engine refuses the others: disabled, paused, …). */
export function isRunnable(workflow: WorkflowView): boolean {
  return workflow.enabled && workflow.status === 'active';
}

/** The latest version of each of the caller's workflows that can run, by name. */
export async function runnableWorkflows(workflows: WorkflowRegistry): Promise<WorkflowView[]> {
  return (await workflows.list()).filter(isRunnable).sort((a, b) => a.name.localeCompare(b.name));
}

/** The runnable workflow whose tool is `toolName`, if the caller has one. */
export async function workflowOfTool(
  workflows: WorkflowRegistry,
  toolName: string,
): Promise<WorkflowView | undefined> {
  return (await runnableWorkflows(workflows)).find((w) => toolNameOf(w.name) === toolName);
}

/**
 * The schema of a workflow's run input, as the dashboard's start form derives it
 * (src/registry/workflow/run-input.ts): from the fields the definition reads, typed by the
 * input_schema of the first steps' agents (the versions their ranges resolve to now). A
 * definition that reads no field takes any object.
 */
export async function inputSchemaOf(workflow: WorkflowView, agents: AgentRegistry): Promise<ObjectSchema> {
  const resolver = agents.resolver();
  const schemas = new Map<string, InputJsonSchema>();
  for (const step of workflow.workflow.steps) {
    if (step.needs.length > 0 || step.agent === undefined || schemas.has(step.agent.name)) continue;
    const schema = (await resolver.resolve(step.agent.name, step.agent.range))?.input_schema;
    if (schema !== undefined && typeof schema === 'object') schemas.set(step.agent.name, schema);
  }
  const derived = runInputSchema(workflow.workflow.steps, (name) => schemas.get(name));
  return (derived ?? { type: 'object' }) as ObjectSchema;
}

/** The MCP tool that runs a workflow, its arguments being the run's input. */
export function toolOf(workflow: WorkflowView, inputSchema: ObjectSchema, wait: WaitLimits): Tool {
  const about = workflow.description ?? `Runs the Swarm workflow ${workflow.name}.`;
  return {
    name: toolNameOf(workflow.name),
    title: `${workflow.name}@${workflow.version}`,
    description:
      `${about}\n\nStarts a run of workflow ${workflow.name}@${workflow.version} with the arguments as its input ` +
      `and waits up to ${wait.defaultSeconds} s (\`${WAIT_ARGUMENT}\`, at most ${wait.maxSeconds}) for it to end. ` +
      'A run still going is returned with its id and the resource swarm://runs/{id} to read later.',
    inputSchema: {
      ...inputSchema,
      properties: {
        ...inputSchema.properties,
        [WAIT_ARGUMENT]: {
          type: 'integer',
          minimum: 0,
          maximum: wait.maxSeconds,
          description: `Seconds to wait for the run to end (default ${wait.defaultSeconds}); 0 returns at once with the run's id. Not part of the run's input.`,
        },
      },
    } as Tool['inputSchema'],
    annotations: { title: workflow.name, readOnlyHint: false, openWorldHint: true },
  };
}
