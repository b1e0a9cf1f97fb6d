/** HttpAgentRuntime against a real node:http server: failures, retryability, limits, signing key. */
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { DispatchRuntime, HttpAgentRuntime, openSigningKey, SigningKey } from '../../src/runtimes/index.js';
import { expectRuntimeError, invocation, makeContext } from './helpers.js';

type Handler = (raw: Buffer, timestamp: string, res: ServerResponse) => void;

describe('HttpAgentRuntime', () => {
  const agentKeys = generateKeyPairSync('ed25519');
  const publicKey = agentKeys.publicKey
    .export({ format: 'der', type: 'spki' })
    .subarray(12)
    .toString('base64');
  const swarmKey = SigningKey.generate();
  let server: http.Server;
  let endpoint: string;
  let handler: Handler;

  const signed = (timestamp: string, body: string) =>
    sign(null, Buffer.from(`${timestamp}.${body}`), agentKeys.privateKey).toString('base64');
  const answer =
    (value: unknown, status = 200): Handler =>
    (_raw, timestamp, res) => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'x-agent-signature': signed(timestamp, body) }).end(body);
    };

  beforeEach(async () => {
    server = http.createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(Buffer.concat(chunks), String(req.headers['x-swarm-timestamp']), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const runtime = (allowPrivateNetworks = true, maxResponseBytes = 1 << 20) =>
    new HttpAgentRuntime({
      signingKey: swarmKey,
      http: { allowPrivateNetworks, maxResponseBytes, timeoutMs: 5000 },
    });
  const call = (
    input: unknown,
    more: { outputSchema?: unknown } = {},
    rt = runtime(),
    signal?: AbortSignal,
  ) =>
    rt.execute(
      invocation('x', input, {
        agent: {
          name: 'remote',
          version: '1.0.0',
          runtime: { type: 'http', endpoint, public_key: publicKey },
          ...more,
        },
      }),
      makeContext(signal === undefined ? {} : { signal }),
    );

  it('signs "<timestamp>.<body>" with Swarm\'s key and returns the signed output', async () => {
    let seen: { raw: Buffer; timestamp: string } | undefined;
    handler = (raw, timestamp, res) => {
      seen = { raw, timestamp };
      answer({ output: { ok: true } })(raw, timestamp, res);
    };
    let signature = '';
    server.prependListener('request', (req: IncomingMessage) => {
      signature = String(req.headers['x-swarm-signature']);
    });
    expect(await call({ a: 1 })).toEqual({ ok: true });
    expect(Math.abs(Number(seen!.timestamp) - Date.now() / 1000)).toBeLessThan(5);
    const payload = Buffer.from(`${seen!.timestamp}.${seen!.raw.toString()}`);
    expect(verify(null, payload, swarmKey.publicKey, Buffer.from(signature, 'base64'))).toBe(true);
    expect(JSON.parse(seen!.raw.toString())).toEqual({
      task_id: 'task-1',
      run_id: null,
      step_id: 'step',
      attempt: 1,
      input: { a: 1 },
      context: { agent: { name: 'remote', version: '1.0.0' }, idempotency_key: 'swarm-test-key' },
    });
  });

  it('refuses an answer signed over another timestamp or body', async () => {
    handler = (_raw, timestamp, res) => {
      const body = JSON.stringify({ output: 'forged' });
      res.writeHead(200, { 'x-agent-signature': signed(String(Number(timestamp) - 1), body) }).end(body);
    };
    await expectRuntimeError(call({}), 'INTERNAL', false, /result signature invalid/);
  });

  it("passes on the agent's error with its retryability", async () => {
    handler = answer({ error: 'upstream busy', retryable: true });
    await expectRuntimeError(call({}), 'INTERNAL', true, /upstream busy/);
    handler = answer({ error: 'bad request' });
    await expectRuntimeError(call({}), 'INTERNAL', false, /bad request/);
  });

  it('retries 5xx and unreachable agents, not 4xx', async () => {
    handler = answer({ output: 1 }, 503);
    await expectRuntimeError(call({}), 'SERVER_UNREACHABLE', true, /answered 503/);
    handler = answer({ output: 1 }, 404);
    await expectRuntimeError(call({}), 'INTERNAL', false, /answered 404/);
    const port = (server.address() as AddressInfo).port;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    endpoint = `http://127.0.0.1:${port}/run`;
    await expectRuntimeError(call({}), 'SERVER_UNREACHABLE', true);
    server.listen(0, '127.0.0.1'); // for afterEach
  });

  it('checks the output against output_schema (behind dispatch, as the worker runs it)', async () => {
    handler = answer({ output: { count: 'x' } });
    const schema = { type: 'object', properties: { count: { type: 'integer' } }, required: ['count'] };
    await expectRuntimeError(
      call(
        {},
        { outputSchema: schema },
        new DispatchRuntime({ http: runtime() }) as unknown as HttpAgentRuntime,
      ),
      'INTERNAL',
      false,
      /output.count: must be integer/,
    );
  });

  it('refuses private addresses unless the policy allows them, and bounds the answer', async () => {
    handler = answer({ output: 'x'.repeat(5000) });
    await expectRuntimeError(
      call({}, {}, runtime(false)),
      'FORBIDDEN',
      false,
      /refused to contact 127\.0\.0\.1/,
    );
    await expectRuntimeError(call({}, {}, runtime(true, 1000)), 'FORBIDDEN', false, /larger than/);
  });

  it('stops at once when the worker aborts', async () => {
    handler = () => {}; // never answers
    const controller = new AbortController();
    const reason = new Error('cancelled by test');
    setTimeout(() => controller.abort(reason), 100);
    await expect(call({}, {}, runtime(), controller.signal)).rejects.toBe(reason);
  });
});

describe('Swarm signing key', () => {
  it('is generated once into <home>/signing.key (0600) and read back the same', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-signing-'));
    try {
      const config = loadConfig({ SWARM_HOME: home });
      expect(config.signingKeyFile).toBe(path.join(home, 'signing.key'));
      const key = openSigningKey(config);
      expect(fs.statSync(config.signingKeyFile).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(config.signingKeyFile, 'utf8')).toContain('BEGIN PRIVATE KEY');
      expect(Buffer.from(key.publicKeyBase64(), 'base64')).toHaveLength(32);
      const again = openSigningKey({ signingKey: undefined, signingKeyFile: `${home}/./signing.key` });
      expect(again.publicKeyBase64()).toBe(key.publicKeyBase64());
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('comes from SWARM_SIGNING_KEY when set, and a bad one names the variable', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const config = loadConfig({ SWARM_HOME: '/nonexistent-swarm', SWARM_SIGNING_KEY: pem });
    const key = openSigningKey(config);
    expect(fs.existsSync('/nonexistent-swarm')).toBe(false);
    expect(key.sign('x')).toHaveLength(88);
    expect(() => loadConfig({ SWARM_SIGNING_KEY: 'nope' })).toThrow(/SWARM_SIGNING_KEY/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    });
    expect(() => loadConfig({ SWARM_SIGNING_KEY: rsa.toString() })).toThrow(/SWARM_SIGNING_KEY.*rsa|rsa/);
    expect(() => loadConfig({ SWARM_AGENT_SILENT_AFTER: '0' })).toThrow(/SWARM_AGENT_SILENT_AFTER/);
    expect(loadConfig({}).agentSilentAfterSeconds).toBe(90);
  });
});
