import { resolveStored } from '../../blobs/index.js';
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../engine/index.js';
import { SwarmError } from '../../errors/index.js';
import { claimTasks, completeTasks, failTask, renewLeases } from '../../queue/index.js';
import { recordHeartbeat, recordOutcomes } from '../../routing/index.js';
import type { SigningKey } from '../../runtimes/index.js';
import { fromDbJson, type Caller, type Store } from '../../storage/index.js';
import { outcomeHooks } from '../../worker/index.js';
import { callerOf } from '../auth-hook.js';

/** The lock holder a pull agent's claims are recorded under; results and heartbeats check it. */
const PULL_PREFIX = 'pull:';

const leaseEpoch = { type: 'integer', minimum: 0 } as const;
const taskParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1 } },
} as const;

/**
 * What remote (http) agents talk to: Swarm's public signing key (public, like /healthz: an agent
 * needs it before anything else), heartbeats, and the pull model — an agent claims its owner's
 * tasks for its name or capabilities, renews their leases and reports their results.
 */
export function remoteAgentRoutes(
  app: FastifyInstance,
  store: Store,
  signingKey: SigningKey | null,
  engine: Engine,
): void {
  const hooks = outcomeHooks(store, engine);

  /** The caller's task `id` (404 otherwise), and the pull agent holding it (409 when none does). */
  async function heldTask(caller: Caller, id: string) {
    const row = await store.handle.db
      .selectFrom('tasks')
      .select(['id', 'locked_by', 'started_at', 'run_id', 'step_id', 'item_index'])
      .where('id', '=', id)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (row === undefined) throw new SwarmError('NOT_FOUND', `no task ${id}`);
    if (row.locked_by === null || !row.locked_by.startsWith(PULL_PREFIX))
      throw new SwarmError(
        'CONFLICT',
        `task ${id} is not held by a pull agent (lease lost or never claimed)`,
      );
    return {
      id,
      workerId: row.locked_by,
      agentName: row.locked_by.slice(PULL_PREFIX.length),
      startedAt: row.started_at === null ? null : Date.parse(row.started_at),
      place: { runId: row.run_id, stepId: row.step_id, itemIndex: row.item_index },
    };
  }

  const lost = (id: string) =>
    new SwarmError('CONFLICT', `the lease on task ${id} is lost: reclaimed, cancelled or already reported`);

  app.get(
    '/api/v1/signing-key',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['agents'],
        summary: "Swarm's Ed25519 public key: remote agents verify X-Swarm-Signature with it",
        security: [],
        response: {
          200: {
            type: 'object',
            required: ['algorithm', 'public_key'],
            properties: {
              algorithm: { type: 'string', enum: ['ed25519'] },
              public_key: { type: 'string', description: 'base64 of the 32 raw key bytes' },
            },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async () => {
      if (signingKey === null) throw new SwarmError('NOT_FOUND', 'this server has no signing key configured');
      return { algorithm: 'ed25519' as const, public_key: signingKey.publicKeyBase64() };
    },
  );

  app.post<{ Params: { name: string }; Body: { version?: string } | undefined }>(
    '/api/v1/agents/:name/heartbeat',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['agents'],
        summary: 'A remote (http) agent is alive: sets last_seen_at, re-activates it when it was silent',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { version: { type: 'string', minLength: 1 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['versions', 'reactivated'],
            properties: {
              versions: { type: 'array', items: { type: 'string' } },
              reactivated: { type: 'array', items: { type: 'string' } },
            },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) =>
      recordHeartbeat(store, callerOf(request), request.params.name, {
        ...(request.body?.version === undefined ? {} : { version: request.body.version }),
      }),
  );

  app.post<{ Params: { name: string }; Body: { limit?: number; lease_ms?: number } | undefined }>(
    '/api/v1/agents/:name/claim',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['agents'],
        summary:
          "Pull model: the caller's remote (http) agent claims ready tasks naming it or one of its capabilities",
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
            lease_ms: { type: 'integer', minimum: 1000, maximum: 3_600_000, default: 60_000 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['tasks'],
            properties: {
              tasks: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'lease_epoch', 'input', 'step_id', 'run_id', 'attempt', 'timeout_seconds'],
                  properties: {
                    id: { type: 'string' },
                    lease_epoch: { type: 'integer' },
                    input: {},
                    step_id: { type: ['string', 'null'] },
                    run_id: { type: ['string', 'null'] },
                    attempt: { type: 'integer' },
                    timeout_seconds: { type: ['integer', 'null'] },
                    locked_until: { type: 'string' },
                  },
                },
              },
            },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const name = request.params.name;
      // 404 unless the caller has an http agent of that name; a claim counts as a heartbeat.
      await recordHeartbeat(store, caller, name);
      const versions = await store.handle.db
        .selectFrom('agents')
        .select(['id', 'version', 'capabilities'])
        .where('owner_id', '=', caller.userId)
        .where('name', '=', name)
        .where('runtime_type', '=', 'http')
        .where('status', '=', 'active')
        .orderBy('created_at', 'desc')
        .execute();
      if (versions.length === 0)
        throw new SwarmError(
          'CONFLICT',
          `remote agent ${name} has no active version (deprecated or disabled)`,
        );
      const capabilities = [
        ...new Set(versions.flatMap((v) => fromDbJson<string[]>(v.capabilities) ?? [])),
      ].filter((c): c is string => typeof c === 'string');
      const claimed = await claimTasks(store.handle, {
        workerId: `${PULL_PREFIX}${name}`,
        limit: request.body?.limit ?? 1,
        leaseMs: request.body?.lease_ms ?? 60_000,
        ownerId: caller.userId,
        only: { agentName: name, capabilities },
      });
      // The version the task names, else the newest active one, is the agent that runs it.
      const byVersion = new Map(versions.map((v) => [v.version, v.id]));
      const assigned = new Map<string, string[]>();
      for (const task of claimed) {
        const agentId = byVersion.get(task.agent?.version ?? '') ?? versions[0]!.id;
        assigned.set(agentId, [...(assigned.get(agentId) ?? []), task.id]);
      }
      for (const [agentId, ids] of assigned)
        await store.handle.db
          .updateTable('tasks')
          .set({ assigned_agent_id: agentId })
          .where('id', 'in', ids)
          .execute();
      const inputs = await Promise.all(claimed.map((task) => resolveStored(store.handle.db, task.input)));
      return {
        tasks: claimed.map((task, i) => ({
          id: task.id,
          lease_epoch: task.leaseEpoch,
          input: inputs[i] ?? null,
          step_id: task.stepId,
          run_id: task.runId,
          attempt: task.attempt,
          timeout_seconds: task.timeoutSeconds,
          locked_until: task.lockedUntil,
        })),
      };
    },
  );

  app.post<{
    Params: { id: string };
    Body: { lease_epoch: number; output?: unknown; error?: string; code?: string; retryable?: boolean };
  }>(
    '/api/v1/tasks/:id/result',
    {
      // An agent's output, like every runtime's: NUL in it is stored as U+FFFD, not refused.
      config: { scope: 'tasks:write', nulInBody: 'replace' },
      schema: {
        tags: ['agents'],
        summary: "Pull model: a pull agent reports a claimed task's output, or its error",
        params: taskParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['lease_epoch'],
          properties: {
            lease_epoch: leaseEpoch,
            output: {},
            error: { type: 'string', minLength: 1 },
            code: { type: 'string', minLength: 1, maxLength: 100 },
            retryable: { type: 'boolean', default: true },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['completed', 'retrying', 'failed'] } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const body = request.body;
      const hasOutput = Object.hasOwn(body, 'output');
      if (hasOutput === (body.error !== undefined))
        throw new SwarmError('INPUT_INVALID', 'give either output or error, not both and not neither');
      const task = await heldTask(caller, request.params.id);
      const lease = { id: task.id, leaseEpoch: body.lease_epoch };
      let status: 'completed' | 'retrying' | 'failed';
      if (hasOutput) {
        const durationMs = task.startedAt === null ? undefined : Math.max(0, Date.now() - task.startedAt);
        const done = await completeTasks(
          store.handle,
          [
            {
              ...lease,
              output: body.output,
              ...(durationMs === undefined ? {} : { durationMs }),
              ...task.place,
            },
          ],
          hooks,
        );
        if (done.completed.length === 0) throw lost(task.id);
        status = 'completed';
      } else {
        const outcome = await failTask(
          store.handle,
          {
            ...lease,
            error: body.error!,
            ...(body.code === undefined ? {} : { code: body.code }),
            retryable: body.retryable ?? true,
          },
          {
            ...hooks,
            // The agent's trust moves in the failure's transaction.
            onAttemptFailed: async (trx) => {
              await recordOutcomes(trx, store.handle.dialect, [{ taskId: task.id, result: 'failed' }]);
            },
          },
        );
        if (outcome === 'rejected') throw lost(task.id);
        status = outcome === 'retrying' ? 'retrying' : 'failed';
      }
      await recordHeartbeat(store, caller, task.agentName).catch(() => undefined);
      return { status };
    },
  );

  app.post<{ Params: { id: string }; Body: { lease_epoch: number; lease_ms?: number } }>(
    '/api/v1/tasks/:id/heartbeat',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['agents'],
        summary: 'Pull model: extends the lease on a claimed task; 409 when it was lost',
        params: taskParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['lease_epoch'],
          properties: {
            lease_epoch: leaseEpoch,
            lease_ms: { type: 'integer', minimum: 1000, maximum: 3_600_000, default: 60_000 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['locked_until'],
            properties: { locked_until: { type: 'string' } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const task = await heldTask(caller, request.params.id);
      const now = new Date();
      const leaseMs = request.body.lease_ms ?? 60_000;
      const renewed = await renewLeases(
        store.handle,
        task.workerId,
        [{ id: task.id, leaseEpoch: request.body.lease_epoch }],
        leaseMs,
        now,
      );
      if (renewed.renewed.length === 0) throw lost(task.id);
      await recordHeartbeat(store, caller, task.agentName).catch(() => undefined);
      return { locked_until: new Date(now.getTime() + leaseMs).toISOString() };
    },
  );
}
