import type { FastifyInstance } from 'fastify';
import { DELIVERY_ID_HEADERS, receiveWebhook } from '../../triggers/index.js';
import type { RouteDeps } from './deps.js';

/** What a delivery is answered with. */
const receiptSchema = {
  type: 'object',
  required: ['runId', 'duplicate'],
  properties: {
    runId: { type: ['string', 'null'] },
    duplicate: { type: 'boolean', description: 'True for a resend: nothing new was started' },
    status: {
      type: 'string',
      enum: ['started', 'debounced', 'throttled'],
      description:
        "`started`: a run (runId); `debounced`: a run starts once the trigger's quiet period passes; `throttled`: dropped, over the trigger's limit (docs/run-concurrency.md)",
    },
  },
} as const;

/**
 * `POST /hooks/<path>`: incoming webhook triggers (src/triggers/webhook.ts says what is checked
 * and answered). Outside /api/v1, so no API key: the signature is the authentication.
 */
export function hookRoutes(app: FastifyInstance, deps: RouteDeps): void {
  // Its own plugin context: the signature is over the bytes as sent, so this route (and only
  // this one) takes every body raw, up to its own limit, instead of the app's JSON/YAML parsers.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: deps.webhookBodyLimit },
      (_request, body, done) => done(null, body),
    );

    scope.post<{ Params: { '*': string } }>(
      '/hooks/*',
      {
        bodyLimit: deps.webhookBodyLimit,
        config: { scope: 'public', bodyLimitSetting: 'SWARM_WEBHOOK_BODY_LIMIT' },
        schema: {
          tags: ['triggers'],
          summary: 'Deliver a webhook: starts the workflow of the trigger at this path',
          description: [
            'Signed with `X-Swarm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`',
            '(several `v1=` during a secret rotation; `t` within 5 minutes). The body — `application/json`',
            '(or `+json`), `application/x-www-form-urlencoded` or `text/plain` (as `{text}`) — becomes the',
            `run's trigger data. A delivery id (${DELIVERY_ID_HEADERS.join(', ')}; the first present)`,
            'makes resends start nothing: they get 200 with the first run. No API key: the signature is',
            'the authentication.',
          ].join(' '),
          security: [],
          params: {
            type: 'object',
            required: ['*'],
            properties: { '*': { type: 'string', description: "The trigger's path" } },
          },
          response: {
            200: { description: 'A resend of a delivery already received: its run', ...receiptSchema },
            202: { description: 'Received and recorded: the run it started', ...receiptSchema },
            400: { $ref: 'Problem#' },
            401: { $ref: 'Problem#' },
            404: { $ref: 'Problem#' },
            409: { $ref: 'Problem#' },
            413: { $ref: 'Problem#' },
            415: { $ref: 'Problem#' },
          },
        },
      },
      async (request, reply) => {
        const userAgent = request.headers['user-agent'];
        const receipt = await receiveWebhook(
          {
            store: deps.store,
            engine: deps.engine,
            keyring: deps.keyring(),
            failures: deps.failures,
            maxBodyDepth: deps.bodyMaxDepth,
          },
          {
            path: request.params['*'],
            rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
            contentType: request.headers['content-type'],
            headers: request.headers,
            ip: request.ip,
            ...(userAgent === undefined ? {} : { userAgent }),
          },
        );
        if (!receipt.duplicate) deps.onRunStarted();
        return reply.code(receipt.duplicate ? 200 : 202).send(receipt);
      },
    );
  });
}
