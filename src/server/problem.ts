import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, SwarmError, type FieldIssue } from '../errors/index.js';
import { isDatabaseUnavailable } from '../storage/index.js';

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

/** Clearer words for Fastify's own client errors, by code: the field and what is wrong with it. */
const FASTIFY_MESSAGES: Record<string, (request: FastifyRequest | undefined) => [string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (request) => [
    'body',
    `is larger than ${request?.routeOptions.bodyLimit ?? 'the'} bytes this route accepts (${
      request?.routeOptions.config.bodyLimitSetting ?? 'SWARM_BODY_LIMIT'
    })`,
  ],
  FST_ERR_CTP_INVALID_JSON_BODY: () => ['body', 'is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: () => ['body', 'is empty, but the content type says JSON'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => ['headers.content-length', 'does not match the body sent'],
  FST_ERR_BAD_URL: () => ['url', 'is not a valid URL path (bad percent-encoding, or not UTF-8)'],
  FST_ERR_MAX_PARAM_LENGTH: () => ['url', 'has a path parameter that is too long'],
};

/**
 * Any error as the SwarmError to answer with. Fastify's own client errors (validation, body too
 * large, unsupported media type, malformed JSON, a bad URL) and any other error that carries a
 * 4xx status become that 4xx; everything else is a defect and becomes INTERNAL (500).
 */
export function toSwarmError(error: unknown, request?: FastifyRequest): SwarmError {
  if (error instanceof SwarmError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) return fromValidation(fastifyError);
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const describe = FASTIFY_MESSAGES[fastifyError.code];
    if (describe !== undefined) {
      const [field, message] = describe(request);
      return new SwarmError('INPUT_INVALID', `${field}: ${message}`, {
        status,
        issues: [{ field, message }],
        cause: error,
      });
    }
    const code =
      status === 404
        ? 'NOT_FOUND'
        : status === 401
          ? 'UNAUTHENTICATED'
          : status === 403
            ? 'FORBIDDEN'
            : status === 429
              ? 'RATE_LIMITED'
              : 'INPUT_INVALID';
    return new SwarmError(code, fastifyError.message, { status, cause: error });
  }
  // The database went away (a restart, a failover): the request may be sent again, not a defect.
  if (isDatabaseUnavailable(error))
    return new SwarmError('DB_UNREACHABLE', 'the database is unavailable; try again shortly', {
      cause: error,
    });
  return new SwarmError('INTERNAL', 'internal error', { cause: error });
}

export async function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
): Promise<void> {
  const swarmError = toSwarmError(error, request);
  if (swarmError.status >= 500) request.log.error({ err: error }, 'request failed');
  // RFC 9110: a 401 names the scheme that would do; MCP clients read it to know how to sign in.
  if (swarmError.status === 401) reply.header('www-authenticate', 'Bearer realm="swarm"');
  await reply
    .code(swarmError.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(problemFromSwarmError(swarmError, request.url.split('?')[0]));
}
