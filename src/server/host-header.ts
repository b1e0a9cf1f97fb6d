import type { FastifyInstance } from 'fastify';
import { InputError } from '../errors/index.js';

/**
 * HTTP/1.1 requires a Host header (RFC 9112 §3.2). Node answers a request without one itself,
 * with an empty 400 that is not problem+json; the server turns Node's check off
 * (`requireHostHeader: false`, below) and makes it here instead, answering like everywhere else.
 */
export const HTTP_SERVER_OPTIONS = { requireHostHeader: false } as const;

export function registerHostCheck(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const { httpVersionMajor, httpVersionMinor } = request.raw;
    const http11 = httpVersionMajor > 1 || (httpVersionMajor === 1 && httpVersionMinor >= 1);
    if (http11 && request.headers.host === undefined)
      throw new InputError('headers.host', 'is required in HTTP/1.1 (RFC 9112)');
  });
}
