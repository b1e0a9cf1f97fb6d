import { promises as dns } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as AddressPolicy from '../../src/runtimes/address-policy.js';
import { invocation, makeContext, runtime, STRICT_POLICY } from './helpers.js';

// Treat 127.0.0.2 as if it were a public address, so the guard lets it through and the
// connection goes via the pinned lookup; every other loopback address stays refused.
vi.mock('../../src/runtimes/address-policy.js', async (importOriginal) => {
  const original = await importOriginal<typeof AddressPolicy>();
  return {
    refusedAddressReason: (address: string) =>
      address === '127.0.0.2' ? null : original.refusedAddressReason(address),
  };
});

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/plain' }).end('pinned'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('the request connects to the address the guard checked', () => {
  it('uses the checked address, not a second resolution of the name', async () => {
    // The guard's resolution says 127.0.0.2 (where the server is); the system resolver would
    // say 127.0.0.1 (where nothing listens). A 200 means the socket used the checked answer.
    const spy = vi
      .spyOn(dns, 'lookup')
      .mockImplementation((async () => [
        { address: '127.0.0.2', family: 4 },
      ]) as unknown as typeof dns.lookup);
    const output = await runtime(STRICT_POLICY).execute(
      invocation('http_request', { url: `http://localhost:${port}/` }),
      makeContext(),
    );
    expect(output).toMatchObject({ status: 200, body: 'pinned' });
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });
});
