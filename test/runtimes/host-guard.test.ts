import { promises as dns, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkHost } from '../../src/runtimes/host-guard.js';
import { RuntimeError } from '../../src/runtimes/index.js';
import { STRICT_POLICY } from './helpers.js';

// DNS is stubbed: these names never reach a resolver, and nothing here opens a connection.
function resolveTo(addresses: LookupAddress[]) {
  return vi.spyOn(dns, 'lookup').mockImplementation((async () => addresses) as unknown as typeof dns.lookup);
}

function ask(lookup: LookupFunction, options: { all?: boolean; family?: number }) {
  return new Promise<unknown[]>((resolve) =>
    lookup('example.test', options, (...args: unknown[]) => resolve(args)),
  );
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the host guard', () => {
  const signal = new AbortController().signal;

  it('pins the connection to the addresses it checked: the socket never asks DNS again', async () => {
    const spy = resolveTo([
      { address: '203.0.113.7', family: 4 },
      { address: '2001:db8::7', family: 6 },
    ]);
    const lookup = (await checkHost('example.test', STRICT_POLICY, signal))!;
    expect(lookup).toBeTypeOf('function');
    expect(spy).toHaveBeenCalledTimes(1);
    // A rebinding resolver would now answer 127.0.0.1; the pinned lookup does not ask it.
    resolveTo([{ address: '127.0.0.1', family: 4 }]);
    expect(await ask(lookup, { all: true })).toEqual([
      null,
      [
        { address: '203.0.113.7', family: 4 },
        { address: '2001:db8::7', family: 6 },
      ],
    ]);
    expect(await ask(lookup, { family: 6 })).toEqual([null, '2001:db8::7', 6]);
    expect(await ask(lookup, {})).toEqual([null, '203.0.113.7', 4]);
  });

  it('refuses a name when any one of its addresses is private', async () => {
    resolveTo([
      { address: '203.0.113.7', family: 4 },
      { address: '10.1.2.3', family: 4 },
    ]);
    const error = await checkHost('example.test', STRICT_POLICY, signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('FORBIDDEN');
    expect((error as RuntimeError).message).toContain('"example.test" (10.1.2.3): private');
  });

  it('reports a name that does not resolve as retryable', async () => {
    vi.spyOn(dns, 'lookup').mockRejectedValue(Object.assign(new Error('nope'), { code: 'EAI_AGAIN' }));
    const error = (await checkHost('example.test', STRICT_POLICY, signal).catch(
      (e: unknown) => e,
    )) as RuntimeError;
    expect(error.code).toBe('SERVER_UNREACHABLE');
    expect(error.retryable).toBe(true);
  });

  it('skips the check (and DNS) for exempt hosts, case-insensitively', async () => {
    const spy = resolveTo([]);
    const policy = { ...STRICT_POLICY, allowedHosts: ['Internal.Example.TEST', '[::1]'] };
    expect(await checkHost('internal.example.test', policy, signal)).toBeUndefined();
    expect(await checkHost('[::1]', policy, signal)).toBeUndefined();
    expect(
      await checkHost('anything.test', { ...STRICT_POLICY, allowPrivateNetworks: true }, signal),
    ).toBeUndefined();
    expect(spy).not.toHaveBeenCalled();
  });
});
