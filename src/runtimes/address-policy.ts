/**
 * Which IP addresses an agent's HTTP request may not reach (SSRF): the worker's own machine,
 * the private network it sits in, and cloud metadata endpoints. Written out by hand (not
 * net.BlockList) so every IPv6 form that embeds an IPv4 address is unwrapped and judged by
 * the IPv4 rules: ::ffff:127.0.0.1, ::127.0.0.1, 64:ff9b::a00:1 (NAT64), 2002:7f00:1:: (6to4).
 */
import { isIP } from 'node:net';

interface Range {
  readonly prefix: readonly number[];
  readonly bits: number;
  readonly label: string;
}

const v4 = (cidr: string, label: string): Range => {
  const [address = '', bits = '32'] = cidr.split('/');
  return { prefix: address.split('.').map(Number), bits: Number(bits), label };
};

const IPV4_REFUSED: readonly Range[] = [
  v4('0.0.0.0/8', 'unspecified'),
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'shared address space (CGNAT)'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local (cloud metadata)'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'IETF protocol assignments'),
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'benchmarking'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved (incl. broadcast)'),
];

const v6 = (prefix: number[], bits: number, label: string): Range => ({ prefix, bits, label });

// Prefixes as bytes. Ranges that embed an IPv4 address are handled in classifyIpv6 first.
const IPV6_REFUSED: readonly Range[] = [
  v6([0xfc], 7, 'private (unique local)'),
  v6([0xfe, 0x80], 10, 'link-local'),
  v6([0xfe, 0xc0], 10, 'site-local'),
  v6([0xff], 8, 'multicast'),
  v6([0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'discard-only'),
  v6([0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'private (local-use NAT64)'),
  // Teredo hides the client's IPv4 address (obfuscated); no legitimate endpoint lives here.
  v6([0x20, 0x01, 0x00, 0x00], 32, 'Teredo tunnel'),
];

function matches(bytes: readonly number[], range: Range): boolean {
  for (let bit = 0; bit < range.bits; bit += 8) {
    const left = Math.min(8, range.bits - bit);
    const mask = (0xff << (8 - left)) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((range.prefix[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

/** 16 bytes, or null. Accepts `::`, a dotted IPv4 tail and a `%zone`. */
function parseIpv6(text: string): number[] | null {
  const address = text.split('%')[0] ?? '';
  let groups: string[];
  // isIP has already accepted the text, so this only needs to be right on valid addresses.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  let body = address;
  const tailBytes: number[] = [];
  if (tail !== null) {
    const parsed = parseIpv4(tail[1]!);
    if (parsed === null) return null;
    tailBytes.push(...parsed);
    body = address.slice(0, -tail[1]!.length);
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const wanted = 8 - tailBytes.length / 2;
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  if (halves.length === 2) {
    const rest = halves[1] === '' ? [] : (halves[1] ?? '').split(':');
    const missing = wanted - head.length - rest.length;
    // `::` stands for at least one group of zeros.
    if (missing < 1) return null;
    groups = [...head, ...Array<string>(missing).fill('0'), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== wanted || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const bytes = groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  return [...bytes, ...tailBytes];
}

function classifyIpv4(bytes: readonly number[]): string | null {
  return IPV4_REFUSED.find((range) => matches(bytes, range))?.label ?? null;
}

function classifyIpv6(bytes: readonly number[]): string | null {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const embedded = (at: number, form: string): string | null => {
    const label = classifyIpv4(bytes.slice(at, at + 4));
    return label === null ? null : `${label}, as ${form}`;
  };
  if (zeros(0, 15)) return bytes[15] === 1 ? 'loopback' : bytes[15] === 0 ? 'unspecified' : 'reserved';
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return embedded(12, 'IPv4-mapped IPv6');
  if (zeros(0, 12)) return embedded(12, 'IPv4-compatible IPv6');
  if (matches(bytes, v6([0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96, '')))
    return embedded(12, 'NAT64 IPv6');
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return embedded(2, '6to4 IPv6');
  return IPV6_REFUSED.find((range) => matches(bytes, range))?.label ?? null;
}

/**
 * Why `address` may not be contacted ('loopback', 'private', 'link-local (cloud metadata)'…),
 * or null for an ordinary public address. Anything that is not an IP address is refused.
 */
export function refusedAddressReason(address: string): string | null {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(text.split('%')[0] ?? '');
  if (family === 4) return classifyIpv4(parseIpv4(text)!);
  if (family === 6) {
    const bytes = parseIpv6(text);
    return bytes === null ? 'not an IP address' : classifyIpv6(bytes);
  }
  return 'not an IP address';
}
