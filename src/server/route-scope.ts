import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { callerHas, isScope, roleAllows, type RouteScope, type Scope } from '../auth/index.js';
import { SwarmError } from '../errors/index.js';
import type { Caller } from '../storage/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What a caller needs to use this route (src/auth/scopes.ts): declared once, in the route's
     * definition; enforced by the auth hook (requireScope) and shown in the OpenAPI document.
     */
    scope?: RouteScope;
  }
}

/** The scope a route declared; undefined for a request no route matched (a 404). */
export function routeScopeOf(request: FastifyRequest): RouteScope | undefined {
  return request.routeOptions.config.scope;
}

/**
 * The caller (already authenticated) may use the route, or INSUFFICIENT_SCOPE (403) naming the
 * scope: its key lacks it, or its role never allows it (a viewer writing).
 */
export function requireScope(request: FastifyRequest): void {
  const scope = routeScopeOf(request);
  if (scope === undefined || scope === 'public' || scope === 'authenticated' || request.caller === null)
    return;
  assertCallerScope(request.caller, scope, 'this route');
}

/**
 * The caller may act with `scope`, or INSUFFICIENT_SCOPE naming it and why not. For checks
 * inside a route that serves several operations (the MCP endpoint's methods); `what` names the
 * operation in the message.
 */
export function assertCallerScope(caller: Caller, scope: Scope, what: string): void {
  if (callerHas(caller, scope)) return;
  const why = !roleAllows(caller.role, scope, caller.grants)
    ? `the ${caller.role} role does not allow it`
    : `this API key does not hold it (it holds: ${caller.scopes?.join(', ') || 'none'})`;
  throw new SwarmError('INSUFFICIENT_SCOPE', `${what} needs the scope "${scope}": ${why}`, {
    issues: [{ field: 'scope', message: `"${scope}" is required` }],
    context: { scope },
  });
}

/**
 * Query values arrive as text and the validator does not coerce them (coerceTypes: false), so a
 * query parameter typed `integer` or `boolean` would refuse every value sent: each must be a
 * string (with a pattern), converted by the handler. Checked when the route is defined.
 */
function assertStringQuery(name: string, querystring: unknown): void {
  const properties = (querystring as { properties?: Record<string, { type?: unknown }> } | undefined)
    ?.properties;
  for (const [key, property] of Object.entries(properties ?? {}))
    if (property.type !== undefined && property.type !== 'string')
      throw new Error(
        `route ${name}: query parameter "${key}" is typed ${JSON.stringify(property.type)}; query values are text (no coercion): type it as a string with a pattern`,
      );
}

/** Routes registered by file-serving plugins, which cannot declare a scope themselves. */
const PUBLIC_FILE_PREFIXES = ['/assets/', '/docs'];

/** How a scope reads in a route's OpenAPI description. */
function scopeLine(scope: RouteScope): string {
  if (scope === 'public') return 'Scope: none (public, no credentials).';
  if (scope === 'authenticated') return 'Scope: any valid credentials.';
  return `Scope: \`${scope}\`.`;
}

/**
 * Every route must declare its scope (`config: { scope }`): one without fails at startup, so no
 * route is reachable with whatever a key happens to hold. The scope is also written into the
 * route's OpenAPI operation: `security` (bearer with the scope, or none when public), the
 * `x-swarm-scope` extension, and a line of its description. Register before any route.
 */
export function registerRouteScopes(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    // Files of the dashboard and the API reference, served by their plugins' own routes: public
    // by nature (the page, its scripts, the OpenAPI viewer), like GET /.
    if (route.config?.scope === undefined && PUBLIC_FILE_PREFIXES.some((p) => route.url.startsWith(p)))
      route.config = { ...route.config, scope: 'public' };
    const scope = route.config?.scope;
    const name = `${String(route.method)} ${route.url}`;
    if (scope === undefined)
      throw new Error(
        `route ${name} declares no scope: add config: { scope } to its definition (a scope from src/auth/scopes.ts, 'public' or 'authenticated')`,
      );
    if (scope !== 'public' && scope !== 'authenticated' && !isScope(scope))
      throw new Error(`route ${name} declares an unknown scope "${String(scope)}" (see src/auth/scopes.ts)`);
    const schema = route.schema ?? {};
    assertStringQuery(name, (schema as { querystring?: unknown }).querystring);
    const description = (schema as { description?: string }).description;
    // A copy: a schema object may be shared between routes, each with its own scope.
    route.schema = {
      ...schema,
      security: scope === 'public' ? [] : [{ bearer: scope === 'authenticated' ? [] : [scope] }],
      'x-swarm-scope': scope,
      description: description === undefined ? scopeLine(scope) : `${description}\n\n${scopeLine(scope)}`,
    } as typeof schema;
  });
}
