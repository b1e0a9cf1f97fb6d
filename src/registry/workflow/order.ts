import type { FieldIssue } from '../../errors/index.js';

/**
 * Puts issues in document order, so a long list reads top to bottom like the file (the passes
 * that find them run in another order). A field is parsed back into its keys and indexes and
 * each is ranked by where it sits in the document; a key the document lacks (a missing required
 * property) ranks after the keys that are there. The sort is stable: issues on the same field
 * keep the order they were found in.
 */

const TOKEN = /^(?:\.?([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;

function rank(doc: unknown, field: string): number[] {
  const out: number[] = [];
  let rest = field.replace(/^\(document\)/, '');
  let node = doc;
  while (rest !== '') {
    const m = TOKEN.exec(rest);
    if (m === null) break;
    rest = rest.slice(m[0].length);
    const key = m[2] !== undefined ? Number(m[2]) : m[3] !== undefined ? (JSON.parse(m[3]) as string) : m[1]!;
    if (Array.isArray(node) && typeof key === 'number') {
      out.push(key);
      node = node[key] as unknown;
    } else if (node !== null && typeof node === 'object') {
      const keys = Object.keys(node);
      const at = keys.indexOf(String(key));
      out.push(at < 0 ? keys.length : at);
      node = (node as Record<string, unknown>)[String(key)];
    } else {
      out.push(0);
      node = undefined;
    }
  }
  return out;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function inDocumentOrder(doc: unknown, issues: readonly FieldIssue[]): FieldIssue[] {
  const ranked = issues.map((issue) => ({ issue, rank: rank(doc, issue.field) }));
  return ranked.sort((a, b) => compare(a.rank, b.rank)).map((r) => r.issue);
}
