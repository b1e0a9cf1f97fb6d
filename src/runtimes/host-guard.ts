/**
 * The SSRF guard for builtin/http_request. Every hop (the first request and each redirect) is
 * checked before anything is sent: the host name is resolved once, ALL its addresses are
 * judged (one private address among public ones is enough to refuse: the resolver decides
 * which one gets used), and the connection is then pinned to exactly those addresses through
 * the request's `lookup` hook. Resolving again at connect time would open a DNS-rebinding
 * window (public at check time, 127.0.0.1 at connect time); pinning closes it.
 */
import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { refusedAddressReason } from './address-policy.js';
import { RuntimeError } from './errors.js';
import { raceAbort } from './signals.js';
import type { HttpPolicy } from './types.js';

/** `[::1]` → `::1`: WHATWG URLs keep the brackets, sockets and resolvers want none. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function isExempt(host: string, policy: HttpPolicy): boolean {
  if (policy.allowPrivateNetworks) return true;
  const wanted = host.toLowerCase();
  return (policy.allowedHosts ?? []).some((allowed) => bareHost(allowed.trim().toLowerCase()) === wanted);
}

/**
 * Checks `hostname` against the policy. Resolves to the `lookup` hook that pins the connection
 * to the checked addresses, or to undefined when the system resolver may be used (an exempt
 * host, or an IP literal, which sockets never resolve).
 */
export async function checkHost(
  hostname: string,
  policy: HttpPolicy,
  signal: AbortSignal,
): Promise<LookupFunction | undefined> {
  const addresses = await guardedAddresses(hostname, policy, signal);
  return addresses === null || isIP(bareHost(hostname)) !== 0 ? undefined : pinnedLookup(addresses);
}

/**
 * Checks `hostname` against the policy and resolves to ALL the addresses it may be reached at,
 * for a client that connects to an address itself (SMTP): null when the host is exempt and the
 * system resolver may be used.
 */
export async function guardedAddresses(
  hostname: string,
  policy: HttpPolicy,
  signal: AbortSignal,
): Promise<LookupAddress[] | null> {
  const host = bareHost(hostname);
  if (isExempt(host, policy)) return null;
  const family = isIP(host);
  if (family !== 0) {
    refuseIfPrivate(host, host);
    return [{ address: host, family }];
  }
  let addresses: LookupAddress[];
  try {
    addresses = await raceAbort(dns.lookup(host, { all: true }), signal);
  } catch (error) {
    if (signal.aborted) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw RuntimeError.unreachable(`cannot resolve host "${host}": ${code ?? (error as Error).message}`, {
      cause: error,
      context: { host, code },
    });
  }
  if (addresses.length === 0) throw RuntimeError.unreachable(`host "${host}" has no addresses`);
  for (const { address } of addresses) refuseIfPrivate(host, address);
  return addresses;
}

function refuseIfPrivate(host: string, address: string): void {
  const reason = refusedAddressReason(address);
  if (reason === null) return;
  const shown = host === address ? address : `"${host}" (${address})`;
  throw RuntimeError.forbidden(
    `refused to contact ${shown}: ${reason} address; builtins reach only public addresses unless the worker's HTTP policy allows private networks or lists the host`,
    { host, address, reason },
  );
}

/** A `lookup` for http.request that answers with the checked addresses and never asks DNS. */
function pinnedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    const usable = family === 0 ? [...addresses] : addresses.filter((a) => a.family === family);
    const first = usable[0];
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error(`no IPv${family} address for ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, '', 0);
    } else if (options.all) callback(null, usable);
    else callback(null, first.address, first.family);
  };
}
