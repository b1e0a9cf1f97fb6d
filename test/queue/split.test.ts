import { describe, expect, it } from 'vitest';
import { bisectFailures } from '../../src/queue/index.js';

describe('bisectFailures', () => {
  /** A write that refuses any batch holding a bad item, and records what it wrote. */
  function writer(bad: ReadonlySet<number>) {
    const written: number[] = [];
    let attempts = 0;
    const write = async (batch: number[]) => {
      attempts++;
      const found = batch.find((item) => bad.has(item));
      if (found !== undefined) throw new Error(`bad item ${found}`);
      written.push(...batch);
      return batch.length;
    };
    return { write, written, attempts: () => attempts };
  }

  it('writes every good item, in order, and returns each bad one with its own error', async () => {
    const items = Array.from({ length: 500 }, (_, i) => i);
    const w = writer(new Set([37, 401]));
    const { results, failed } = await bisectFailures(items, w.write);
    expect(w.written).toEqual(items.filter((i) => i !== 37 && i !== 401));
    expect(results.reduce((a, b) => a + b, 0)).toBe(498);
    expect(failed.map((f) => [f.item, (f.error as Error).message])).toEqual([
      [37, 'bad item 37'],
      [401, 'bad item 401'],
    ]);
    // Bisection, not one by one: about 2·log2(n) extra attempts per bad item.
    expect(w.attempts()).toBeLessThan(2 * 2 * Math.ceil(Math.log2(500)) + 2);
  });

  it('writes a good batch in one attempt, and nothing for no items', async () => {
    const w = writer(new Set());
    expect(await bisectFailures([1, 2, 3], w.write)).toEqual({ results: [3], failed: [] });
    expect(w.attempts()).toBe(1);
    expect(await bisectFailures([], w.write)).toEqual({ results: [], failed: [] });
    expect(w.attempts()).toBe(1);
  });

  it('gives up on every item when every write fails, without throwing', async () => {
    const { failed } = await bisectFailures([1, 2, 3, 4], async () => {
      throw new Error('database down');
    });
    expect(failed.map((f) => f.item)).toEqual([1, 2, 3, 4]);
  });
});
