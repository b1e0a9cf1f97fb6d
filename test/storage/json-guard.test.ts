import { describe, expect, it } from 'vitest';
import { SwarmError } from '../../src/errors/index.js';
import {
  canonicalJson,
  findJsonProblem,
  jsonTextTooDeep,
  MAX_STORED_JSON_DEPTH,
  toDbJson,
} from '../../src/storage/index.js';

const deepObject = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};
const deepArray = (depth: number): unknown => {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
};

describe('jsonTextTooDeep', () => {
  it('counts nesting in the text, not brackets inside strings', () => {
    expect(jsonTextTooDeep('[[[]]]', 3)).toBe(false);
    expect(jsonTextTooDeep('[[[[]]]]', 3)).toBe(true);
    expect(jsonTextTooDeep('{"a":{"b":[1]}}', 3)).toBe(false);
    expect(jsonTextTooDeep('{"a":{"b":[{}]}}', 3)).toBe(true);
    // Brackets in strings, escaped quotes and backslashes are text.
    expect(jsonTextTooDeep('["[[[[[", "\\"[[[[", "\\\\", "{{{{"]', 1)).toBe(false);
    expect(jsonTextTooDeep('[[],[],[[]]]', 2)).toBe(true);
    expect(jsonTextTooDeep('['.repeat(1_000_000), 64)).toBe(true);
  });
});

describe('findJsonProblem', () => {
  const options = { maxDepth: 4, rejectNul: true };

  it('names the first NUL by its path, in strings and in keys', () => {
    expect(findJsonProblem({ a: [1, { b: 'x\u0000' }] }, 'body', options)).toEqual({
      field: 'body.a.1.b',
      message: expect.stringMatching(/NUL/),
    });
    expect(findJsonProblem({ a: { 'k\u0000': 1 } }, 'body', options)).toEqual({
      field: 'body.a',
      message: expect.stringMatching(/^has a key that contains a NUL/),
    });
    expect(findJsonProblem('\u0000', 'input', options)?.field).toBe('input');
    expect(findJsonProblem({ a: 'x\u0000' }, 'body', { maxDepth: 4, rejectNul: false })).toBeNull();
    expect(findJsonProblem({ a: ['ok', { b: 'fine' }], c: null, d: 2 }, 'body', options)).toBeNull();
  });

  it('names where nesting goes too deep, without recursion on any depth', () => {
    expect(findJsonProblem(deepObject(4), 'body', options)).toBeNull();
    expect(findJsonProblem(deepObject(5, {}), 'body', options)).toEqual({
      field: 'body.a.a.a.a',
      message: 'is nested deeper than 4 levels',
    });
    expect(findJsonProblem(deepArray(200_000), 'body', options)?.field).toBe('body.0.0.0.0');
  });
});

describe('toDbJson and canonicalJson on deep values', () => {
  it('stores up to MAX_STORED_JSON_DEPTH and refuses deeper with an error naming the field', () => {
    expect(JSON.parse(toDbJson(deepArray(MAX_STORED_JSON_DEPTH)))).toEqual(deepArray(MAX_STORED_JSON_DEPTH));
    // Cleaning (the replacer) at the deepest allowed level, inside a deep stack already.
    const dirty = deepObject(MAX_STORED_JSON_DEPTH - 1, 'a\u0000b');
    const inDeepStack = (n: number): string => (n === 0 ? toDbJson(dirty) : inDeepStack(n - 1));
    expect(inDeepStack(2000)).toContain('"a\uFFFDb"');
    for (const value of [deepArray(MAX_STORED_JSON_DEPTH + 1), deepObject(100_000)]) {
      const error = (() => {
        try {
          toDbJson(value, 'output');
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(SwarmError);
      expect((error as SwarmError).message).toBe(
        `output: is nested deeper than ${MAX_STORED_JSON_DEPTH} levels`,
      );
    }
  });

  it('still cleans NUL, lone surrogates and keys, and leaves clean values as JSON.stringify would', () => {
    expect(JSON.parse(toDbJson({ 'k\u0000': ['\uD800x', { n: 1 }] }))).toEqual({
      'k\uFFFD': ['\uFFFDx', { n: 1 }],
    });
    const clean = { b: [1, 'two', null, true, { c: 1.5 }], a: 'ü', d: new Date(0) };
    expect(toDbJson(clean)).toBe(JSON.stringify(clean));
  });

  it('writes canonical JSON of any depth, keys sorted by code units', () => {
    expect(canonicalJson({ b: [3, { y: 1, x: [] }], a: 'é', '10': null, '2': {} })).toBe(
      '{"10":null,"2":{},"a":"é","b":[3,{"x":[],"y":1}]}',
    );
    expect(canonicalJson([undefined, 1e2, 'q"'])).toBe('[null,100,"q\\""]');
    const text = canonicalJson(deepArray(100_000));
    expect(text.length).toBe(200_000);
    expect(text.startsWith('[[[')).toBe(true);
  });
});
