/**
 * What an alert is about: an owner has at most one open alert per cause. Agents are named with
 * their version (`name@version`): a broken version's alerts are its own.
 */
export const causes = {
  agentFailure: (agent: string) => `agent_failure:${agent}`,
  taskTimeout: (agent: string) => `task_timeout:${agent}`,
  crashLoop: (agent: string) => `system_error:crash_loop:${agent}`,
  /** A server found the database unreachable, then reachable again. */
  databaseUnreachable: 'system_error:database_unreachable',
  slow: (agent: string) => `performance_degradation:${agent}`,
  /** One per run (or per task outside runs) a budget stopped. */
  budget: (refusal: { runId: string | null; taskId: string }) =>
    refusal.runId === null
      ? `budget_exceeded:task:${refusal.taskId}`
      : `budget_exceeded:run:${refusal.runId}`,
  /** One per completed run of a workflow that opted in. */
  completion: (runId: string) => `task_completion:${runId}`,
};
