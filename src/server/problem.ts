import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, SwarmError, type FieldIssue } from '../errors/index.js';

/** RFC 9457 problem details, with Swarm's stable `code` and per-field `errors`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: FieldIssue[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: Object.keys(ERROR_CODES) },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;

export function problemFromSwarmError(error: SwarmError, instance?: string): Problem {
  return {
    type: `urn:swarm:problem:${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_CODES[error.code].title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(instance === undefined ? {} : { instance }),
    ...(error.issues.length > 0 ? { errors: [...error.issues] } : {}),
  };
}

/** Fastify's schema validation errors name the field: `body.name: must be string`. */
function fromValidation(error: FastifyError): SwarmError {
  const context = error.validationContext ?? 'request';
  const issues = (error.validation ?? []).map((v) => {
    const params = v.params as { missingProperty?: string; additionalProperty?: string } | undefined;
    const pointer = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
    const extra = params?.additionalProperty;
    const field = [context, pointer, params?.missingProperty ?? extra]
      .filter((p) => p !== undefined && p !== '')
      .join('.');
    return {
      field,
      message: extra === undefined ? (v.message ?? 'is invalid') : 'is not an allowed property',
    };
  });
  const first = issues[0];
  return new SwarmError('INPUT_INVALID', first ? `${first.field}: ${first.message}` : error.message, {
    issues,
  });
}

export function toSwarmError(error: unknown): SwarmError {
  if (error instanceof SwarmError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) return fromValidation(fastifyError);
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors: malformed JSON, body too large, unsupported media type.
    const code = status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHENTICATED' : 'INPUT_INVALID';
    return new SwarmError(code, fastifyError.message, { status });
  }
  return new SwarmError('INTERNAL', 'internal error', { cause: error });
}

export async function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
): Promise<void> {
  const swarmError = toSwarmError(error);
  if (swarmError.status >= 500) request.log.error({ err: error }, 'request failed');
  await reply
    .code(swarmError.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemFromSwarmError(swarmError, request.url.split('?')[0]));
}
