/**
 * A line diff by longest common subsequence: enough for two versions of a workflow's YAML (a few
 * hundred lines), with no dependency. O(n·m) time and memory, so very long texts are refused by
 * the caller's limit rather than freezing the page.
 */

export type DiffLine =
  | { readonly kind: 'same'; readonly text: string; readonly a: number; readonly b: number }
  | { readonly kind: 'removed'; readonly text: string; readonly a: number }
  | { readonly kind: 'added'; readonly text: string; readonly b: number };

/** Most cells (lines of a × lines of b) diffed: above it, lineDiff throws. */
export const MAX_DIFF_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  // A final newline ends the last line; it does not start an empty one.
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The lines of `before` and `after` in order, each kept, removed or added; line numbers from 1. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_DIFF_CELLS) throw new RangeError(`too large to diff: ${n} × ${m} lines`);
  // lcs[i][j]: the LCS length of a[i..] and b[j..], in one flat array of (n+1)·(m+1).
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * width + j] =
        a[i] === b[j]
          ? lcs[(i + 1) * width + j + 1]! + 1
          : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);

  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i]!, a: i + 1, b: j + 1 });
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) {
      out.push({ kind: 'removed', text: a[i]!, a: i + 1 });
      i++;
    } else {
      out.push({ kind: 'added', text: b[j]!, b: j + 1 });
      j++;
    }
  }
  for (; i < n; i++) out.push({ kind: 'removed', text: a[i]!, a: i + 1 });
  for (; j < m; j++) out.push({ kind: 'added', text: b[j]!, b: j + 1 });
  return out;
}

/** How many lines were added and removed. */
export function diffCounts(lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line.kind === 'added') added++;
    else if (line.kind === 'removed') removed++;
  }
  return { added, removed };
}
