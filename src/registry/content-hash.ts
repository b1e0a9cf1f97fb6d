import { createHash } from 'node:crypto';
import { canonicalJson } from '../storage/index.js';

export { canonicalJson };

/** SHA-256 of the canonical JSON: "is this the same definition?" whatever the key order. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
