import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { findBlob, mayReadBlob, readBlob } from '../../blobs/index.js';
import { NotFoundError, SwarmError } from '../../errors/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

/**
 * A large stored value, whole (docs/payloads.md): where a view shows `{"$blob": "sha256:…",
 * "size": N, "url": …}` instead of the value, its URL is this. Only an owner one of whose rows
 * references the blob may read it; for anyone else it does not exist (404), whoever else stored
 * the same bytes.
 */
export function blobRoutes(app: FastifyInstance, store: Store): void {
  app.get<{ Params: { sha256: string } }>(
    '/api/v1/blobs/:sha256',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: 'A large input, output or event payload, as the JSON it is',
        description:
          'Values over SWARM_PAYLOAD_INLINE_MAX are stored once by their SHA-256; views of them carry `{"$blob": "sha256:<hex>", "size": N, "url"}` when they are too large to inline. The body is the JSON value itself, streamed.',
        params: {
          type: 'object',
          required: ['sha256'],
          properties: { sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        },
        response: {
          200: { description: 'The JSON value, streamed (application/json)' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { sha256 } = request.params;
      const db = store.handle.db;
      if (!(await mayReadBlob(db, callerOf(request).userId, sha256))) throw new NotFoundError('blob', sha256);
      const found = await findBlob(db, sha256);
      if (found === null)
        throw new SwarmError('BLOB_MISSING', `blob sha256:${sha256} is referenced but not stored`, {
          context: { sha256 },
        });
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .header('content-length', String(found.size))
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'private, max-age=31536000, immutable')
        .send(Readable.from(readBlob(db, sha256)));
    },
  );
}
