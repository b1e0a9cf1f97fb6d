import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptValue, encryptValue, NONCE_BYTES, TAG_BYTES } from '../../src/secrets/index.js';

const key = randomBytes(32);
const row = { id: '0190-secret-a', ownerId: 'user-1' };
const plaintext = 'ghp_correct-horse-battery-staple ✓';

describe('AES-256-GCM secret values', () => {
  it('round-trips, laid out as nonce(12) | ciphertext | tag(16), with a fresh nonce each time', () => {
    const stored = encryptValue(key, plaintext, row);
    expect(stored.length).toBe(NONCE_BYTES + Buffer.byteLength(plaintext) + TAG_BYTES);
    expect(stored.includes(Buffer.from(plaintext))).toBe(false);
    expect(decryptValue(key, stored, row, 'secret A')).toBe(plaintext);
    const again = encryptValue(key, plaintext, row);
    expect(again.subarray(0, NONCE_BYTES).equals(stored.subarray(0, NONCE_BYTES))).toBe(false);
    expect(decryptValue(key, again, row, 'secret A')).toBe(plaintext);
  });

  it('is bound to its row and owner: a copied value does not decrypt elsewhere', () => {
    const stored = encryptValue(key, plaintext, row);
    for (const elsewhere of [
      { id: '0190-secret-b', ownerId: row.ownerId },
      { id: row.id, ownerId: 'user-2' },
    ]) {
      expect(() => decryptValue(key, stored, elsewhere, 'secret A')).toThrow(
        expect.objectContaining({
          code: 'SECRET_UNREADABLE',
          message: expect.stringMatching(
            /^secret A cannot be decrypted: .*copied from another secret or owner/,
          ),
        }),
      );
    }
  });

  it('refuses a wrong key, a flipped bit and a truncated value with SECRET_UNREADABLE', () => {
    const stored = encryptValue(key, plaintext, row);
    expect(() => decryptValue(randomBytes(32), stored, row, 'secret A')).toThrow(
      expect.objectContaining({
        code: 'SECRET_UNREADABLE',
        message: expect.stringMatching(/master key is not the one/),
      }),
    );
    const flipped = Buffer.from(stored);
    flipped[NONCE_BYTES] = flipped[NONCE_BYTES]! ^ 1;
    expect(() => decryptValue(key, flipped, row, 'secret A')).toThrow(
      expect.objectContaining({ code: 'SECRET_UNREADABLE' }),
    );
    expect(() => decryptValue(key, stored.subarray(0, 20), row, 'secret A')).toThrow(/truncated/);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => encryptValue(randomBytes(16), plaintext, row)).toThrow(/32 bytes/);
  });
});
