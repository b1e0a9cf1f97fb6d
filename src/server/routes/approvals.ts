import type { FastifyInstance } from 'fastify';
import {
  APPROVAL_STATUSES,
  approvalView,
  createApprovalLink,
  decideApproval,
  findApproval,
  listApprovals,
  personOf,
  type ApprovalStatus,
  type DecisionInput,
} from '../../approvals/index.js';
import { parseDuration } from '../../runtimes/index.js';
import type { Keyring } from '../../secrets/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const nullableString = { type: ['string', 'null'] } as const;
const DEFAULT_LINK_SECONDS = 7 * 86_400;

const approvalSchema = {
  $id: 'Approval',
  type: 'object',
  required: ['id', 'status', 'message', 'canDecide', 'createdAt'],
  properties: {
    id: { type: 'string' },
    runId: nullableString,
    workflowName: nullableString,
    stepId: nullableString,
    message: { type: 'string' },
    data: { description: 'What the step asks to review' },
    form: {
      type: ['object', 'null'],
      additionalProperties: true,
      description: "JSON Schema for the decision's data",
    },
    approvers: {
      type: ['object', 'null'],
      properties: {
        users: { type: 'array', items: { type: 'string' } },
        roles: { type: 'array', items: { type: 'string' } },
      },
    },
    timeoutAt: nullableString,
    onTimeout: { type: 'string', enum: ['fail', 'approve', 'reject', 'continue'] },
    status: { type: 'string', enum: [...APPROVAL_STATUSES] },
    decision: { type: ['string', 'null'], enum: ['approve', 'reject', null] },
    comment: nullableString,
    decidedBy: {
      type: ['object', 'null'],
      description:
        '`via`: api (API, CLI, dashboard), link (a signed link: `link.created_by` made it) or timeout',
      properties: {
        id: nullableString,
        email: nullableString,
        via: { type: 'string' },
        link: { type: 'object', properties: { id: { type: 'string' }, created_by: { type: 'string' } } },
      },
    },
    decidedAt: nullableString,
    createdAt: { type: 'string' },
    canDecide: { type: 'boolean', description: 'Whether the caller may decide it now' },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

interface ListQuery {
  status?: ApprovalStatus | 'all';
  cursor?: string;
  limit?: string;
}

/**
 * `/api/v1/approvals`: the `builtin/approval` steps waiting for the caller's owner, deciding
 * them, and making signed one-time links to them (docs/waiting.md). The links' own pages are
 * in approval-links.ts.
 */
export function approvalRoutes(
  app: FastifyInstance,
  store: Store,
  options: { keyring: () => Keyring; publicUrl?: string },
): void {
  app.addSchema(approvalSchema);
  const { handle } = store;

  app.get<{ Querystring: ListQuery }>(
    '/api/v1/approvals',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['approvals'],
        summary: 'Your approvals, newest first, a page at a time (waiting ones by default)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...APPROVAL_STATUSES, 'all'], description: 'Default waiting' },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
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
              items: { type: 'array', items: { $ref: 'Approval#' } },
              next: { type: ['string', 'null'] },
            },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { limit, ...filters } = request.query;
      const page = await listApprovals(handle, caller.userId, {
        ...filters,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      const person = await personOf(handle, caller);
      return { items: page.items.map((found) => approvalView(found, person)), next: page.next };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/approvals/:id',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['approvals'],
        summary: 'One of your approvals',
        params: idParams,
        response: { 200: { $ref: 'Approval#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const found = await findApproval(handle, caller.userId, request.params.id);
      return approvalView(found, await personOf(handle, caller));
    },
  );

  app.post<{ Params: { id: string }; Body: DecisionInput }>(
    '/api/v1/approvals/:id',
    {
      config: { scope: 'runs:write' },
      schema: {
        tags: ['approvals'],
        summary: 'Approves or rejects: the step resumes (approved) or fails (rejected)',
        description:
          "Only while it waits (else 409 APPROVAL_SETTLED: of racing decisions one wins), and only by the run's owner or someone its `approvers` name or whose role they list (else 403). An approval's `data` must satisfy the step's `form` (400 naming the field). The decision, who made it and when go into the step's output and the audit log.",
        params: idParams,
        body: {
          type: 'object',
          required: ['decision'],
          additionalProperties: false,
          properties: {
            decision: { type: 'string', enum: ['approve', 'reject'] },
            data: { description: "The answer to the step's form" },
            comment: { type: 'string', maxLength: 4000 },
          },
        },
        response: {
          200: { $ref: 'Approval#' },
          400: { $ref: 'Problem#' },
          403: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => decideApproval(handle, callerOf(request), request.params.id, request.body),
  );

  app.post<{ Params: { id: string }; Body: { expiresIn?: number | string } | undefined }>(
    '/api/v1/approvals/:id/links',
    {
      config: { scope: 'runs:write' },
      schema: {
        tags: ['approvals'],
        summary: 'Makes a signed one-time link that decides this approval without signing in',
        description:
          'For email and chat: `url` opens a small page with the message, the data and Approve/Reject. The link works once, until `expiresAt` (`expiresIn`: seconds or 30m, 24h, 7d; default 7 days), and only while the approval waits. Whoever holds it can decide: send it only to the approver. It is shown once; Swarm keeps only its nonce.',
        params: idParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            expiresIn: {
              anyOf: [
                { type: 'integer', minimum: 1 },
                { type: 'string', minLength: 1, maxLength: 16 },
              ],
            },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['id', 'url', 'path', 'expiresAt'],
            properties: {
              id: { type: 'string' },
              url: { type: 'string' },
              path: { type: 'string' },
              expiresAt: { type: 'string' },
            },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const given = request.body?.expiresIn;
      const seconds = given === undefined ? DEFAULT_LINK_SECONDS : parseDuration('body.expiresIn', given);
      const link = await createApprovalLink(handle, options.keyring(), caller, request.params.id, seconds);
      return reply.code(201).send({
        id: link.id,
        // SWARM_PUBLIC_URL when set; else where the caller reached this server.
        url: `${options.publicUrl ?? `${request.protocol}://${request.host}`}${link.path}`,
        path: link.path,
        expiresAt: link.expiresAt,
      });
    },
  );
}
