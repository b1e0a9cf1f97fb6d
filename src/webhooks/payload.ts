/**
 * A delivery's body in `webhook_deliveries.payload`: inline up to SWARM_PAYLOAD_INLINE_MAX, else
 * a blob reference (docs/payloads.md), so a large event does not put a copy of itself in every
 * delivery row that is claimed, listed and retried.
 */
import { addReferences, referenceInText, referenceSha, storeJson, type BlobHandle } from '../blobs/index.js';
import type { DeliveryBody } from './deliveries.js';

/**
 * The column text of `body` for the deliveries `deliveryIds` (one event's, so one body), each
 * recorded as referencing the blob when it is one. Through `handle.db`, so in the caller's
 * transaction when it is one: the references commit with the rows that hold them.
 */
export async function storeDeliveryBody(
  handle: BlobHandle,
  body: DeliveryBody,
  ownerId: string,
  deliveryIds: readonly [string, ...string[]],
): Promise<string> {
  const [first, ...rest] = deliveryIds;
  const text = await storeJson(
    handle,
    body,
    { ownerId, source: 'webhook_deliveries', sourceId: first },
    'payload',
  );
  const stored = rest.length === 0 ? null : referenceInText(text);
  // The same bytes for every webhook: hashed and written once, referenced by each delivery.
  if (stored !== null)
    await addReferences(
      handle.db,
      rest.map((sourceId) => ({
        ownerId,
        source: 'webhook_deliveries' as const,
        sourceId,
        sha256: referenceSha(stored),
      })),
    );
  return text;
}
