import { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface LingerLimits {
  /** Most bytes read and dropped after the answer before the connection is cut anyway. */
  readonly maxBytes: number;
  /** Longest a connection stays open after its answer, waiting for the client to stop sending. */
  readonly maxMs: number;
}

/**
 * Enough for a client that overshot the body limit by a lot to finish writing and read why,
 * while one that never stops costs a bounded read (nginx lingers up to 30 s, any number of bytes).
 */
export const DEFAULT_LINGER: LingerLimits = { maxBytes: 64 * 1024 * 1024, maxMs: 10_000 };

/**
 * Closes connections answered before the client finished sending its request (a 413 decided from
 * Content-Length, a 401 before the body, a request Node's parser refused). Closing a socket with
 * unread input makes the kernel send a reset, and a client still writing gets EPIPE or
 * ECONNRESET and loses the answer waiting in its receive buffer (RFC 9112 §9.6). So, like nginx's
 * lingering close: the answer is flushed and the write side half-closed, the rest of the input is
 * read and dropped, and the socket is destroyed when the client closes its side, or past
 * `maxBytes` or `maxMs`, whichever comes first.
 */
export class LingeringClose {
  /** Each draining socket, with its `bytesRead` when it was answered. */
  private readonly sockets = new Map<Socket, number>();
  private closing = false;

  constructor(private readonly limits: LingerLimits) {}

  /** Whether `socket` was answered and is only being drained. */
  has(socket: Socket): boolean {
    return this.sockets.has(socket);
  }

  /** More input arrived on `socket`: cut it once it is past the limit. */
  received(socket: Socket): void {
    const start = this.sockets.get(socket);
    if (start !== undefined && socket.bytesRead - start > this.limits.maxBytes) socket.destroy();
  }

  /**
   * Ends `socket` once what was written to it is flushed, then drains it (bounded) and destroys
   * it. Node's HTTP parser goes on reading the input; whoever sees it arrive (the request's 'data'
   * listener, the clientError handler for input the parser refuses) calls `received`.
   */
  close(socket: Socket): void {
    if (socket.destroyed || this.sockets.has(socket)) return;
    if (this.closing) {
      // The server is shutting down: no waiting on a client. (Node's own close: this socket's
      // destroySoon may be the override below.)
      Socket.prototype.destroySoon.call(socket);
      return;
    }
    this.sockets.set(socket, socket.bytesRead);
    const timer = setTimeout(() => socket.destroy(), this.limits.maxMs);
    timer.unref();
    // The client has sent all it will: nothing is left unread, so closing (once the answer is
    // flushed) is clean.
    socket.once('end', () => Socket.prototype.destroySoon.call(socket));
    socket.once('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
    });
    socket.end();
  }

  /** Drops every connection still draining; later ones are closed without draining. */
  closeAll(): void {
    this.closing = true;
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}

/**
 * Answers sent before the request was fully received say `Connection: close` (the rest of the
 * body is not read for a next request on the connection) and close by `lingering`. Node ends such
 * a connection with `socket.destroySoon()` as soon as the answer is written: on this one socket,
 * that becomes the lingering close.
 */
export function registerLingeringClose(app: FastifyInstance, lingering: LingeringClose): void {
  app.addHook('onRequest', (request, reply, done) => {
    // A request pipelined after one answered with `Connection: close`: it could not be answered,
    // so it must not run.
    if (lingering.has(request.raw.socket)) {
      reply.hijack();
      request.raw.socket.destroy();
    }
    done();
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const { raw } = request;
    if (raw.complete) return payload;
    reply.header('connection', 'close');
    // Read from now on, so Node does not dump the rest of the body unseen: each piece counts.
    raw.on('data', () => lingering.received(raw.socket));
    raw.resume();
    raw.socket.destroySoon = () => lingering.close(raw.socket);
    return payload;
  });
  app.addHook('preClose', (done) => {
    lingering.closeAll();
    done();
  });
}
