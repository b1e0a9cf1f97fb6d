import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MASTER_KEY_BYTES } from '../config/index.js';
import { SwarmError } from '../errors/index.js';

/** AES-256-GCM with a random 96-bit nonce and a 128-bit tag. */
const ALGORITHM = 'aes-256-gcm';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** What a stored value is bound to: the row it belongs to and its owner. */
export interface SecretBinding {
  readonly id: string;
  readonly ownerId: string;
}

/**
 * The associated data: the secret's id and owner, so a ciphertext copied into another row (or
 * given to another owner) fails authentication instead of decrypting there.
 */
export function associatedData(binding: SecretBinding): Buffer {
  return Buffer.from(`${binding.id}\0${binding.ownerId}`, 'utf8');
}

function checkKey(key: Buffer): void {
  if (key.length !== MASTER_KEY_BYTES) throw new Error(`a master key is ${MASTER_KEY_BYTES} bytes`);
}

/** Encrypts `plaintext` for the row `binding`: `nonce(12) | ciphertext | tag(16)`. */
export function encryptValue(key: Buffer, plaintext: string, binding: SecretBinding): Buffer {
  checkKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(binding));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]);
}

/**
 * Decrypts what `encryptValue` made for the same row. Throws SECRET_UNREADABLE when the key is
 * not the one it was encrypted with, or the value was altered or belongs to another row or owner
 * (GCM cannot tell these apart); `what` names the secret in the message.
 */
export function decryptValue(key: Buffer, stored: Uint8Array, binding: SecretBinding, what: string): string {
  checkKey(key);
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (bytes.length < NONCE_BYTES + TAG_BYTES) {
    throw new SwarmError(
      'SECRET_UNREADABLE',
      `${what}: the stored value is truncated (${bytes.length} bytes)`,
    );
  }
  const nonce = bytes.subarray(0, NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const ciphertext = bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES);
  const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(binding));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new SwarmError(
      'SECRET_UNREADABLE',
      `${what} cannot be decrypted: the master key is not the one it was encrypted with, ` +
        'or the stored value was altered or copied from another secret or owner',
      { cause: error },
    );
  }
}

/**
 * A secret Swarm itself keeps in a text column (a webhook's signing secret), sealed under the
 * keyring's current master key and bound to its row: `v<version>:<base64 of encryptValue>`.
 */
export function sealText(
  keyring: { current(): { version: number; key: Buffer } },
  plaintext: string,
  binding: SecretBinding,
): string {
  const { version, key } = keyring.current();
  return `v${version}:${encryptValue(key, plaintext, binding).toString('base64')}`;
}

/** What sealText sealed, for the same row; SECRET_UNREADABLE when it cannot be opened. */
export function openText(
  keyring: { key(version: number): Buffer },
  sealed: string,
  binding: SecretBinding,
  what: string,
): string {
  const match = /^v(\d+):([A-Za-z0-9+/=]+)$/.exec(sealed);
  if (match === null) throw new SwarmError('SECRET_UNREADABLE', `${what}: the stored value is not sealed`);
  return decryptValue(keyring.key(Number(match[1])), Buffer.from(match[2]!, 'base64'), binding, what);
}
