/**
 * Payloads without a size cap (docs/payloads.md): content-addressed blobs, JSON values that
 * spill into them above SWARM_PAYLOAD_INLINE_MAX, and the sweep that removes unreferenced ones.
 */
export {
  configureBlobs,
  blobConfig,
  blobSettings,
  DEFAULT_BLOB_SETTINGS,
  type BlobSettings,
} from './settings.js';
export {
  putBlob,
  putBlobStream,
  getBlob,
  readBlob,
  findBlob,
  isSha256,
  blobPath,
  CHUNK_BYTES,
  type BlobHandle,
  type BlobInfo,
} from './store.js';
export {
  storeJson,
  storeValue,
  keepReference,
  needsEscape,
  viewValue,
  inlineJson,
  loadJson,
  resolveStored,
  unescapeStored,
  viewStored,
  parseOutputs,
  viewJson,
  VIEW_WHOLE_MAX,
  isBlobReference,
  referenceInText,
  referenceSha,
  addReferences,
  storeLargeColumns,
  type BlobReference,
  type BlobOwner,
} from './json.js';
export { insertEvents } from './events.js';
export { sweepBlobs, type SweepReport } from './sweep.js';
export { mayReadBlob } from './access.js';
