import type { FastifyInstance } from 'fastify';
import {
  LOG_LEVELS,
  RUN_TRIGGER_TYPES,
  RunLogs,
  type Engine,
  type ForkRunOptions,
  type LogLevel,
} from '../../engine/index.js';
import type { Registry } from '../../registry/index.js';
import { RUN_STATUSES, type Store } from '../../storage/index.js';
import { isSwarmError } from '../../errors/index.js';
import { archivedRunView } from '../../history/index.js';
import { callerOf } from '../auth-hook.js';
import { LOG_ID_PATTERN, runEventRoutes, type EventStreamOptions } from './run-events.js';

/** A consensus decision (consensus_results); inlined in Run so Run needs no other schema. */
const consensusResult = {
  type: 'object',
  required: ['stepId', 'strategy', 'finalResult', 'confidence', 'agentResults', 'details', 'createdAt'],
  properties: {
    stepId: { type: ['string', 'null'], description: 'The consensus step (its aggregate step id)' },
    taskId: { type: ['string', 'null'], description: 'The task of its aggregate step' },
    strategy: { type: 'string', enum: ['voting', 'weighted', 'judge_based', 'mixture_of_agents'] },
    finalResult: { description: 'The decision; null when no quorum was reached and the step failed' },
    confidence: { type: ['number', 'null'], description: 'The share that agreed, or the judge’s confidence' },
    agentResults: {
      type: 'object',
      additionalProperties: true,
      description: 'Each member (and layer) step id → {agent, output}',
    },
    details: {
      type: 'object',
      additionalProperties: true,
      description: 'How it was decided: tally, weights, quorum, reached; a judge’s choice and reasoning',
    },
    createdAt: { type: 'string' },
  },
} as const;

export const runSchema = {
  $id: 'Run',
  type: 'object',
  required: ['id', 'workflow', 'version', 'status', 'steps'],
  properties: {
    id: { type: 'string' },
    workflow: { type: 'string' },
    version: { type: 'string' },
    status: { type: 'string', enum: [...RUN_STATUSES] },
    attempt: { type: 'integer' },
    steps: {
      type: 'object',
      additionalProperties: true,
      description:
        "Each step's status, output, error and times, with `durationMs` (start to end, null until it ends), `tokens` ({input, output, total}) and `cost` of its LLM calls",
    },
    result: {},
    error: { type: ['string', 'null'] },
    errorStep: { type: ['string', 'null'] },
    startedAt: { type: ['string', 'null'] },
    completedAt: { type: ['string', 'null'] },
    durationMs: { type: ['number', 'null'] },
    tokens: {
      type: 'object',
      description: 'LLM tokens of all its steps; input and output where the providers reported them',
      required: ['input', 'output', 'total'],
      properties: { input: { type: 'number' }, output: { type: 'number' }, total: { type: 'number' } },
    },
    cost: { type: 'number', description: 'Estimated LLM cost of all its steps' },
    archived: {
      type: 'boolean',
      description: "Answered from the execution history: the run's own rows were pruned (docs/retention.md)",
    },
    timeoutAt: { type: ['string', 'null'], description: "The run's deadline, if its workflow sets one" },
    concurrencyKey: {
      type: ['string', 'null'],
      description:
        'The value of its workflow\'s `concurrency.key` ("" without a key); null: no concurrency. A pending run with a key waits for a slot (docs/run-concurrency.md)',
    },
    cancelledBy: { type: ['string', 'null'], description: 'Who cancelled it: a user, or `engine`' },
    cancellationReason: {
      type: ['string', 'null'],
      description: 'Why it was cancelled (a concurrency strategy names the run or the limit)',
    },
    handlers: {
      type: 'array',
      description: 'Its on_error / on_success handlers and how they went',
      items: { type: 'object', additionalProperties: true },
    },
    consensus: {
      type: 'array',
      description: 'Its consensus decisions, one per consensus step that decided (GET /runs/{id} only)',
      items: consensusResult,
    },
    waiting: {
      type: 'array',
      description:
        'What its steps wait for now, oldest first: approvals, events, sleeps (GET /runs/{id} only; empty when nothing waits)',
      items: {
        type: 'object',
        required: ['id', 'kind', 'stepId', 'timeoutAt', 'createdAt'],
        properties: {
          id: { type: 'string', description: 'The waitpoint' },
          kind: { type: 'string', enum: ['approval', 'event', 'sleep'] },
          stepId: { type: ['string', 'null'] },
          timeoutAt: { type: ['string', 'null'], description: 'When the wait times out; null: never' },
          eventType: { type: 'string', description: 'event waits: the event type awaited' },
          createdAt: { type: 'string', description: 'When the wait began' },
        },
      },
    },
    parentRunId: {
      type: ['string', 'null'],
      description: 'The run this one was forked from (null: not a fork, or that run was deleted)',
    },
    isReplay: { type: 'boolean', description: 'A fork: it reused recorded outputs of another run' },
    forkedFromStep: { type: ['string', 'null'], description: 'The step a fork ran again from' },
    originalRunId: {
      type: ['string', 'null'],
      description: "The root of a fork chain: its steps' idempotency keys are derived from it",
    },
    forks: {
      type: 'array',
      description: 'The runs forked from this one, oldest first (GET /runs/{id} only, at most 100)',
      items: {
        type: 'object',
        required: ['id', 'status', 'createdAt', 'fromStep'],
        properties: {
          id: { type: 'string' },
          status: { type: 'string', enum: [...RUN_STATUSES] },
          createdAt: { type: 'string' },
          fromStep: { type: ['string', 'null'] },
          version: { type: ['string', 'null'] },
        },
      },
    },
    trigger: {
      type: 'object',
      description:
        'What started it: the trigger type and id, or (manual) the user who did, and its trigger data',
      required: ['type', 'id', 'startedBy'],
      properties: {
        type: { type: 'string', enum: ['manual', 'webhook', 'schedule', 'event'] },
        id: { type: ['string', 'null'] },
        startedBy: { type: ['string', 'null'] },
        data: {},
      },
    },
  },
} as const;

