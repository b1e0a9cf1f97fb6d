import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { tracingEnabled } from './sdk.js';
import { tracer } from './tracer.js';

/** Each request's span, in its context: the handler runs in it. */
const contexts = new WeakMap<FastifyRequest, Context>();

/**
 * A SERVER span per HTTP request, `<METHOD> <route pattern>` (`POST /api/v1/runs`; the bare
 * method for a request no route matched), a child of the caller's span when the request carries
 * a W3C `traceparent`. The route handler runs with the span active, so a run it starts is part
 * of the request's trace. Nothing is registered with tracing off. Register before any route and
 * before the other request hooks, so the span covers them.
 */
export function registerHttpTracing(app: FastifyInstance): void {
  if (!tracingEnabled()) return;
  app.addHook('onRoute', (route: RouteOptions) => {
    const handler = route.handler;
    route.handler = function (this: FastifyInstance, request, reply) {
      const active = contexts.get(request);
      return active === undefined
        ? handler.call(this, request, reply)
        : context.with(active, () => handler.call(this, request, reply));
    };
  });
  app.addHook('onRequest', (request, _reply, done) => {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const route = request.routeOptions.url;
    const span = tracer().startSpan(
      route === undefined ? request.method : `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?', 1)[0]!,
          ...(route === undefined ? {} : { 'http.route': route }),
        },
      },
      parent,
    );
    contexts.set(request, trace.setSpan(parent, span));
    done();
  });
  const end = (request: FastifyRequest, status: number | null) => {
    const span = trace.getSpan(contexts.get(request) ?? ROOT_CONTEXT);
    if (span === undefined) return;
    contexts.delete(request);
    if (status === null) span.setAttribute('error.type', 'aborted');
    else {
      span.setAttribute('http.response.status_code', status);
      // A server span is an error for 5xx only: a 4xx is the client's.
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    end(request, null);
    done();
  });
}
