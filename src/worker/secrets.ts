import { isSwarmError } from '../errors/index.js';
import type { ClaimedTask } from '../queue/index.js';
import { grantedSecretNames, type SecretsService } from '../secrets/index.js';
import type { Store } from '../storage/index.js';
import type { AgentRuntimeInfo } from './agents.js';

/** Runs whose workflow name is remembered (a run never changes workflow). */
const WORKFLOW_CACHE_SIZE = 1000;

/** Why an attempt could not get its secrets: the message names secrets, never a value. */
export class SecretsUnavailable extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SecretsUnavailable';
  }
}

/**
 * The secrets one attempt is granted: the names its agent's `secret:NAME` permissions list,
 * resolved for the task's owner — a secret scoped to the run's workflow before a global one.
 * Nothing is read for an agent that is granted none.
 */
export class AttemptSecrets {
  private readonly workflows = new Map<string, string | null>();

  constructor(
    private readonly store: Store,
    private readonly service: SecretsService | undefined,
  ) {}

  async resolve(task: ClaimedTask, agent: AgentRuntimeInfo): Promise<Record<string, string>> {
    const names = grantedNamesOf(agent);
    if (names.length === 0) return {};
    const who = `agent ${agent.name}@${agent.version}`;
    const granted = names.map((n) => `secret:${n}`).join(', ');
    if (this.service === undefined) {
      throw new SecretsUnavailable(
        `${who} is granted ${granted}, but this worker was started without access to secrets`,
        false,
      );
    }
    let workflow: string | null = null;
    try {
      workflow = task.runId === null ? null : await this.workflowOf(task.runId);
      return await this.service.resolve(task.ownerId, names, workflow === null ? {} : { workflow });
    } catch (error) {
      throw new SecretsUnavailable(describe(error, who, workflow), retryable(error));
    }
  }

  /** The name of the run's workflow (null for a run without one). */
  private async workflowOf(runId: string): Promise<string | null> {
    if (this.workflows.has(runId)) return this.workflows.get(runId)!;
    const row = await this.store.handle.db
      .selectFrom('workflow_runs')
      .select('workflow_name')
      .where('id', '=', runId)
      .executeTakeFirst();
    const name = row?.workflow_name ?? null;
    if (this.workflows.size >= WORKFLOW_CACHE_SIZE)
      this.workflows.delete(this.workflows.keys().next().value!);
    this.workflows.set(runId, name);
    return name;
  }
}

function describe(error: unknown, who: string, workflow: string | null): string {
  if (isSwarmError(error) && error.code === 'NOT_FOUND' && Array.isArray(error.context.names)) {
    const names = error.context.names as string[];
    const where = workflow === null ? '' : ` (globally, or for this workflow with --workflow ${workflow})`;
    return (
      `${who} is granted ${names.map((n) => `secret:${n}`).join(', ')}, but ` +
      `${names.length === 1 ? `secret ${names[0]} is` : `secrets ${names.join(', ')} are`} not set: ` +
      `set ${names.length === 1 ? 'it' : 'them'} with \`swarm secrets set ${names[0]}\`${where}`
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return `${who}: its secrets could not be read: ${message}`;
}

/** A secret that is not set, or does not decrypt, stays so on the next attempt. */
function retryable(error: unknown): boolean {
  return isSwarmError(error) ? error.retryable : true;
}

/** The secret names an agent is granted, worked out once per agent found, not per attempt. */
function grantedNamesOf(agent: AgentRuntimeInfo): readonly string[] {
  let names = GRANTED.get(agent);
  if (names === undefined) GRANTED.set(agent, (names = grantedSecretNames(agent.permissions)));
  return names;
}

const GRANTED = new WeakMap<AgentRuntimeInfo, readonly string[]>();
