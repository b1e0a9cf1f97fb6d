import type { FastifyInstance } from 'fastify';
import { schemaStatus, type Store } from '../../storage/index.js';

export function healthRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/healthz',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['system'],
        summary: 'Liveness and database reachability',
        security: [],
        response: {
          200: {
            type: 'object',
            required: ['status', 'database', 'schemaVersion'],
            properties: {
              status: { type: 'string', enum: ['ok'] },
              database: { type: 'string', enum: ['sqlite', 'postgres'] },
              schemaVersion: { type: 'integer' },
            },
          },
          503: { $ref: 'Problem#' },
        },
      },
    },
    async () => {
      // Reading the schema version is the database round trip that proves it answers.
      const status = await schemaStatus(store.handle);
      return { status: 'ok', database: store.dialect.name, schemaVersion: status.currentVersion };
    },
  );
}
