import type { Caller, Role } from '../storage/index.js';

/**
 * Every scope a route can require. A key carries a list of them (or `*`); a request is allowed
 * when its key holds the route's scope and the caller's role permits it (roleAllows). Sessions
 * (the dashboard's cookie) act with every scope their user's role permits.
 */
export const SCOPES = [
  'agents:read',
  'agents:write',
  'agents:publish',
  'workflows:read',
  'workflows:write',
  'runs:read',
  'runs:write',
  'tasks:read',
  'tasks:write',
  'secrets:read',
  'secrets:write',
  'triggers:read',
  'triggers:write',
  'events:read',
  'events:write',
  'webhooks:read',
  'webhooks:write',
  'providers:read',
  'providers:write',
  'mcp:read',
  'mcp:write',
  'alerts:read',
  'alerts:write',
  'connectors:read',
  'connectors:write',
  'keys:read',
  'keys:write',
  'audit:read',
  'users:admin',
  'metrics:read',
  '*',
] as const;

export type Scope = (typeof SCOPES)[number];

/**
 * What a route declares: a scope, or `public` (no credentials: the OpenAPI document, the signing
 * key, health, login), or `authenticated` (any valid caller, whatever its scopes: who am I).
 */
export type RouteScope = Scope | 'public' | 'authenticated';

/** Scopes `*` does not imply: each must be named on the key, and the role must allow it. */
const EXPLICIT_ONLY: ReadonlySet<Scope> = new Set(['agents:publish']);

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/**
 * Whether a role may ever act with a scope, whatever its key says:
 * - admin: everything;
 * - member: everything on its own resources except managing users and reading the
 *   process-wide Prometheus metrics (`metrics:read`), and publishing code
 *   (`agents:publish`) only when an admin granted it (`grants`);
 * - viewer: reading its own resources only.
 */
export function roleAllows(role: Role, scope: Scope, grants: readonly string[] = []): boolean {
  if (role === 'admin') return true;
  if (scope === '*') return false;
  if (scope === 'users:admin') return false;
  // The Prometheus figures span every owner (queue depth, runs by status): admins only.
  if (scope === 'metrics:read') return false;
  if (scope === 'agents:publish') return role === 'member' && grants.includes('agents:publish');
  if (role === 'viewer') return scope.endsWith(':read');
  return true;
}

/** Whether a key's scope list covers one scope (`*` covers all but the explicit-only ones). */
export function keyCovers(keyScopes: readonly string[], scope: Scope): boolean {
  if (keyScopes.includes(scope)) return true;
  return keyScopes.includes('*') && !EXPLICIT_ONLY.has(scope);
}

/**
 * Whether the caller may act with `scope`: its role permits it, and its key (if any) holds it.
 * An admin's `*` key covers everything, publishing code included (admins have that right by
 * role); a member's `*` does not, so a leaked everyday key cannot publish code.
 */
export function callerHas(caller: Caller, scope: Scope): boolean {
  if (!roleAllows(caller.role, scope, caller.grants)) return false;
  if (caller.scopes === undefined) return true;
  if (caller.role === 'admin' && caller.scopes.includes('*')) return true;
  return keyCovers(caller.scopes, scope);
}
