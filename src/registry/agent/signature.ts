/**
 * Ed25519 keys of remote (http) agents. A key arrives as base64 of the 32 raw bytes (what most
 * Ed25519 libraries print) or as a PEM SPKI block (what openssl prints); node:crypto parses both,
 * so a key that is accepted here is one the worker can verify results with.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

// DER SubjectPublicKeyInfo header for an Ed25519 key (RFC 8410); the 32 key bytes follow it.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type KeyResult = { readonly key: KeyObject } | { readonly error: string };

/** Parses an Ed25519 public key; the error says what was wrong with it. */
export function parseEd25519PublicKey(text: string): KeyResult {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } catch (error) {
      return { error: `is not a readable PEM public key (${(error as Error).message})` };
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      return { error: `is a ${key.asymmetricKeyType ?? 'unknown'} key; an Ed25519 key is required` };
    }
    return { key };
  }
  const raw = decodeBase64(trimmed);
  if (raw === null)
    return { error: 'must be an Ed25519 public key: base64 of 32 bytes or a PEM "PUBLIC KEY" block' };
  if (raw.length !== 32)
    return { error: `must be 32 bytes of Ed25519 key once base64-decoded, got ${raw.length}` };
  try {
    return {
      key: createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' }),
    };
  } catch (error) {
    return { error: `is not a valid Ed25519 public key (${(error as Error).message})` };
  }
}

/** Strict base64: Buffer.from would silently skip bad characters. */
export function decodeBase64(text: string): Buffer | null {
  if (!BASE64.test(text) || text.length % 4 !== 0) return null;
  return Buffer.from(text, 'base64');
}

/** Whether `signature` (base64) is `key`'s Ed25519 signature of `payload`. */
export function verifyEd25519(key: KeyObject, payload: Buffer, signature: string): boolean {
  const bytes = decodeBase64(signature);
  return bytes !== null && bytes.length === 64 && verify(null, payload, key, bytes);
}
