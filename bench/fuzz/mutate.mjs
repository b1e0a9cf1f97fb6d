// The ways a request is made wrong. Each mutation changes one aspect of a draft request (a path
// parameter, the query, one place in the body, the body's bytes, its framing, a header, the
// method, the credentials, a webhook's signature) and says what it did, for the report.
import {
  BAD_AUTH,
  BAD_UTF8,
  CONTENT_TYPES,
  GARBLED_BODIES,
  HOSTILE_KEYS,
  NUMBERS,
  RAW_NUMBERS,
  RAW_SEGMENTS,
  deepJsonText,
  hostileString,
  hostileValue,
} from './corpus.mjs';
import { locations, setAt } from './schema.mjs';

/** @typedef {import('./generate.mjs').Draft} Draft */
/** @typedef {import('./generate.mjs').Route} Route */
/** @typedef {{ route: Route, fixtures: import('./generate.mjs').Fixtures, rng: import('./rng.mjs').Rng, index: number }} Ctx */
/** @typedef {{ name: string, weight: number, applies: (d: Draft, r: Route) => boolean, apply: (d: Draft, c: Ctx) => string }} Mutation */

/**
 * Percent-encodes a path segment or query value. A lone surrogate (which encodeURIComponent
 * refuses) is sent as the three bytes a naive UTF-8 encoder writes for it (%ED%A0%80), which are
 * not valid UTF-8: exactly what a hostile client would send.
 * @param {string} text
 */
export function encodeSegment(text) {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) {
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(char);
  }
  return out;
}

