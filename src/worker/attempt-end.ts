/** How one attempt of a task ended on this worker, for whoever watches it (`swarm worker` prints a line). */
export interface AttemptEnd {
  readonly taskId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  /** `name@version` of the agent that ran it, else what the task asked for (agent or capability). */
  readonly agent: string;
  readonly attempt: number;
  /**
   * `completed` (its output handed in), `failed` (the queue retries it if it may), or `sleeping`
   * (builtin/delay: back on the queue until due).
   */
  readonly status: 'completed' | 'failed' | 'sleeping';
  readonly durationMs: number;
  readonly error?: string;
  /** For a failure: whether it may be retried (if attempts remain). */
  readonly retryable?: boolean;
}

/** The agent named in a line: the version that ran, else the task's agent or capability. */
export function agentLabel(
  ran: { name: string; version: string } | null,
  task: { agent: { name: string; version: string | null } | null; capability: string | null },
): string {
  if (ran !== null) return `${ran.name}@${ran.version}`;
  if (task.agent !== null)
    return task.agent.version === null ? task.agent.name : `${task.agent.name}@${task.agent.version}`;
  return task.capability === null ? '-' : `capability ${task.capability}`;
}

/** `swarm worker`'s line for an attempt: time, task, agent, step, status, duration (and error). */
export function formatAttemptEnd(end: AttemptEnd, now: Date = new Date()): string {
  const step = end.runId === null ? 'standalone' : `run ${end.runId} step ${end.stepId ?? '-'}`;
  const error =
    end.error === undefined
      ? ''
      : `: ${end.error.replace(/\s*\n\s*/g, ' ').slice(0, 200)}${end.retryable ? ' (retryable)' : ''}`;
  return `${now.toISOString()} task ${end.taskId} ${end.agent} ${step} attempt ${end.attempt}: ${end.status} in ${end.durationMs} ms${error}`;
}
