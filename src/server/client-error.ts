import http from 'node:http';
import type { Socket } from 'node:net';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a malformed request line, a
 * header with a control character, headers too large, a client too slow): answered on the
 * socket with problem+json, like every other refusal, then closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const detail =
    status === 408
      ? 'the request was not received in time'
      : status === 431
        ? 'the request headers are too large'
        : 'the request is not valid HTTP';
  const body = JSON.stringify({
    type: 'urn:swarm:problem:input-invalid',
    title: 'Invalid input',
    status,
    detail,
    code: 'INPUT_INVALID',
  });
  if (socket.writable) {
    socket.write(
      [
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
        `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
        `Content-Length: ${Buffer.byteLength(body)}`,
        'X-Content-Type-Options: nosniff',
        'Referrer-Policy: no-referrer',
        'Cache-Control: no-store',
        'Connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  }
  socket.destroy(error);
}
