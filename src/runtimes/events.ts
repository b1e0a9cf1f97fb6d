/**
 * Events are written to the `events` table (migration 0006) and dispatched to event triggers
 * later by the dispatcher, which reads pending rows. Publishing is only the durable write: an
 * event is never lost between being emitted and reaching the workflows subscribed to it.
 */
import { insertEvents } from '../blobs/index.js';
import { SYSTEM_EVENT_SOURCE, type DatabaseHandle, type Store } from '../storage/index.js';
import { RuntimeError } from './errors.js';
import type { EmittedEvent, EventSink } from './types.js';

export class DatabaseEventSink implements EventSink {
  private readonly handle: DatabaseHandle;

  constructor(store: Store | DatabaseHandle) {
    this.handle = 'handle' in store ? store.handle : store;
  }

  async publish(event: EmittedEvent): Promise<string> {
    for (const field of ['ownerId', 'source', 'type'] as const) {
      if (typeof event[field] !== 'string' || event[field] === '')
        throw RuntimeError.invalidInput(`event.${field}`, 'must be a non-empty string');
    }
    // Only Swarm itself says what runs and agents did: an agent cannot forge `run.failed`.
    if (event.source.toLowerCase() === SYSTEM_EVENT_SOURCE)
      throw RuntimeError.invalidInput(
        'event.source',
        `"${SYSTEM_EVENT_SOURCE}" is reserved for Swarm's own events`,
      );
    try {
      JSON.stringify(event.payload ?? null);
    } catch (error) {
      throw RuntimeError.invalidInput('event.payload', `must be JSON: ${(error as Error).message}`);
    }
    const [id] = await insertEvents(this.handle.db, this.handle.dialect, [event]);
    return id!;
  }
}
