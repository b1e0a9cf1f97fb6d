import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message as the test's SMTP server received it. */
export interface Received {
  readonly from: string | null;
  readonly to: readonly string[];
  readonly raw: string;
  readonly messageId: string | null;
  readonly user: string | null;
}

export interface TestSmtp {
  readonly port: number;
  /** Every DATA the server read, duplicates included. */
  readonly received: Received[];
  /** What it delivered: a Message-ID it already accepted is acknowledged and not delivered again. */
  readonly delivered: Received[];
  /**
   * Hold the reply to the next message: resolves with it once read; `release()` then accepts it
   * (the client may be gone by then: a relay that read the whole message delivers it anyway).
   */
  holdNext(): { readonly read: Promise<Received>; release(): void };
  close(): Promise<void>;
}

/** A header's value in a raw message (unfolded). */
export function header(raw: string, name: string): string | null {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const match = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(unfolded);
  return match?.[1]?.trim() ?? null;
}

/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1, plain text (no STARTTLS), that
 * dedupes by Message-ID as a relay can. With `users`, it requires a login with one of them.
 */
export async function startSmtp(options: { users?: Record<string, string> } = {}): Promise<TestSmtp> {
  const received: Received[] = [];
  const delivered: Received[] = [];
  const seen = new Set<string>();
  let hold: { resolve(message: Received): void; released: Promise<void> } | null = null;
  const deliver = (message: Received) => {
    if (message.messageId !== null && seen.has(message.messageId)) return;
    if (message.messageId !== null) seen.add(message.messageId);
    delivered.push(message);
  };
  const server = new SMTPServer({
    disabledCommands: options.users === undefined ? ['STARTTLS', 'AUTH'] : ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: options.users === undefined,
    logger: false,
    onAuth(auth, _session, callback) {
      const expected = options.users?.[auth.username ?? ''];
      if (expected !== undefined && expected === auth.password) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const message: Received = {
          from: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          messageId: header(raw, 'Message-ID'),
          user: typeof session.user === 'string' ? session.user : null,
        };
        received.push(message);
        const held = hold;
        if (held === null) {
          deliver(message);
          callback();
          return;
        }
        hold = null;
        held.resolve(message);
        void held.released.then(() => {
          deliver(message);
          callback();
        });
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    delivered,
    holdNext() {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let resolveRead!: (message: Received) => void;
      const read = new Promise<Received>((resolve) => (resolveRead = resolve));
      hold = { resolve: resolveRead, released };
      return { read, release };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
