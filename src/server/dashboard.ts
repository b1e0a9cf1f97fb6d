import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * Where `npm run build` puts the dashboard (web/, built by Vite): dist/web under the package,
 * reached the same way from src/server (tests) and dist/server (the built CLI).
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/**
 * The dashboard at `/`: its page and its hashed assets, from the same origin as the API. Its
 * views are hash routes (`/#/runs/…`), so the server knows no dashboard paths but these. When
 * the dashboard was not built, `/` says how to build it instead of a bare 404.
 */
export async function registerDashboard(app: FastifyInstance, folder = DASHBOARD_DIR): Promise<void> {
  const dir = folder.endsWith('/') ? folder : `${folder}/`;
  const built = fs.existsSync(`${dir}index.html`);
  if (built) {
    await app.register(fastifyStatic, {
      root: `${dir}assets`,
      prefix: '/assets/',
      // Names carry a content hash: a file never changes under its name.
      cacheControl: false,
      setHeaders: (res) => res.setHeader('cache-control', 'public, max-age=31536000, immutable'),
      index: false,
      list: false,
    });
  }
  app.get('/', { config: { scope: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    if (!built)
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build` (npm install does it), then restart Swarm.\n');
    return reply
      .type('text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      )
      .header('x-frame-options', 'DENY')
      .sendFile('index.html', dir);
  });
}
