import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../helpers/sources.js';

const root = path.resolve(import.meta.dirname, '../../src/storage');
/** What storage may import from outside itself: only parts below it. */
const BELOW_STORAGE = new Set(['errors']);

describe('storage layering', () => {
  it('imports nothing from the parts above it (blobs, queue, engine, …)', () => {
    const upward: string[] = [];
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
        const target = path.resolve(path.dirname(file), m[1]!);
        const rel = path.relative(path.resolve(root, '..'), target);
        const part = rel.split(path.sep)[0]!;
        if (part !== 'storage' && !BELOW_STORAGE.has(part))
          upward.push(`${path.relative(root, file)} → ${m[1]}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
