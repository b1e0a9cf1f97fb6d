import { SwarmError, type FieldIssue } from '../errors/index.js';
import type { Caller } from '../storage/index.js';
import { callerHas, isScope } from './scopes.js';

/** What a new key asks for (the body of POST /api/v1/keys). */
export interface KeyRequest {
  readonly scopes?: readonly string[];
  readonly expiresAt?: string;
  readonly rateLimitPerMinute?: number;
  readonly rateLimitPerHour?: number;
}

/** A key's limits when nobody says otherwise: seed 001's column defaults. */
export const DEFAULT_KEY_RATE_LIMITS = { rateLimitPerMinute: 60, rateLimitPerHour: 1000 } as const;

/** The key the caller is using, if it uses one (a session does not). */
export interface OwnKey {
  readonly scopes: readonly string[];
  readonly expiresAt: string | null;
  readonly rateLimitPerMinute: number;
  readonly rateLimitPerHour: number;
}

export interface KeyGrant {
  readonly scopes: string[];
  readonly expiresAt?: string;
  readonly rateLimitPerMinute: number;
  readonly rateLimitPerHour: number;
}

/**
 * What a new key may hold: never more than the key that makes it, so a leaked narrow key cannot
 * be turned into a wide one.
 *
 * - Scopes default to the caller's key's own (`*` for a session). Unknown names are 400, each
 *   named `body.scopes[i]`. Each scope must be one the caller may use now (`callerHas`: its role
 *   allows it and its key holds it; `agents:publish` only when held explicitly); `*` only when
 *   the caller's key holds `*` (a `*` key still acts only within its owner's role).
 * - Expiry defaults to the caller's key's; a later one (or none, when the caller's key expires)
 *   is 403; one already past is 400.
 * - Rate limits default to the caller's key's (a session's: seed 001's 60/min, 1000/h); higher
 *   ones are 403 unless the caller is an admin, who sets any (owner quotas are an admin's call).
 */
export function grantFor(
  caller: Caller,
  ownKey: OwnKey | null,
  request: KeyRequest,
  now = Date.now(),
): KeyGrant {
  const scopes = [...new Set(request.scopes ?? ownKey?.scopes ?? ['*'])];
  const unknown: FieldIssue[] = [];
  const denied: FieldIssue[] = [];
  scopes.forEach((scope, index) => {
    const field = `body.scopes[${index}]`;
    if (!isScope(scope)) unknown.push({ field, message: `"${scope}" is not a scope (see docs/security.md)` });
    else if (scope === '*' ? !(ownKey === null || ownKey.scopes.includes('*')) : !callerHas(caller, scope))
      denied.push({ field, message: `"${scope}" is more than the key making it may grant` });
  });
  if (unknown.length > 0) throw issuesError('INPUT_INVALID', unknown);
  if (denied.length > 0) throw issuesError('FORBIDDEN', denied);

  const limits = rateLimitsFor(caller, ownKey, request);
  const own = ownKey?.expiresAt ?? null;
  if (request.expiresAt === undefined)
    return { scopes, ...limits, ...(own === null ? {} : { expiresAt: own }) };
  const expiresAt = new Date(request.expiresAt).toISOString();
  if (Date.parse(expiresAt) <= now)
    throw issuesError('INPUT_INVALID', [{ field: 'body.expiresAt', message: 'is already past' }]);
  if (own !== null && Date.parse(expiresAt) > Date.parse(own))
    throw issuesError('FORBIDDEN', [
      { field: 'body.expiresAt', message: `is later than the key making it expires (${own})` },
    ]);
  return { scopes, ...limits, expiresAt };
}

function rateLimitsFor(
  caller: Caller,
  ownKey: OwnKey | null,
  request: KeyRequest,
): Pick<KeyGrant, 'rateLimitPerMinute' | 'rateLimitPerHour'> {
  const ceiling = ownKey ?? DEFAULT_KEY_RATE_LIMITS;
  const denied: FieldIssue[] = [];
  const pick = (name: 'rateLimitPerMinute' | 'rateLimitPerHour'): number => {
    const asked = request[name];
    if (asked === undefined) return ceiling[name];
    if (asked > ceiling[name] && caller.role !== 'admin')
      denied.push({
        field: `body.${name}`,
        message: `${asked} is more than the key making it allows (${ceiling[name]}); an admin can raise it`,
      });
    return asked;
  };
  const limits = {
    rateLimitPerMinute: pick('rateLimitPerMinute'),
    rateLimitPerHour: pick('rateLimitPerHour'),
  };
  if (denied.length > 0) throw issuesError('FORBIDDEN', denied);
  return limits;
}

function issuesError(code: 'INPUT_INVALID' | 'FORBIDDEN', issues: FieldIssue[]): SwarmError {
  const first = issues[0]!;
  return new SwarmError(code, `${first.field}: ${first.message}`, { issues });
}
