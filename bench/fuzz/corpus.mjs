// What a hostile client sends: strings, numbers, JSON shapes, path segments, header values.
// Nothing here is an address other than 127.0.0.1 (the server may try to reach URLs it is given).

/** @typedef {import('./rng.mjs').Rng} Rng */

/** A URL that goes nowhere: the discard port on this machine. */
export const DEAD_URL = 'http://127.0.0.1:9/fuzz';

/** Strings with something wrong with them (kept short; `hostileString` adds the long ones). */
export const STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\uffff',
  '\ufeffbom',
  '💥🔥',
  'ñandú Ωμέγα 中文 العربية',
  '\u202eevil',
  'zero\u200bwidth',
  'e\u0301'.repeat(50),
  '\r\n',
  'line\nbreak',
  '\t',
  '\\',
  '"',
  "' OR 1=1 --",
  '`rm -rf`',
  '<script>alert(1)</script>',
  '%00',
  '%',
  '%zz',
  '%ff',
  '../../etc/passwd',
  '..',
  '.',
  '/',
  '//',
  'a/b',
  '{{',
  '{{ }}',
  '{{ 1 + "a" }}',
  '{{ $error("fuzz") }}',
  '{{ nope.nope }}',
  '${jndi:ldap://127.0.0.1/a}',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '__proto__',
  'constructor',
  'toString',
  '*',
  '?',
  '#',
  '@',
  '@^1.0.0',
  'echo@not-a-version',
  'fuzz@9.9.9',
  '9999-99-99T99:99:99Z',
  '2024-02-30T00:00:00Z',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'not-a-uuid',
  '* * * * * * *',
  '@reboot',
  'Mars/Olympus_Mons',
  'whsec_',
  'whsec_!!!',
  'http://127.0.0.1:9/',
  'ftp://127.0.0.1/x',
  'file:///etc/passwd',
  'javascript:alert(1)',
];

/** Numbers at and past the edges of what a column or a Date holds. */
export const NUMBERS = [
  0,
  -0,
  -1,
  1.5,
  -1.5,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53 + 2,
  -(2 ** 63),
  2 ** 64,
  1e21,
  1e308,
  -1e308,
  5e-324,
  8.64e15 + 1,
];

/** JSON numbers that JavaScript cannot hold exactly (raw text: inserted into the body as is). */
export const RAW_NUMBERS = [
  '1e400',
  '-1e400',
  '1e-400',
  '123456789012345678901234567890',
  '-0.0',
  '1E+2',
  '0.1e1',
];

/** Path segments sent as they are: broken percent-encoding, encoded NUL, surrogates as UTF-8. */
export const RAW_SEGMENTS = [
  '%',
  '%2',
  '%zz',
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%C0%80',
  '%C3%28',
  '%FF%FE',
  '%E2%82',
  '%F4%90%80%80',
  '%2F',
  '%2e%2e',
  '%2e%2e%2f%2e%2e',
  '%252F',
  '..',
  '.',
  ';a=b',
  '%20',
  '%u0041',
  '%EF%BB%BF',
  '%F0%9F%92%A5',
];

/**
 * A string of a hostile kind: one of STRINGS, or long (up to `maxLength`), or one repeated
 * character that is expensive somewhere (a multi-byte character, NUL, a surrogate half).
 * @param {Rng} rng
 * @param {number} [maxLength]
 */
export function hostileString(rng, maxLength = 100_000) {
  const kind = rng.weighted([
    [8, 'corpus'],
    [2, 'long'],
    [1, 'repeated'],
  ]);
  if (kind === 'corpus') return rng.pick(STRINGS);
  const length = rng.pick([256, 257, 4097, 65_537, maxLength].filter((n) => n <= maxLength));
  if (kind === 'long') return 'x'.repeat(length);
  return rng.pick(['é', '💥', '\u0000', '\ud800', '%', '{{ ', '\\']).repeat(Math.ceil(length / 2));
}

/**
 * A deeply nested value: objects `{"a":{"a":…}}` or arrays `[[…]]`, `depth` levels.
 * @param {'object' | 'array'} shape
 * @param {number} depth
 */
export function deepJsonText(shape, depth) {
  return shape === 'object'
    ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
    : '['.repeat(depth) + ']'.repeat(depth);
}

/**
 * A value of another type than a schema expects, or an extreme one of the same type.
 * @param {Rng} rng
 * @returns {unknown}
 */
export function hostileValue(rng) {
  switch (
    rng.weighted([
      [5, 'string'],
      [3, 'number'],
      [1, 'boolean'],
      [1, 'null'],
      [1, 'array'],
      [1, 'object'],
      [1, 'deep'],
    ])
  ) {
    case 'string':
      return hostileString(rng);
    case 'number':
      return rng.pick(NUMBERS);
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'array':
      return rng.pick([[], [null], [hostileString(rng, 1000)], Array.from({ length: 1000 }, (_, i) => i)]);
    case 'object':
      // Parsed, so that `__proto__` is an own key (in a literal it would set the prototype).
      return JSON.parse(
        rng.pick([
          '{}',
          '{"":null}',
          '{"__proto__":{"admin":true}}',
          '{"constructor":{"prototype":{"x":1}}}',
        ]),
      );
    default:
      // Parsed back into a value: serialised again, it is as deep as it was sent.
      return JSON.parse(deepJsonText(rng.chance(0.5) ? 'object' : 'array', rng.pick([20, 100, 1000])));
  }
}

/** Property names that break naive code. */
export const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  '',
  '\u0000',
  '\ud800',
  'a.b',
  '$where',
  'x'.repeat(10_000),
];

/** Authorization header values that must all be answered 401 (or 403), never 5xx. */
export const BAD_AUTH = [
  'Bearer',
  'Bearer ',
  'Bearer swarm_',
  'Bearer swarm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  'Bearer not-a-key',
  'bearer swarm_x',
  'Basic YWRtaW46YWRtaW4=',
  'Token abc',
  'Bearer  two  spaces',
  `Bearer swarm_${'A'.repeat(8_000)}`,
  'Bearer swarm_%00',
  'Bearer 💥',
  'Bearer \u00ff\u00fe',
];

/** Content types a client may claim, right or wrong for the body. */
export const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/json; charset=bogus',
  'application/json;;;',
  'application/json, text/plain',
  'application/octet-stream',
  'application/xml',
  'application/yaml',
  'text/yaml',
  'application/merge-patch+json',
  'APPLICATION/JSON',
  '*/*',
  'json',
  '',
  'x'.repeat(2000),
];

/** Bodies that are not what any content type says. */
export const GARBLED_BODIES = [
  '',
  ' ',
  '{',
  '}',
  '{"a":',
  '{"a":1,}',
  '[1,2,]',
  '{"a":1}garbage',
  '{a:1}',
  "{'a':1}",
  'null',
  'true',
  '0',
  '"string"',
  '[]',
  '[{}]',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"admin":true}}}',
  '{"a":1,"a":2}',
  '\ufeff{}',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
  '{"a":"\\x00"}',
  'NaN',
  '--- !!binary AAAA',
  'a: &a [*a]',
  'a: !!js/function "function(){}"',
  'a=1&b=%zz&&=&c[d][e]=f',
  // A billion laughs: YAML aliases that expand exponentially.
  [
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
  ].join('\n'),
];

/** Invalid UTF-8 byte sequences, spliced into bodies. */
export const BAD_UTF8 = [
  Buffer.from([0xff]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xc0, 0x80]),
  Buffer.from([0xe2, 0x82]),
];
