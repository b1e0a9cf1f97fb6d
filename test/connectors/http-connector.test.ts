import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ConnectorResolver } from '../../src/connectors/index.js';
import { BuiltinRuntime, type HttpPolicy } from '../../src/runtimes/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import {
  expectRuntimeError,
  invocation,
  LOOSE_POLICY,
  makeContext,
  STRICT_POLICY,
} from '../runtimes/helpers.js';

const TOKEN = `tok-${randomBytes(8).toString('hex')}`;

let server: http.Server;
let base: string;
/** The headers of the last request, as the server got them (before any redaction). */
let seen: http.IncomingHttpHeaders = {};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen = req.headers;
    if (url.pathname === '/v1/away') {
      res
        .writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/v1/echo` })
        .end();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      // Echoes what it got, the credential included: the output must not keep it.
      .end(
        JSON.stringify({ method: req.method, path: url.pathname, query: url.search, headers: req.headers }),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Echo {
  status: number;
  body: { method: string; path: string; query: string; headers: Record<string, string> };
}

describe.each(DIALECTS)('builtin/http_request with a connector on %s', (dialect) => {
  let fx: EngineFixture;
  let secrets: SecretsService;
  let otherOwner: string;

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    const config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    secrets = new SecretsService(fx.store, openKeyring(config));
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN });
    const connectors = fx.store.as(fx.caller).connectors;
    await connectors.create({
      name: 'bearer',
      type: 'http',
      config: {
        base_url: `${base}/v1`,
        headers: { 'X-Team': 'blue' },
        auth: { type: 'bearer', secret: 'API_TOKEN' },
      },
    });
    await connectors.create({
      name: 'basic',
      type: 'http',
      config: { base_url: `${base}/v1/`, auth: { type: 'basic', username: 'ada', secret: 'API_TOKEN' } },
    });
    await connectors.create({
      name: 'key',
      type: 'http',
      config: { base_url: base, auth: { type: 'api_key', header: 'X-Api-Key', secret: 'API_TOKEN' } },
    });
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    otherOwner = other.id;
  });
  afterEach(async () => {
    await fx.close();
  });

  function send(
    input: Record<string, unknown>,
    policy: HttpPolicy = LOOSE_POLICY,
    ownerId = fx.caller.userId,
  ) {
    const runtime = new BuiltinRuntime({
      http: policy,
      connectors: new ConnectorResolver(fx.store, secrets),
    });
    const context = makeContext();
    return {
      context,
      result: runtime.execute(invocation('http_request', input, { ownerId }), context) as Promise<Echo>,
    };
  }

  it('joins a relative URL to base_url and sends its headers and bearer auth, resolved at send time, keeping the token out of the output and logs', async () => {
    const { context, result } = send({
      connector: 'bearer',
      url: 'items/7?x=1',
      headers: { 'X-Extra': 'yes' },
    });
    const output = await result;
    expect(output.status).toBe(200);
    expect(output.body.path).toBe('/v1/items/7');
    expect(output.body.query).toBe('?x=1');
    expect(output.body.headers['x-team']).toBe('blue');
    expect(output.body.headers['x-extra']).toBe('yes');
    expect(output.body.headers.authorization).toBe('Bearer [REDACTED:API_TOKEN]');
    expect(seen.authorization === `Bearer ${TOKEN}`, 'the server got the bearer token').toBe(true);
    expect(JSON.stringify(output).includes(TOKEN)).toBe(false);
    expect(JSON.stringify(context.logs).includes(TOKEN)).toBe(false);

    // A changed secret is used by the next request.
    const next = `next-${randomBytes(8).toString('hex')}`;
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: next });
    const again = await send({ connector: 'bearer', url: '/items/8' }).result;
    expect(seen.authorization === `Bearer ${next}`, 'the server got the new token').toBe(true);
    expect(again.body.headers.authorization).toBe('Bearer [REDACTED:API_TOKEN]');
    expect(JSON.stringify(again).includes(next)).toBe(false);
  });

  it('sends basic auth and an API-key header; the request cannot override the auth header', async () => {
    const basic = await send({ connector: 'basic', url: '/a', headers: { Authorization: 'Bearer mine' } })
      .result;
    expect(basic.body.path).toBe('/v1/a');
    const basicValue = `Basic ${Buffer.from(`ada:${TOKEN}`).toString('base64')}`;
    expect(seen.authorization === basicValue, 'the server got ada and the token').toBe(true);
    expect(JSON.stringify(basic).includes(Buffer.from(`ada:${TOKEN}`).toString('base64'))).toBe(false);
    const key = await send({ connector: 'key', url: `${base}/b`, method: 'POST', body: { a: 1 } }).result;
    expect(key.body).toMatchObject({ method: 'POST', path: '/b' });
    expect(seen['x-api-key'] === TOKEN, 'the server got the API key').toBe(true);
    expect(key.body.headers['x-api-key']).toBe('[REDACTED:API_TOKEN]');
  });

  it('drops the API-key header on a redirect to another origin, like Authorization', async () => {
    const output = await send({ connector: 'key', url: '/v1/away' }).result;
    expect(output.body.path).toBe('/v1/echo');
    expect(output.body.headers['x-api-key']).toBeUndefined();
  });

  it('refuses an absolute URL outside base_url, an unknown or another owner’s connector, and a private address under a strict policy', async () => {
    await expectRuntimeError(
      send({ connector: 'bearer', url: 'https://example.com/v1/x' }).result,
      'INPUT_INVALID',
      false,
      /input\.url/,
    );
    await expectRuntimeError(
      send({ connector: 'bearer', url: `${base}/v1evil` }).result,
      'INPUT_INVALID',
      false,
      /input\.url/,
    );
    await expectRuntimeError(
      send({ connector: 'nope', url: '/x' }).result,
      'NOT_FOUND',
      false,
      /no connector named "nope"/,
    );
    // The other owner has no connector "bearer": the name is looked up for the task's owner only.
    await expectRuntimeError(
      send({ connector: 'bearer', url: '/x' }, LOOSE_POLICY, otherOwner).result,
      'NOT_FOUND',
      false,
      /no connector named "bearer"/,
    );
    await expectRuntimeError(
      send({ connector: 'bearer', url: '/x' }, STRICT_POLICY).result,
      'FORBIDDEN',
      false,
      /loopback/,
    );
  });
});
