import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors/index.js';
import type { MessageRecord, Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const nullableString = { type: ['string', 'null'] } as const;
const nullableNumber = { type: ['number', 'null'] } as const;

const turnSchema = {
  type: 'object',
  required: [
    'id',
    'taskId',
    'itemIndex',
    'role',
    'type',
    'sender',
    'recipient',
    'content',
    'turn',
    'createdAt',
  ],
  properties: {
    id: { type: 'string' },
    taskId: { type: 'string' },
    itemIndex: { type: ['integer', 'null'], description: 'The for_each item whose task spoke' },
    role: { type: 'string', enum: ['system', 'user', 'assistant', 'tool'] },
    type: { type: 'string', enum: ['request', 'response', 'error', 'broadcast'] },
    sender: { type: 'string', description: 'The agent (name@version), `swarm`, or `tool:<name>`' },
    recipient: nullableString,
    content: {
      description:
        '`{text}` for system and user turns; `{text, tool_calls?}` for the model; `{call_id, name, content, is_error}` for a tool result',
    },
    turn: {
      type: 'integer',
      description: "The turn's place in its task's conversation (0: the system prompt)",
    },
    attempt: { type: 'integer' },
    modelCall: { type: 'integer', description: "Model replies: the call's number within the step (from 1)" },
    provider: { type: 'string' },
    model: { type: 'string' },
    inputTokens: { type: 'integer' },
    outputTokens: { type: 'integer' },
    tokens: { type: 'integer' },
    cost: { type: 'number' },
    startedAt: { type: 'string', description: 'Model replies: when the request was sent' },
    durationMs: { type: 'number' },
    toolTaskId: { type: 'string', description: 'Tool results: the child task that answered' },
    createdAt: { type: 'string', description: 'When it was recorded (its checkpoint)' },
  },
} as const;

const toolTaskSchema = {
  type: 'object',
  required: [
    'taskId',
    'parentTaskId',
    'callId',
    'tool',
    'agent',
    'status',
    'retries',
    'error',
    'createdAt',
    'startedAt',
    'completedAt',
    'durationMs',
  ],
  properties: {
    taskId: { type: 'string' },
    parentTaskId: { type: 'string', description: "The step's task that asked for it" },
    callId: nullableString,
    tool: nullableString,
    modelCall: { type: 'integer', description: 'The model call that asked for it' },
    agent: { type: ['string', 'null'], description: 'name@version, or `capability:<name>` while unrouted' },
    status: { type: 'string' },
    retries: { type: 'integer' },
    error: nullableString,
    createdAt: { type: 'string' },
    startedAt: nullableString,
    completedAt: nullableString,
    durationMs: nullableNumber,
  },
} as const;

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** A message row of the conversation as the API shows it: its metadata as named fields. */
function turnView(m: MessageRecord) {
  const meta = m.metadata;
  const fields = {
    attempt: num(meta.attempt),
    modelCall: num(meta.model_call),
    provider: str(meta.provider),
    model: str(meta.model),
    inputTokens: num(meta.input_tokens),
    outputTokens: num(meta.output_tokens),
    tokens: num(meta.tokens),
    cost: num(meta.cost),
    startedAt: str(meta.started_at),
    durationMs: num(meta.duration_ms),
    toolTaskId: str(meta.tool_task_id),
  };
  return {
    id: m.id,
    taskId: m.taskId ?? '',
    itemIndex: num(meta.item_index) ?? null,
    role: str(meta.role) ?? 'assistant',
    type: m.messageType,
    sender: m.sender ?? '',
    recipient: m.recipient,
    content: m.content,
    turn: num(meta.turn) ?? 0,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    createdAt: m.createdAt,
  };
}

/**
 * `GET /api/v1/runs/{id}/steps/{step}/conversation`: an agent step's conversation record — every
 * turn its model calls saw and made, with tokens and cost per call — and the tasks of the tool
 * calls it asked for (for the dashboard's chat view and nested timeline bars).
 */
export function conversationRoutes(app: FastifyInstance, store: Store): void {
  app.get<{ Params: { id: string; step: string } }>(
    '/api/v1/runs/:id/steps/:step/conversation',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: "An agent step's conversation: its turns, model calls and tool calls",
        description:
          'Turns are recorded when the model call that made them is checkpointed, so a turn appears once even when a worker died mid-step. A for_each step has one conversation per item (`itemIndex`). At most 5,000 turns (`truncated`).',
        params: {
          type: 'object',
          required: ['id', 'step'],
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 200 },
            step: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['runId', 'stepId', 'turns', 'toolCalls', 'totals', 'truncated'],
            properties: {
              runId: { type: 'string' },
              stepId: { type: 'string' },
              turns: { type: 'array', items: turnSchema },
              toolCalls: { type: 'array', items: toolTaskSchema },
              totals: {
                type: 'object',
                required: ['modelCalls', 'toolCalls', 'tokens', 'cost'],
                properties: {
                  modelCalls: { type: 'integer' },
                  toolCalls: { type: 'integer' },
                  tokens: { type: 'integer' },
                  cost: { type: 'number' },
                },
              },
              truncated: { type: 'boolean' },
            },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { id, step } = request.params;
      const records = store.as(callerOf(request)).records;
      if (!(await records.ownsRun(id))) throw new NotFoundError('run', id);
      const conversation = await records.stepConversation(id, step);
      const calls = conversation.messages.filter((m) => num(m.metadata.model_call) !== undefined);
      return {
        runId: id,
        stepId: step,
        turns: conversation.messages.map(turnView),
        toolCalls: conversation.toolTasks.map((t) => ({
          taskId: t.id,
          parentTaskId: t.parentTaskId,
          callId: str(t.metadata.call_id) ?? null,
          tool: str(t.metadata.tool) ?? null,
          ...(num(t.metadata.model_call) === undefined ? {} : { modelCall: num(t.metadata.model_call) }),
          agent: t.agent,
          status: t.status,
          retries: t.retries,
          error: t.error,
          createdAt: t.createdAt,
          startedAt: t.startedAt,
          completedAt: t.completedAt,
          durationMs: t.durationMs,
        })),
        totals: {
          modelCalls: calls.length,
          toolCalls: conversation.toolTasks.length,
          tokens: calls.reduce((sum, m) => sum + (num(m.metadata.tokens) ?? 0), 0),
          cost: Math.round(calls.reduce((sum, m) => sum + (num(m.metadata.cost) ?? 0), 0) * 1e9) / 1e9,
        },
        truncated: conversation.truncated,
      };
    },
  );
}
