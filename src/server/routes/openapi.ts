import type { FastifyInstance } from 'fastify';

export function openApiRoutes(app: FastifyInstance): void {
  app.get(
    '/api/v1/openapi.json',
    {
      config: { scope: 'public' },
      schema: { hide: true },
    },
    async () => app.swagger(),
  );
}
