import type { FastifyInstance } from 'fastify';
import { instruments } from '../metrics/index.js';

/** The route pattern of a request no route matched: one label value for every 404, not the URL. */
const UNMATCHED = 'unmatched';

/**
 * Counts every answered request by method, route pattern (`/api/v1/runs/:id`, never the raw
 * URL, so ids do not become label values) and status, and observes its duration — in memory,
 * in `onResponse`, after the answer went out. Requests to webhook triggers (`/hooks/…`) are
 * also counted as webhook receipts by status.
 */
export function registerRequestMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED;
    const method = request.method;
    const status = String(reply.statusCode);
    instruments.httpRequests.inc({ method, route, status });
    instruments.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
    if (route.startsWith('/hooks/')) instruments.webhookReceipts.inc({ status });
    done();
  });
}
