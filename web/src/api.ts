/**
 * The dashboard's only way to the server: the public HTTP API under /api/v1, signed in by the
 * session cookie. Changes carry the session's CSRF token; errors come back as problem+json.
 */

export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly title?: string;
  readonly detail?: string;
  readonly errors?: { field: string; message: string }[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
    this.name = 'ApiError';
  }
  get status(): number {
    return this.problem.status;
  }
}

let csrfToken: string | null = null;
/** Called with 401 so the app can show the sign-in page again. */
let onSignedOut: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function onUnauthenticated(handler: () => void): void {
  onSignedOut = handler;
}

/** `extra`: the few headers a change adds (If-None-Match: * to create without replacing). */
export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  extra: Record<string, string> = {},
): Promise<T> {
  const headers: Record<string, string> = { ...extra, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const data: unknown = text === '' ? null : JSON.parse(text);
  if (!response.ok) {
    const problem = (data ?? { status: response.status, code: 'HTTP' }) as Problem;
    if (response.status === 401 && !path.startsWith('/auth/login')) onSignedOut?.();
    throw new ApiError({ ...problem, status: response.status });
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>('GET', path);

/** A query string from the defined values of `params`. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
