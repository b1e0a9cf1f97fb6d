import { describe, expect, it } from 'vitest';
import { replaceNulEscapes, yamlTextTooDeep } from '../../src/server/input-guard.js';

describe('replaceNulEscapes', () => {
  it('turns \\u0000 escapes in strings into \\ufffd and leaves everything else', () => {
    expect(JSON.parse(replaceNulEscapes('{"a\\u0000":"x\\u0000y","b":"\\\\u0000"}'))).toEqual({
      'a\uFFFD': 'x\uFFFDy',
      // An escaped backslash followed by "u0000" is text, not a NUL.
      b: '\\u0000',
    });
    const plain = '{"a":"b"}';
    expect(replaceNulEscapes(plain)).toBe(plain);
  });
});

describe('yamlTextTooDeep', () => {
  const yes = (text: string, max = 4) => yamlTextTooDeep(text, max);

  it('counts block indentation, compact entries and flow brackets', () => {
    expect(yes('a:\n  b:\n    c:\n      d: 1')).toBe(false);
    expect(yes('a:\n  b:\n    c:\n      d:\n        e: 1')).toBe(true);
    // A line of compact entries may count one level more than it has (never one fewer).
    expect(yes('- - - x')).toBe(false);
    expect(yes('- - - - - x')).toBe(true);
    expect(yes('- a: [[x]]')).toBe(false);
    expect(yes('- a: [[[x]]]')).toBe(true);
    // A line indented under a compact entry nests inside the entry's content.
    expect(yes('- a:\n    b: [x]')).toBe(false);
    expect(yes('- a:\n    b: [[x]]')).toBe(true);
    expect(yes('- a: 1\n  b:\n    c: [x]')).toBe(false);
    expect(yes('a: [[[1]]]')).toBe(false);
    expect(yes('a: [[[[1]]]]')).toBe(true);
    // A flow collection open across lines keeps counting.
    expect(yes('a: [\n  [\n    [\n      [1]]]]')).toBe(true);
    // Back out of a deep block: siblings do not add up.
    expect(yes('a:\n  b:\n    c: 1\n  d:\n    e: 1\nf:\n  g: 1')).toBe(false);
  });

  it('does not count brackets in quotes or comments, and does count them in plain text', () => {
    expect(yes('a: "[[[[[["\nb: \'{{{{{\' # [[[[[[')).toBe(false);
    expect(yes("a: it's [[[[[")).toBe(true);
    expect(yes('['.repeat(100_000), 64)).toBe(true);
  });
});
