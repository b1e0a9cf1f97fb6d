import { createHash, randomBytes } from 'node:crypto';

/** Every key starts with this, so secret scanners and people can tell what it is. */
export const API_KEY_PREFIX = 'swarm_';

/** How many leading characters of a key are stored to tell keys apart (and counted on failures). */
export const API_KEY_PREFIX_LENGTH = API_KEY_PREFIX.length + 6;

export interface GeneratedApiKey {
  /** The key itself: shown once, never stored. */
  readonly key: string;
  /** The first characters, stored to tell keys apart in listings. */
  readonly prefix: string;
  readonly hash: string;
}

/** 256 random bits, base64url. */
export function generateApiKey(): GeneratedApiKey {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, API_KEY_PREFIX_LENGTH), hash: hashApiKey(key) };
}

/**
 * SHA-256 suffices here (unlike passwords): a key carries 256 random bits, so the hash cannot
 * be brute-forced, and a fast hash lets every request look its key up by an index.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
