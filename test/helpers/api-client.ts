import { expect } from 'vitest';

export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * JSON requests to a running server with a bearer key. `base` and `key` are read at each call,
 * so a test may build the client before its beforeAll has started the server. `ok` expects a 2xx
 * and says which request failed, with the answer.
 */
export function bearerClient(base: () => string, key: () => string) {
  async function api(
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    const res = await fetch(`${base()}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${key()}`,
        ...headers,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as Record<string, unknown> };
  }
  async function ok(method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await api(method, route, body);
    expect(res.status, `${method} ${route}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  }
  return { api, ok };
}
