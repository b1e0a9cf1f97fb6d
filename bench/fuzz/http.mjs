// A raw HTTP/1.1 client over a socket. fetch and http.request refuse what a hostile client sends
// (NUL or bytes >= 0x80 in the request line, malformed headers, both Content-Length and
// Transfer-Encoding), and the server must answer those too, so the fuzzer writes the bytes itself
// and reads just enough of the answer to judge it.
import { createHmac } from 'node:crypto';
import net from 'node:net';

/**
 * @typedef {object} FuzzRequest
 * @property {string} method
 * @property {string} path                the request target, as sent (already percent-encoded)
 * @property {[string, string][]} headers  in order; Host, Content-Length and Connection are added
 * @property {Buffer | null} body
 * @property {boolean} [noHost]           leave out the Host header
 * @property {boolean} [ownLength]        the headers already frame the body (CL/TE as mutated)
 * @property {{ secret: string, skew: number } | null} [sign]  X-Swarm-Signature, made at send time
 * @property {Buffer} [signedBody]        what the signature is over, when not `body` (a framed one)
 */

/**
 * @typedef {object} FuzzResponse
 * @property {number} status
 * @property {Record<string, string>} headers  lower-case names; repeated ones joined with ", "
 * @property {Buffer} body  at most the first MiB
 * @property {number} ms
 */

const MAX_BODY = 1024 * 1024;

/**
 * `X-Swarm-Signature` for a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
 * @param {string} secret @param {Buffer} body @param {number} unixSeconds
 */
export function signature(secret, body, unixSeconds) {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.`).update(body).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * The bytes of `request` as sent to `host:port` (signed now when it asks to be).
 * @param {FuzzRequest} request @param {string} hostHeader
 */
export function encodeRequest(request, hostHeader) {
  const body = request.body ?? Buffer.alloc(0);
  const headers = [...request.headers];
  if (request.sign) {
    const t = Math.floor(Date.now() / 1000) + request.sign.skew;
    headers.push(['x-swarm-signature', signature(request.sign.secret, request.signedBody ?? body, t)]);
  }
  const lines = [`${request.method} ${request.path} HTTP/1.1`];
  if (!request.noHost) lines.push(`host: ${hostHeader}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  if (!request.ownLength && (request.body !== null || ['POST', 'PUT', 'PATCH'].includes(request.method)))
    lines.push(`content-length: ${body.length}`);
  lines.push('connection: close', '', '');
  // The head is bytes, one per char (Latin-1): a path or header may carry any byte on purpose.
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]);
}

/**
 * Parses what has arrived so far. Returns a response once it is complete enough to judge: the
 * whole body (Content-Length or chunked), or just the head for an event stream, which never ends.
 * @param {Buffer} data @param {boolean} ended the server closed the connection @param {string} method
 * @returns {Omit<FuzzResponse, 'ms'> | null}
 */
export function parseResponse(data, ended, method) {
  let start = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', start);
    if (headEnd < 0) return null;
    const [statusLine = '', ...lines] = data.subarray(start, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
    if (!Number.isInteger(status)) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
    /** @type {Record<string, string>} */
    const headers = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const bodyStart = headEnd + 4;
    // 1xx (100 Continue) comes before the real answer.
    if (status < 200) {
      start = bodyStart;
      continue;
    }
    const rest = data.subarray(bodyStart);
    const noBody = method === 'HEAD' || status === 204 || status === 304;
    if (noBody || (headers['content-type'] ?? '').startsWith('text/event-stream'))
      return { status, headers, body: Buffer.alloc(0) };
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (rest.length >= Math.min(length, MAX_BODY))
        return { status, headers, body: rest.subarray(0, length) };
      return ended ? { status, headers, body: rest } : null;
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const body = dechunk(rest);
      if (body !== null || rest.length >= MAX_BODY) return { status, headers, body: body ?? rest };
      return ended ? { status, headers, body: rest } : null;
    }
    return ended ? { status, headers, body: rest } : null;
  }
}

/** The body of a complete chunked encoding, or null while it is incomplete. @param {Buffer} data */
function dechunk(data) {
  /** @type {Buffer[]} */
  const parts = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return null;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * Sends one request on its own connection and waits for its answer. Never rejects: a connection
 * that ends, fails or times out without an answer resolves with `error`.
 * @param {{ host: string, port: number }} target
 * @param {FuzzRequest} request
 * @param {{ timeoutMs?: number }} [options]
 * @returns {Promise<{ response: FuzzResponse | null, error: string | null, sent: Buffer }>}
 */
export function send(target, request, { timeoutMs = 30_000 } = {}) {
  const sent = encodeRequest(request, `${target.host}:${target.port}`);
  const t0 = performance.now();
  return new Promise((resolve) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let settled = false;
    const socket = net.connect({ host: target.host, port: target.port });
    /** @param {FuzzResponse | null} response @param {string | null} error */
    const finish = (response, error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, error, sent });
    };
    /** @param {boolean} ended */
    const check = (ended) => {
      try {
        const parsed = parseResponse(Buffer.concat(chunks), ended, request.method);
        if (parsed !== null) finish({ ...parsed, ms: Math.round(performance.now() - t0) }, null);
        else if (ended)
          finish(null, chunks.length === 0 ? 'connection closed without an answer' : 'truncated answer');
      } catch (error) {
        finish(null, String(error));
      }
    };
    const timer = setTimeout(() => finish(null, `no answer within ${timeoutMs} ms`), timeoutMs);
    socket.on('connect', () => socket.write(sent));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      check(false);
    });
    socket.on('end', () => check(true));
    socket.on('close', () => check(true));
    // The server may answer (413, 431, 400) and close before it has read everything we sent:
    // a write error after an answer arrived is not a failure.
    socket.on('error', (error) => (chunks.length > 0 ? check(true) : finish(null, error.message)));
  });
}
