import type { FastifyInstance } from 'fastify';
import { SwarmError } from '../../errors/index.js';
import { recordHeartbeat } from '../../routing/index.js';
import type { SigningKey } from '../../runtimes/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

/**
 * What remote (http) agents talk to: Swarm's public signing key (public, like /healthz: an agent
 * needs it before anything else) and heartbeats.
 */
export function remoteAgentRoutes(app: FastifyInstance, store: Store, signingKey: SigningKey | null): void {
  app.get(
    '/api/v1/signing-key',
    {
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
}
