import { describe, expect, it } from 'vitest';
import { diffCounts, lineDiff, MAX_DIFF_CELLS } from '../../web/src/lib/diff.js';

/** The diff as `  same`, `- removed`, `+ added` lines: easy to read in a failure. */
const show = (before: string, after: string) =>
  lineDiff(before, after).map((l) => `${l.kind === 'same' ? ' ' : l.kind === 'added' ? '+' : '-'} ${l.text}`);

describe('lineDiff', () => {
  it('keeps equal texts as they are, with the line numbers of both sides', () => {
    expect(lineDiff('a\nb\n', 'a\nb')).toEqual([
      { kind: 'same', text: 'a', a: 1, b: 1 },
      { kind: 'same', text: 'b', a: 2, b: 2 },
    ]);
    expect(lineDiff('', '')).toEqual([]);
  });

  it('shows a changed line as removed then added, and keeps the lines around it', () => {
    expect(
      show('name: hello\nversion: 1.0.0\nsteps: []\n', 'name: hello\nversion: 1.1.0\nsteps: []\n'),
    ).toEqual(['  name: hello', '- version: 1.0.0', '+ version: 1.1.0', '  steps: []']);
  });

  it('finds the longest common part, not the first match', () => {
    // A greedy diff would keep the leading "x" and lose a, b, c.
    expect(show('a\nb\nc\nx', 'x\na\nb\nc')).toEqual(['+ x', '  a', '  b', '  c', '- x']);
    expect(diffCounts(lineDiff('a\nb\nc\nx', 'x\na\nb\nc'))).toEqual({ added: 1, removed: 1 });
  });

  it('handles one side empty, and numbers lines from 1 on each side', () => {
    expect(lineDiff('', 'a\nb')).toEqual([
      { kind: 'added', text: 'a', b: 1 },
      { kind: 'added', text: 'b', b: 2 },
    ]);
    expect(show('a\nb', '')).toEqual(['- a', '- b']);
    const mixed = lineDiff('k\nold\nk2', 'new\nk\nk2\nend');
    expect(mixed.filter((l) => l.kind === 'added').map((l) => (l.kind === 'added' ? l.b : 0))).toEqual([
      1, 4,
    ]);
    expect(mixed.find((l) => l.kind === 'removed')).toEqual({ kind: 'removed', text: 'old', a: 2 });
  });

  it('refuses texts too large to diff instead of freezing', () => {
    const side = Math.ceil(Math.sqrt(MAX_DIFF_CELLS)) + 1;
    const big = Array.from({ length: side }, (_, i) => String(i)).join('\n');
    expect(() => lineDiff(big, big)).toThrow(RangeError);
  });
});
