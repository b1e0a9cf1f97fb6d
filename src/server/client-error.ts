import http from 'node:http';
import type { Socket } from 'node:net';
import type { LingeringClose } from './lingering-close.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

/** Parser errors about one header, by Node's code: that header and what is wrong with it. */
const HEADER_ERRORS: Record<string, [string, string]> = {
  HPE_INVALID_CONTENT_LENGTH: [
    'headers.content-length',
    'is not a valid length (a whole number of bytes, 0 or more)',
  ],
  HPE_UNEXPECTED_CONTENT_LENGTH: ['headers.content-length', 'is sent more than once'],
  HPE_INVALID_TRANSFER_ENCODING: [
    'headers.transfer-encoding',
    'is not chunked as the last coding, or is sent with Content-Length',
  ],
};

/**
 * Answers requests Node's HTTP parser refuses before Fastify sees them (a malformed request line,
 * a header with a control character, a bad Content-Length, headers too large, a client too
 * slow) with problem+json, like every other refusal, then closes by `lingering`: the client may
 * still be sending the body, and must get to read the answer.
 */
export function clientErrorAnswerer(lingering: LingeringClose) {
  return function answerClientError(error: Error & { code?: string }, socket: Socket): void {
    // Answered already: the parser refuses each further piece of input, which is being drained.
    if (lingering.has(socket)) {
      lingering.received(socket);
      return;
    }
    // A reset connection has no one left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const status =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const header = HEADER_ERRORS[error.code ?? ''];
    const detail =
      status === 408
        ? 'the request was not received in time'
        : status === 431
          ? 'the request headers are too large'
          : header
            ? `${header[0]}: ${header[1]}`
            : 'the request is not valid HTTP';
    const body = JSON.stringify({
      type: 'urn:swarm:problem:input-invalid',
      title: 'Invalid input',
      status,
      detail,
      code: 'INPUT_INVALID',
      ...(header ? { errors: [{ field: header[0], message: header[1] }] } : {}),
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
    lingering.close(socket);
  };
}
