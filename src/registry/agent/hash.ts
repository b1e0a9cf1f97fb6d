/**
 * The canonical forms of a manifest. The registry stores `manifestHash` beside each
 * name@version: registering the same name@version again with the same hash is a no-op, with a
 * different hash it is refused (a published version never changes meaning).
 */
import { canonicalJson, contentHash } from '../content-hash.js';
import type { AgentManifest } from '../types.js';

/** SHA-256 hex of the manifest's canonical JSON (keys sorted), so key order never matters. */
export function manifestHash(manifest: AgentManifest): string {
  return contentHash(manifest);
}

/**
 * What an http agent's `runtime.signature` signs: the canonical JSON (UTF-8) of the validated
 * manifest (defaults filled) without the signature itself. The agent's owner signs it with the
 * private half of `runtime.public_key`; Swarm checks it when validating.
 */
export function manifestSigningPayload(manifest: AgentManifest): Buffer {
  const { runtime } = manifest;
  if (runtime.type !== 'http' || runtime.signature === undefined) return Buffer.from(canonicalJson(manifest));
  const { signature: _signature, ...unsigned } = runtime;
  return Buffer.from(canonicalJson({ ...manifest, runtime: unsigned }));
}
