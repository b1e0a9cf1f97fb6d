import type pg from 'pg';

export interface PgListener {
  /** UNLISTENs and gives the connection back to the pool. */
  stop(): Promise<void>;
  /** Stops without a round trip (the pool is closing): the connection is discarded. */
  discard(): void;
}

export interface PgListenOptions {
  /** First wait before taking a new connection after the old one ended. @default 250 */
  readonly minDelayMs?: number;
  /** The longest wait between attempts while the server is down. @default 5000 */
  readonly maxDelayMs?: number;
}

/**
 * `LISTEN channel` on a pooled connection of its own, kept for as long as the listener lives.
 * A PostgreSQL restart (or a proxy closing an idle connection) ends that connection; without a
 * new one the process would hear no notification again and fall back to its poll interval for
 * good. So when the connection ends the listener discards it, takes another from the pool
 * (retrying with doubling waits while the server is down), LISTENs again, and calls `onNotify`
 * once, with no payload: notifications sent in between are not replayed, and callers treat a
 * notification as "look now", so one extra look covers the gap.
 *
 * The first connection's failure is the caller's to handle (it throws); later ones are retried.
 */
export async function listenWithReconnect(
  pool: pg.Pool,
  channel: string,
  onNotify: (payload: string) => void,
  options: PgListenOptions = {},
): Promise<PgListener> {
  const minDelay = options.minDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5000;
  // Channel names are ours (constants), but quoted as identifiers all the same.
  const identifier = `"${channel.replaceAll('"', '""')}"`;
  let current: { client: pg.PoolClient; release: (error?: Error) => void } | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = minDelay;

  async function connect(): Promise<void> {
    const client = await pool.connect();
    let released = false;
    const onNotification = (message: pg.Notification) => {
      if (message.channel === channel) onNotify(message.payload ?? '');
    };
    const onLost = (error?: Error) => {
      if (released) return;
      release(error ?? new Error('LISTEN connection ended'));
      reconnectLater();
    };
    const onEnd = () => onLost();
    // With an error the pool discards the connection instead of handing it out again.
    const release = (error?: Error) => {
      if (released) return;
      released = true;
      client.off('notification', onNotification);
      client.off('error', onLost);
      client.off('end', onEnd);
      if (current?.client === client) current = null;
      client.release(error);
    };
    client.on('notification', onNotification);
    client.on('error', onLost);
    client.on('end', onEnd);
    try {
      await client.query(`LISTEN ${identifier}`);
    } catch (error) {
      release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    if (stopped) {
      release(new Error('listener stopped'));
      return;
    }
    current = { client, release };
    delay = minDelay;
  }

  function reconnectLater(): void {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      connect().then(
        () => {
          if (!stopped) onNotify('');
        },
        () => {
          delay = Math.min(delay * 2, maxDelay);
          reconnectLater();
        },
      );
    }, delay);
    // A listener waiting to reconnect does not keep a process alive that is otherwise done.
    timer.unref();
  }

  await connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const held = current;
      if (held === null) return;
      current = null;
      await held.client.query(`UNLISTEN ${identifier}`).catch(() => {});
      held.release();
    },
    discard() {
      stopped = true;
      clearTimeout(timer);
      current?.release(new Error('pool closing'));
    },
  };
}
