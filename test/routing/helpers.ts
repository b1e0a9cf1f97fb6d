import path from 'node:path';
import { enqueueTasks } from '../../src/queue/index.js';
import type { EngineFixture } from '../engine/helpers.js';
import { FIXTURES } from '../runtimes/process-helpers.js';

export interface AgentStats {
  trust?: number;
  health?: number;
  avg?: number | null;
  lastAssignedAt?: string | null;
  completed?: number;
  failed?: number;
  status?: string;
}

/** Registers the probe agent as `name@version` offering `capabilities`, then sets its stats. */
export async function agentWith(
  fx: EngineFixture,
  name: string,
  stats: AgentStats = {},
  options: { capabilities?: string[]; version?: string; timeoutSeconds?: number } = {},
): Promise<string> {
  const version = options.version ?? '1.0.0';
  await fx.registry.as(fx.caller).agents.register(
    {
      name,
      version,
      type: 'execution',
      capabilities: options.capabilities ?? ['test:route'],
      runtime: { type: 'node', entry: 'probe.js' },
      ...(options.timeoutSeconds === undefined
        ? {}
        : { resources: { memory_mb: 128, timeout_seconds: options.timeoutSeconds } }),
    },
    { path: path.join(FIXTURES, 'probe') },
  );
  const row = await fx.store.handle.db
    .updateTable('agents')
    .set({
      ...(stats.trust === undefined ? {} : { trust_score: stats.trust }),
      ...(stats.health === undefined ? {} : { health_score: stats.health }),
      ...(stats.avg === undefined ? {} : { avg_completion_time_seconds: stats.avg }),
      ...(stats.lastAssignedAt === undefined ? {} : { last_assigned_at: stats.lastAssignedAt }),
      ...(stats.completed === undefined ? {} : { total_tasks_completed: stats.completed }),
      ...(stats.failed === undefined ? {} : { total_tasks_failed: stats.failed }),
      ...(stats.status === undefined ? {} : { status: stats.status }),
      updated_at: new Date().toISOString(),
    })
    .where('name', '=', name)
    .where('version', '=', version)
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export function agentRow(fx: EngineFixture, id: string) {
  return fx.store.handle.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export function trustRecords(fx: EngineFixture, agentId: string) {
  return fx.store.handle.db
    .selectFrom('trust_records')
    .selectAll()
    .where('agent_id', '=', agentId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** `n` tasks in `status`, assigned to the agent `agentId` (load for least_loaded). */
export async function tasksAssigned(
  fx: EngineFixture,
  agentId: string,
  n: number,
  status = 'RUNNING',
): Promise<string[]> {
  if (n === 0) return [];
  const ids = await enqueueTasks(
    fx.store.handle.db,
    fx.store.handle.dialect,
    Array.from({ length: n }, () => ({
      ownerId: fx.caller.userId,
      capability: 'test:route',
      taskType: 'test',
      input: {},
    })),
  );
  await fx.store.handle.db
    .updateTable('tasks')
    .set({ status, assigned_agent_id: agentId })
    .where('id', 'in', ids)
    .execute();
  return ids;
}
