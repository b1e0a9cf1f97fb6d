import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { RateLimitDecision, RateLimiter } from '../auth/index.js';
import { SwarmError } from '../errors/index.js';
import { sendProblem } from './problem.js';

/**
 * Every request made with an API key counts against the key's per-minute and per-hour limits
 * (src/auth/rate-limit.ts); past either it gets 429 RATE_LIMITED with `Retry-After`. Every
 * key-authenticated answer carries `RateLimit-Policy` and `RateLimit`
 * (draft-ietf-httpapi-ratelimit-headers-11). Session callers (no key) are not limited here.
 * Registered right after the authentication hook, so `request.caller` is known and a refused
 * request costs no body parsing.
 */
export function registerRateLimit(app: FastifyInstance, limiter: RateLimiter): void {
  // Not an async hook: most requests are decided from memory (takeNow), and answering those
  // without a promise per request keeps the limiter's cost on a hot GET small (bench row (h)).
  app.addHook('onRequest', (request, reply, done) => {
    const keyId = request.caller?.keyId;
    if (keyId === undefined) return done();
    const now = limiter.takeNow(keyId);
    if (now !== undefined) return apply(request, reply, now, done);
    limiter.take(keyId).then(
      (decision) => apply(request, reply, decision, done),
      (error: unknown) => done(error as Error),
    );
  });
  // After in-flight requests: reservations not used are given back before the store closes.
  app.addHook('onClose', () => limiter.close());
}

function apply(
  request: FastifyRequest,
  reply: FastifyReply,
  decision: RateLimitDecision | null,
  done: HookHandlerDoneFunction,
): void {
  if (decision === null) return done();
  reply.header('ratelimit-policy', decision.policy);
  reply.header('ratelimit', decision.remaining);
  if (decision.allowed) return done();
  reply.header('retry-after', String(decision.retryAfterSeconds));
  const { window, limit } = decision.exceeded!;
  // Answered here: the request goes no further (no body read, no handler).
  void sendProblem(
    request,
    reply,
    new SwarmError(
      'RATE_LIMITED',
      `this API key may make ${limit} requests per ${window}; try again in ${decision.retryAfterSeconds} s`,
      { context: { window, limit, retryAfterSeconds: decision.retryAfterSeconds } },
    ),
  );
}
