/**
 * Swarm's own Ed25519 key: it signs every task Swarm sends to a remote (http) agent, so the agent
 * can tell a task from Swarm apart from anyone else's request. It comes from `SWARM_SIGNING_KEY`
 * (a PKCS8 PEM) or, when that is not set, from `<SWARM_HOME>/signing.key`, generated on first use
 * (mode 0600). Agents fetch the public half from `GET /api/v1/signing-key`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/index.js';
import { InputError } from '../../errors/index.js';

export class SigningKey {
  readonly publicKey: KeyObject;

  constructor(private readonly privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519')
      throw new Error(`an Ed25519 private key is required, got ${privateKey.asymmetricKeyType ?? 'unknown'}`);
    this.publicKey = createPublicKey(privateKey);
  }

  /** The 32 raw bytes of the public key, base64: what `GET /api/v1/signing-key` serves. */
  publicKeyBase64(): string {
    const der = this.publicKey.export({ format: 'der', type: 'spki' });
    return der.subarray(der.length - 32).toString('base64');
  }

  /** The base64 Ed25519 signature of `payload`. */
  sign(payload: Buffer | string): string {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return sign(null, bytes, this.privateKey).toString('base64');
  }

  /** A fresh key that is never written anywhere (tests). */
  static generate(): SigningKey {
    return new SigningKey(generateKeyPairSync('ed25519').privateKey);
  }
}

/** Reads an Ed25519 private key PEM; the error says what is wrong (never the key itself). */
export function parseSigningKeyPem(pem: string, where: string): SigningKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new InputError(where, `is not a readable PEM private key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new InputError(where, `is a ${key.asymmetricKeyType ?? 'unknown'} key; an Ed25519 key is required`);
  return new SigningKey(key);
}

const opened = new Map<string, SigningKey>();

/** Swarm's signing key as the configuration gives it; the key file is created when missing. */
export function openSigningKey(config: Pick<Config, 'signingKey' | 'signingKeyFile'>): SigningKey {
  if (config.signingKey !== undefined) return parseSigningKeyPem(config.signingKey, 'SWARM_SIGNING_KEY');
  const file = config.signingKeyFile;
  const known = opened.get(file);
  if (known !== undefined) return known;
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
    } catch (raced) {
      // Another process made it first: use theirs.
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
      pem = fs.readFileSync(file, 'utf8');
    }
  }
  const key = parseSigningKeyPem(pem, file);
  opened.set(file, key);
  return key;
}