export const consensusResultSchema = { $id: 'ConsensusResult', ...consensusResult } as const;

export const logLineSchema = {
  $id: 'LogLine',
  type: 'object',
  required: ['id', 'time', 'level', 'eventType', 'stepId', 'taskId', 'message', 'metadata'],
  properties: {
    id: { type: 'string', description: 'A UUIDv7: ids sort by time, so the last one seen is a cursor' },
    time: { type: 'string' },
    level: { type: 'string', enum: [...LOG_LEVELS] },
    eventType: { type: 'string', enum: ['execution', 'decision', 'error', 'metric', 'state_change'] },
    stepId: { type: ['string', 'null'] },
    taskId: { type: ['string', 'null'] },
    message: { type: 'string' },
    metadata: { type: 'object', additionalProperties: true },
  },
} as const;

/** `GET /api/v1/runs`'s query: every value a string, as it comes. */
interface RunListQuery {
  workflow?: string;
  status?: string;
  triggerType?: string;
  since?: string;
  until?: string;
  q?: string;
  cursor?: string;
  limit?: string;
}

const isNotFound = (error: unknown) => isSwarmError(error) && error.code === 'NOT_FOUND';

export function runRoutes(
  app: FastifyInstance,
  registry: Registry,
  engine: Engine,
  onRunStarted: () => void,
  store: Store,
  events: EventStreamOptions = {},
): void {
  const logs = new RunLogs(store);
  app.addSchema(logLineSchema);
  app.addSchema(consensusResultSchema);
  app.post<{ Params: { name: string }; Body: { input?: unknown; version?: string } }>(
    '/api/v1/workflows/:name/runs',
    {
      config: { scope: 'runs:write' },
      schema: {
        tags: ['runs'],
        summary: 'Start a run of the latest (or a given) version of a workflow',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            input: { description: 'The run input; manual runs see it as `trigger`' },
            version: { type: 'string', minLength: 1 },
          },
        },
        response: {
          202: {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string' }, run: { $ref: 'Run#' } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { agents, workflows } = registry.as(caller);
      const workflow = await workflows.get(request.params.name, request.body?.version);
      const id = await engine.startRun(caller, workflow, agents, {
        input: request.body?.input ?? {},
        triggerType: 'manual',
      });
      onRunStarted();
      return reply.code(202).send({ id, run: await engine.getRun(caller, id) });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/runs/:id',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: 'A run with its steps',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        response: { 200: { $ref: 'Run#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      try {
        return await engine.getRun(caller, request.params.id);
      } catch (error) {
        // A run pruned by the retention policy is still shown, as it was archived.
        const archived = isNotFound(error) ? await archivedRunView(store, caller, request.params.id) : null;
        if (archived === null) throw error;
        return { ...archived, archived: true };
      }
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/runs/:id/consensus',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: "A run's consensus decisions, with each member's result",
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'ConsensusResult#' } } },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => ({ items: await engine.listConsensus(callerOf(request), request.params.id) }),
  );

  app.get<{ Querystring: RunListQuery }>(
    '/api/v1/runs',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: "The caller's runs, newest first, a page at a time",
        description:
          'Filters combine with AND. `next` is set when there may be more: pass it as `cursor` (with the same filters) for the next page.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            workflow: { type: 'string', minLength: 1 },
            status: { type: 'string', enum: [...RUN_STATUSES] },
            triggerType: {
              type: 'string',
              enum: [...RUN_TRIGGER_TYPES],
              description: 'What started the runs',
            },
            since: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'Runs created at or after this ISO-8601 instant (with a zone)',
            },
            until: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'Runs created before this ISO-8601 instant (with a zone)',
            },
            q: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'Text in the run id, the workflow name or the error (any case)',
            },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 400,
              description: 'The `next` of the previous page',
            },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: '1–999, default 50' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              items: { type: 'array', items: { $ref: 'Run#' } },
              next: {
                type: ['string', 'null'],
                description: 'The cursor of the next page, if there may be one',
              },
            },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { limit, ...filters } = request.query;
      return engine.listRunPage(callerOf(request), {
        ...filters,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/api/v1/runs/:id/cancel',
    {
      config: { scope: 'runs:write' },
      schema: {
        tags: ['runs'],
        summary: 'Cancel a pending or running run; running attempts are stopped within about a second',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
        },
        response: {
          200: { $ref: 'Run#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => engine.cancelRun(callerOf(request), request.params.id, request.body?.reason),
  );

  app.post<{ Params: { id: string }; Body: { fromFailed?: boolean } | null | undefined }>(
    '/api/v1/runs/:id/retry',
    {
      config: { scope: 'runs:write' },
      schema: {
        tags: ['runs'],
        summary: 'Retry a failed, cancelled or timed-out run as its next attempt',
        description:
          'Every step runs again from the start; with `fromFailed: true`, completed steps keep their outputs and only the failed steps and those never reached run again.',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        // Optional: no body at all is a retry from the start.
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            fromFailed: {
              type: 'boolean',
              default: false,
              description: 'Keep completed steps; run the failed and unreached ones',
            },
          },
        },
        response: {
          200: { $ref: 'Run#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const run = await engine.retryRun(callerOf(request), request.params.id, {
        fromFailed: request.body?.fromFailed === true,
      });
      onRunStarted();
      return run;
    },
  );

  app.post<{ Params: { id: string }; Body: ForkRunOptions }>(
    '/api/v1/runs/:id/fork',
    {
      config: { scope: 'runs:write' },
      schema: {
        tags: ['runs'],
        summary: 'Fork a run into a new one that runs again from a step, reusing the rest',
        description:
          "The new run is linked to this one (`parentRunId`, `isReplay`). It runs `fromStep` and every step that depends on it; the other steps reuse this run's recorded outputs without running (`steps.<id>.reused_from`). `version` picks the workflow version (default: this run's; `latest`), `input` a new input (default: this run's). 409 FORK_MISMATCH lists the steps that cannot be reused. See docs/replay.md.",
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['fromStep'],
          properties: {
            fromStep: { type: 'string', minLength: 1, maxLength: 200, description: 'The step to run again' },
            version: {
              type: 'string',
              minLength: 1,
              maxLength: 100,
              description: "A version of the run's workflow, or `latest`; default: the run's own",
            },
            input: { description: "The new run's input; default: this run's" },
          },
        },
        response: {
          201: { $ref: 'Run#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const id = await engine.forkRun(caller, request.params.id, request.body, registry.as(caller));
      onRunStarted();
      return reply.code(201).send(await engine.getRun(caller, id));
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: { after?: string; limit?: string; step?: string; level?: LogLevel };
  }>(
    '/api/v1/runs/:id/logs',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: "A run's execution log, oldest first, a page at a time",
        description:
          'Pass the last `id` of a page as `after` for the next page; fewer than `limit` lines means there is nothing more yet.',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'string', pattern: LOG_ID_PATTERN, description: 'Only lines after this log id' },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: '1–999, default 100' },
            step: { type: 'string', minLength: 1, maxLength: 200, description: "Only this step's lines" },
            level: {
              type: 'string',
              enum: [...LOG_LEVELS],
              description: 'Only lines of this level or a more severe one',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'LogLine#' } } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { after, limit, step, level } = request.query;
      return {
        items: await logs.list(callerOf(request), request.params.id, {
          ...(after === undefined ? {} : { after }),
          ...(limit === undefined ? {} : { limit: Number(limit) }),
          ...(step === undefined ? {} : { stepId: step }),
          ...(level === undefined ? {} : { level }),
        }),
      };
    },
  );

  runEventRoutes(app, engine, logs, events);
}
