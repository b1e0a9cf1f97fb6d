import { describe, expect, it } from 'vitest';
import type { ColumnInfo } from '../../src/storage/index.js';
import { canonicalJson, canonicalRow, canonicalValue, TableHasher } from '../../src/datamove/canonical.js';

const col = (name: string, type: ColumnInfo['type']): ColumnInfo => ({
  name,
  type,
  nullable: true,
  primaryKey: name === 'id',
});

describe('canonical forms', () => {
  it('sorts JSON object keys at every depth, numeric-like keys included', () => {
    const a = JSON.parse('{"b":1,"10":{"z":[{"y":1,"x":2}],"a":null},"9":true}');
    expect(canonicalJson(a)).toBe('{"10":{"a":null,"z":[{"x":2,"y":1}]},"9":true,"b":1}');
    // jsonb's re-serialisation of the same document canonicalises to the same text.
    const b = JSON.parse('{"9": true, "b": 1.0, "10": {"a": null, "z": [{"x": 2, "y": 1e0}]}}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('gives each dialect’s shape of a value the same form, and different values different forms', () => {
    expect(canonicalValue('boolean', 1)).toBe(canonicalValue('boolean', true));
    expect(canonicalValue('boolean', 0)).toBe(canonicalValue('boolean', false));
    expect(canonicalValue('bigint', '9007199254740993')).toBe('9007199254740993');
    expect(canonicalValue('bigint', 2 ** 40)).toBe(canonicalValue('bigint', String(2 ** 40)));
    expect(canonicalValue('json', '{"a":1, "b":[]}')).toBe(canonicalValue('json', '{"b": [], "a": 1}'));
    // JSON null is a value; SQL NULL is its absence.
    expect(canonicalValue('json', 'null')).not.toBe(canonicalValue('json', null));
    expect(canonicalValue('text', '')).not.toBe(canonicalValue('text', null));
    expect(canonicalValue('blob', Buffer.alloc(0))).not.toBe(canonicalValue('blob', null));
    expect(canonicalValue('timestamp', '2026-03-29T02:30:00.123+05:30')).toBe('"2026-03-28T21:00:00.123Z"');
    expect(canonicalValue('real', NaN)).not.toBe(canonicalValue('real', null));
    expect(canonicalValue('real', 0.1)).not.toBe(canonicalValue('real', 0.1 + 1e-17 * 2));
  });

  it('orders a row by column name and its checksum ignores row order', () => {
    const columns = [col('id', 'text'), col('b', 'integer'), col('a', 'json')];
    const sorted = [...columns].sort((x, y) => (x.name < y.name ? -1 : 1));
    expect(canonicalRow(sorted, { id: 'x', b: 1, a: '{"k":2}' })).toBe('["{\\"k\\":2}",1,"x"]');
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, b: i, a: `[${i}]` }));
    const forward = new TableHasher(sorted);
    const backward = new TableHasher(sorted);
    rows.forEach((r) => forward.add(r));
    [...rows].reverse().forEach((r) => backward.add(r));
    expect(forward.checksum).toBe(backward.checksum);
    expect(forward.checksum).toMatch(/^[0-9a-f]{64}$/);
    const changed = new TableHasher(sorted);
    rows.forEach((r, i) => changed.add(i === 7 ? { ...r, b: 8 } : r));
    expect(changed.checksum).not.toBe(forward.checksum);
  });
});
