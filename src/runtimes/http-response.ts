/**
 * Reading an http_request response: headers flattened to strings, the body decoded
 * (gzip/deflate/br), bounded by the policy's maxResponseBytes after decoding (so a small
 * compressed bomb cannot fill the worker's memory), then parsed as JSON when it says it is.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { RuntimeError } from './errors.js';

export interface HttpRequestOutput {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export async function readResponse(
  response: IncomingMessage,
  method: string,
  maxBytes: number,
): Promise<HttpRequestOutput> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (method === 'HEAD') {
    // A HEAD response declares the length of a body it never sends: nothing to bound.
    response.resume();
    return { status: response.statusCode!, headers, body: '' };
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    throw tooLarge(maxBytes);
  }
  const bytes = await readBounded(decoded(response), maxBytes);
  return { status: response.statusCode!, headers, body: parseBody(bytes, headers['content-type']) };
}

/** The body's bytes, decoded (gzip/deflate/br) and bounded, unparsed: for callers that verify it. */
export function readRawBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    return Promise.reject(tooLarge(maxBytes));
  }
  return readBounded(decoded(response), maxBytes);
}

/** The body as sent before content-encoding; the size limit then applies to what is kept. */
function decoded(response: IncomingMessage): Readable {
  const encoding = (response.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : null;
  if (decoder === null) return response;
  // pipeline destroys both streams on error, so the reader below sees the failure.
  return pipeline(response, decoder, () => {});
}

async function readBounded(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      stream.destroy();
      throw tooLarge(maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(maxBytes: number): RuntimeError {
  return RuntimeError.forbidden(
    `response body is larger than the HTTP policy allows (maxResponseBytes ${maxBytes})`,
    { maxResponseBytes: maxBytes },
  );
}

function parseBody(bytes: Buffer, contentType: string | undefined): unknown {
  const charset = /charset="?([\w-]+)"?/i.exec(contentType ?? '')?.[1] ?? 'utf-8';
  let text: string;
  try {
    text = new TextDecoder(charset).decode(bytes);
  } catch {
    text = new TextDecoder('utf-8').decode(bytes); // an unknown charset label
  }
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (/^(application|text)\/([\w.-]+\+)?json$/.test(mediaType) && text.trim() !== '') {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text; // a server that says JSON and sends something else: keep what it sent
    }
  }
  return text;
}
