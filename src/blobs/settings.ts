/**
 * How payloads are stored, set once per process from its Config (`configureBlobs`): the
 * threshold above which a JSON value becomes a blob, and where blobs live. Process-wide rather
 * than passed along because every writer of inputs, outputs and payloads needs it, deep in
 * storage code that has no Config.
 */
export interface BlobSettings {
  /** SWARM_PAYLOAD_INLINE_MAX: bytes of JSON text kept in the row itself. */
  readonly inlineMax: number;
  /** SWARM_BLOB_DIR: a folder for the bytes; null keeps them in the database. */
  readonly dir: string | null;
  /** How long a blob nothing references is kept (a writer may be about to reference it). */
  readonly graceMs: number;
}

export const DEFAULT_BLOB_SETTINGS: BlobSettings = {
  inlineMax: 64 * 1024,
  dir: null,
  graceMs: 60 * 60_000,
};

let current: BlobSettings = DEFAULT_BLOB_SETTINGS;

export function configureBlobs(settings: Partial<BlobSettings>): void {
  current = { ...DEFAULT_BLOB_SETTINGS, ...settings };
}

export function blobSettings(): BlobSettings {
  return current;
}

/** The settings a process's Config gives. */
export function blobConfig(config: {
  payloadInlineMax: number;
  blobDir: string | undefined;
}): Partial<BlobSettings> {
  return { inlineMax: config.payloadInlineMax, dir: config.blobDir ?? null };
}
