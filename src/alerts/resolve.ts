import { insertEvents } from '../blobs/index.js';
import { NotFoundError } from '../errors/index.js';
import { resolveAlertByHand, type Alert, type Caller, type Store } from '../storage/index.js';
import { alertEvent } from './publish.js';

/**
 * Resolves one of the caller's alerts by hand (recording who) and publishes `alert.resolved`;
 * an alert already resolved is answered as it is. NOT_FOUND for another owner's or no alert.
 */
export async function resolveByHand(store: Store, caller: Caller, id: string): Promise<Alert> {
  const { db, dialect } = store.handle;
  const result = await dialect.writeTransaction(db, async (trx) => {
    const done = await resolveAlertByHand(trx, caller, id);
    if (done?.changed) await insertEvents(trx, dialect, [alertEvent(done.alert, 'resolved')]);
    return done;
  });
  if (result === undefined) throw new NotFoundError('alert', id);
  return result.alert;
}