/** A short, printable description of a value. @param {unknown} value */
export function preview(value) {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…(${text.length})` : text);
  return shown.slice(1, -1);
}

/** @param {Draft} draft @param {string} name */
function removeHeader(draft, name) {
  draft.headers = draft.headers.filter(([n]) => n.toLowerCase() !== name);
}

/**
 * Header values are bytes: the request head is sent as Latin-1, one byte per char. A value with
 * characters beyond that goes as its UTF-8 bytes, as a client would send it.
 * @param {string} value
 */
export function headerBytes(value) {
  return [...value].some((char) => char.charCodeAt(0) > 0xff)
    ? Buffer.from(value, 'utf8').toString('latin1')
    : value;
}

/** @param {Draft} draft @param {string} name @param {string} value */
function setHeader(draft, name, value) {
  removeHeader(draft, name);
  draft.headers.push([name, headerBytes(value)]);
}

/** The body as JSON text, with the raw splices in place. @param {Draft} draft */
export function serialize(draft) {
  let text = JSON.stringify(draft.json) ?? 'null';
  for (const [placeholder, raw] of draft.splices) text = text.replace(JSON.stringify(placeholder), () => raw);
  return text;
}

/** The indexes of the segments that hold path parameters. @param {Draft} draft @param {Route} route */
function paramSegments(draft, route) {
  const template = route.template.split('/').slice(1);
  if (template.at(-1) === '{*}')
    return draft.segments.map((_, i) => i).filter((i) => i >= template.length - 1);
  return template.map((part, i) => (part.startsWith('{') ? i : -1)).filter((i) => i >= 0);
}

let spliceCounter = 0;
/** A JSON string that `finish` replaces with raw JSON text. @param {Draft} draft @param {string} raw */
function splice(draft, raw) {
  const placeholder = `\u0001splice-${spliceCounter++}\u0001`;
  draft.splices.set(placeholder, raw);
  return placeholder;
}

/** @param {Draft} d */
const hasJson = (d) => d.json !== undefined && d.raw === null;
/** @param {Route} r */
const takesBody = (r) => r.bodySchema !== null || r.template === '/hooks/{*}';

/** @type {Mutation[]} */
export const MUTATIONS = [
  {
    name: 'path',
    weight: 14,
    applies: (d, r) => paramSegments(d, r).length > 0,
    apply(d, { route, fixtures, rng }) {
      const at = rng.pick(paramSegments(d, route));
      const kind = rng.weighted([
        [4, 'hostile'],
        [4, 'raw'],
        [1, 'empty'],
        [1, 'other'],
        [1, 'bytes'],
        [1, 'extra'],
        [1, 'long'],
      ]);
      let value;
      if (kind === 'hostile') value = encodeSegment(hostileString(rng, 10_000));
      else if (kind === 'raw') value = rng.pick(RAW_SEGMENTS);
      else if (kind === 'empty') value = '';
      else if (kind === 'other')
        value = encodeSegment(rng.pick([...Object.values(fixtures.pools).flat(), 'fuzz']));
      else if (kind === 'bytes') {
        // Raw bytes >= 0x80 in the request line (the head goes as Latin-1), not valid UTF-8.
        value = rng.pick(['\u00ff\u00fe', 'caf\u00e9', '\u00c0\u0080', '\u00ed\u00a0\u0080']);
      } else if (kind === 'extra') value = `${d.segments[at]}/${rng.pick(['x', '..', '%2e', 'x/y/z'])}`;
      else value = 'a'.repeat(rng.pick([1000, 9000, 70_000]));
      d.segments[at] = value;
      return `path[${at}] ${kind} ${preview(value)}`;
    },
  },
  {
    name: 'query',
    weight: 8,
    applies: () => true,
    apply(d, { route, rng }) {
      const declared = route.params.filter((p) => p.in === 'query').map((p) => p.name);
      const name = declared.length > 0 ? rng.pick(declared) : 'limit';
      const kind = rng.pick(['hostile', 'number', 'repeat', 'unknown', 'raw']);
      if (kind === 'hostile') d.query.set(name, encodeSegment(hostileString(rng, 20_000)));
      else if (kind === 'number')
        d.query.set(name, encodeSegment(String(rng.pick([...NUMBERS, ...RAW_NUMBERS]))));
      else if (kind === 'repeat') d.query.set(name, `1&${name}=2&${name}[]=3`);
      else if (kind === 'unknown')
        d.query.set(rng.pick(['fuzz', '__proto__', 'constructor[prototype]', '']), '1');
      else
        d.rawQuery = rng.pick([
          '%zz',
          '&&&',
          '=',
          'a[b][c]=1',
          '__proto__[x]=1',
          'a=1&'.repeat(3000),
          '%00=%00',
          `${name}`,
          `${name}=`,
          ';',
          '?',
          `${name}=%ED%A0%80`,
          `${name}=%FF`,
        ]);
      return `query ${kind} ${name}=${preview(d.rawQuery ?? d.query.get(name) ?? '')}`;
    },
  },
  {
    name: 'body-field',
    weight: 14,
    applies: hasJson,
    apply(d, { rng }) {
      const at = rng.pick(locations(d.json));
      const kind = rng.weighted([
        [6, 'replace'],
        [2, 'remove'],
        [2, 'add-key'],
        [1, 'raw-number'],
      ]);
      const where = at.join('.') || '(root)';
      if (kind === 'remove' && at.length > 0) {
        d.json = setAt(d.json, at, undefined);
        return `body ${where} removed`;
      }
      if (kind === 'add-key') {
        const key = rng.pick(HOSTILE_KEYS);
        const target = at.length === 0 ? [] : at.slice(0, -1);
        d.json = setAt(d.json, [...target, key], hostileValue(rng));
        return `body ${[...target, preview(key)].join('.')} added`;
      }
      const value = kind === 'raw-number' ? splice(d, rng.pick(RAW_NUMBERS)) : hostileValue(rng);
      d.json = setAt(d.json, at, value);
      return `body ${where} = ${kind === 'raw-number' ? d.splices.get(/** @type {string} */ (value)) : preview(value)}`;
    },
  },
  {
    name: 'body-deep',
    weight: 4,
    applies: hasJson,
    apply(d, { rng }) {
      const at = rng.pick(locations(d.json));
      const shape = rng.pick(/** @type {const} */ (['object', 'array']));
      const depth = rng.pick([64, 65, 100, 1000, 5000, 20_000, 100_000]);
      d.json = setAt(d.json, at, splice(d, deepJsonText(shape, depth)));
      return `body ${at.join('.') || '(root)'} = ${shape} ${depth} deep`;
    },
  },
  {
    name: 'body-huge',
    weight: 2,
    applies: hasJson,
    apply(d, { rng }) {
      const at = rng.pick(locations(d.json));
      const size = rng.pick([900_000, 1_100_000, 2_100_000]);
      d.json = setAt(
        d.json,
        at,
        rng.chance(0.5) ? 'x'.repeat(size) : Array.from({ length: size / 10 }, () => 1),
      );
      return `body ${at.join('.') || '(root)'} = ${size} bytes`;
    },
  },
  {
    name: 'body-bytes',
    weight: 8,
    applies: (d, r) => takesBody(r) || d.json !== undefined,
    apply(d, { rng }) {
      const text = d.raw?.toString('utf8') ?? serialize(d);
      const kind = rng.pick(['garbled', 'bad-utf8', 'truncated', 'bom']);
      if (kind === 'garbled') d.raw = Buffer.from(rng.pick(GARBLED_BODIES), 'utf8');
      else if (kind === 'bad-utf8') {
        // Inside a string when there is one: where a decoder has to make something of it.
        const quote = text.indexOf('"', rng.int(text.length));
        const at = quote < 0 ? rng.int(text.length + 1) : quote + 1;
        d.raw = Buffer.concat([
          Buffer.from(text.slice(0, at)),
          rng.pick(BAD_UTF8),
          Buffer.from(text.slice(at)),
        ]);
      } else if (kind === 'truncated') d.raw = Buffer.from(text.slice(0, rng.int(Math.max(text.length, 1))));
      else d.raw = Buffer.from(`\ufeff${text}`);
      return `body bytes ${kind} ${preview(d.raw.toString('latin1'))}`;
    },
  },
  {
    name: 'body-none',
    weight: 3,
    applies: (d) => d.json !== undefined || d.raw !== null,
    apply(d, { rng }) {
      d.json = undefined;
      d.raw = null;
      const keepType = rng.chance(0.5);
      if (!keepType) removeHeader(d, 'content-type');
      return `no body${keepType ? ' (content-type kept)' : ''}`;
    },
  },
  {
    name: 'content-type',
    weight: 6,
    applies: (d, r) => takesBody(r) || d.json !== undefined,
    apply(d, { rng }) {
      const kind = rng.pick(['other', 'none', 'twice']);
      if (kind === 'none') removeHeader(d, 'content-type');
      else if (kind === 'twice') d.headers.push(['content-type', 'text/plain']);
      else setHeader(d, 'content-type', rng.pick(CONTENT_TYPES));
      if (d.json === undefined && d.raw === null) d.json = {};
      return `content-type ${kind} ${preview(d.headers.filter(([n]) => n === 'content-type').map(([, v]) => v))}`;
    },
  },
  {
    name: 'auth',
    weight: 8,
    applies: () => true,
    apply(d, { fixtures, rng }) {
      const kind = rng.pick(['none', 'bad', 'revoked', 'suffix', 'twice', 'bytes', 'lowercase']);
      if (kind === 'none') removeHeader(d, 'authorization');
      else if (kind === 'bad') setHeader(d, 'authorization', rng.pick(BAD_AUTH));
      else if (kind === 'revoked')
        setHeader(d, 'authorization', `Bearer ${fixtures.revokedKey ?? 'swarm_revoked'}`);
      else if (kind === 'suffix') setHeader(d, 'authorization', `Bearer ${fixtures.apiKey}x`);
      else if (kind === 'twice') d.headers.push(['authorization', 'Bearer swarm_other']);
      else if (kind === 'bytes') setHeader(d, 'authorization', `Bearer swarm_\u00ff\u00fe${'A'.repeat(40)}`);
      else setHeader(d, 'authorization', `bearer ${fixtures.apiKey}`);
      return `auth ${kind}`;
    },
  },
  {
    name: 'method',
    weight: 4,
    applies: () => true,
    apply(d, { route, rng }) {
      const others = [
        'GET',
        'POST',
        'PUT',
        'PATCH',
        'DELETE',
        'HEAD',
        'OPTIONS',
        'TRACE',
        'FUZZ',
        'get',
        'PROPFIND',
      ];
      d.method = rng.pick(others.filter((m) => !route.pathMethods.includes(m)));
      return `method ${d.method}`;
    },
  },
  {
    name: 'header',
    weight: 6,
    applies: () => true,
    apply(d, { route, rng }) {
      // The route's own header parameters (Last-Event-ID) first, half the time.
      const declared = route.params.filter((p) => p.in === 'header').map((p) => p.name);
      if (declared.length > 0 && rng.chance(0.5)) {
        const name = rng.pick(declared);
        const value = rng.chance(0.5) ? hostileString(rng, 5000) : String(rng.pick(NUMBERS));
        setHeader(d, name, value.replace(/[\r\n]/g, ' '));
        return `header ${preview(name)}: ${preview(value)}`;
      }
      /** @type {[string, string][]} */
      const options = [
        ['x-fuzz', 'a'.repeat(rng.pick([8000, 17_000, 70_000]))],
        ['x-fuzz', 'caf\u00e9\u00ff'],
        ['x-fuzz', 'a\u0001b'],
        ['x-fuzz', 'a\u0000b'],
        ['x fuzz', '1'],
        ['accept', 'application/xml'],
        ['accept', 'text/event-stream'],
        ['accept-encoding', 'gzip, deflate, br'],
        ['expect', '100-continue'],
        ['content-encoding', 'gzip'],
        ['x-forwarded-for', 'not-an-ip, 999.999.999.999'],
        ['last-event-id', hostileString(rng, 5000)],
        ['idempotency-key', hostileString(rng, 5000)],
        ['webhook-id', hostileString(rng, 5000)],
        ['x-github-delivery', hostileString(rng, 5000)],
        ['user-agent', hostileString(rng, 10_000)],
      ];
      const kind = rng.int(options.length + 2);
      if (kind === options.length) {
        d.noHost = true;
        return 'header: no Host';
      }
      if (kind === options.length + 1) {
        for (let i = 0; i < 150; i++) d.headers.push([`x-fuzz-${i}`, String(i)]);
        return 'header: 150 extra';
      }
      const [name, value] = /** @type {[string, string]} */ (options[kind]);
      setHeader(d, name, value.replace(/[\r\n]/g, ' '));
      return `header ${preview(name)}: ${preview(value)}`;
    },
  },
  {
    name: 'framing',
    weight: 3,
    applies: () => true,
    apply(d, { rng }) {
      // Applied by `frame` once the body is final: a later mutation of the body keeps it framed.
      // No Content-Length shorter than the body: the rest would be read as a second request, whose
      // 400 can overtake the first one's answer. Nor longer: the server would wait for the rest.
      d.framing = rng.pick(['chunked', 'bad-chunk', 'te-and-cl', 'cl-negative', 'cl-garbage', 'cl-twice']);
      return `framing ${d.framing}`;
    },
  },
  {
    name: 'signature',
    weight: 10,
    applies: (_d, r) => r.template === '/hooks/{*}',
    apply(d, { fixtures, rng }) {
      const kind = rng.pick(['none', 'garbage', 'stale', 'future', 'far', 'wrong-secret']);
      const secret = fixtures.hook?.secret ?? 'none';
      d.sign = { secret, skew: 0 };
      if (kind === 'none' || kind === 'garbage') {
        d.sign = null;
        if (kind === 'garbage')
          setHeader(
            d,
            'x-swarm-signature',
            rng.pick([
              '',
              't=',
              'v1=abc',
              't=abc,v1=def',
              `t=1,v1=${'0'.repeat(64)}`,
              't=99999999999999999999,v1=00',
              't=-1,v1=00',
              'x'.repeat(10_000),
              `t=1${',v1=a'.repeat(1000)}`,
              `t=${'9'.repeat(400)},v1=00`,
            ]),
          );
      } else if (kind === 'stale') d.sign.skew = -3600;
      else if (kind === 'future') d.sign.skew = 3600;
      else if (kind === 'far') d.sign.skew = 1e12;
      else d.sign.secret = 'whsec_wrong';
      return `signature ${kind}`;
    },
  },
];

/**
 * The body as sent under `draft.framing`, and the framing headers it adds.
 * @param {NonNullable<Draft['framing']>} kind @param {Buffer} body
 * @returns {{ wire: Buffer, headers: [string, string][] }}
 */
export function frame(kind, body) {
  const chunked = Buffer.concat([
    Buffer.from(`${body.length.toString(16)}\r\n`),
    body,
    Buffer.from('\r\n0\r\n\r\n'),
  ]);
  if (kind === 'chunked') return { wire: chunked, headers: [['transfer-encoding', 'chunked']] };
  if (kind === 'te-and-cl')
    return {
      wire: chunked,
      headers: [
        ['transfer-encoding', 'chunked'],
        ['content-length', String(chunked.length)],
      ],
    };
  if (kind === 'bad-chunk')
    return {
      wire: Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')]),
      headers: [['transfer-encoding', 'chunked']],
    };
  const lengths = {
    'cl-negative': ['-1'],
    'cl-garbage': ['abc'],
    'cl-twice': [String(body.length), String(body.length + 1)],
  }[kind];
  return {
    wire: body,
    headers: lengths.map((length) => /** @type {[string, string]} */ (['content-length', length])),
  };
}
