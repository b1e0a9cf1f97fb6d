import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Engine } from '../engine/index.js';
import { SwarmError } from '../errors/index.js';
import type { Keyring } from '../secrets/index.js';
import type { AuthFailureSink } from '../auth/index.js';
import { depthMessage, jsonTextTooDeep, newId, type Store } from '../storage/index.js';
import { prepareFiring, recordFiring } from './fire.js';
import { planFlow } from './flow.js';
import { findWebhookTrigger, webhookSecrets } from './service.js';

/**
 * Incoming webhooks: `POST /hooks/<path>` starts the trigger's workflow with the body as the
 * run's trigger data, exactly once per delivery.
 *
 * - Signature: `X-Swarm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
 *   over the raw bytes as sent (nothing re-serialised). Several `v1=` entries are allowed so a
 *   sender can sign with the old and the new secret while a rotation's grace period runs. The
 *   timestamp must be within 5 minutes of the server's clock, either way: a captured request
 *   cannot be replayed later.
 * - Unknown path, or a disabled trigger: 404, the same answer for both, so an unsigned caller
 *   learns nothing about which paths exist but are switched off. Nothing is stored.
 * - Bad signature: 401 UNAUTHENTICATED, counted in `auth_failures` (per minute, address and
 *   reason, for the trigger's owner to see); nothing else is stored.
 * - Body: `application/json` or any `+json` type is parsed; `application/x-www-form-urlencoded`
 *   becomes an object (a repeated field an array); `text/plain` becomes `{text}`. Any other type:
 *   415. The body is decoded as UTF-8.
 * - Delivery id: `Idempotency-Key`, else the sender's own delivery id (`webhook-id` of Standard
 *   Webhooks, `X-GitHub-Delivery`), names the firing `idem:<key>`: a resend with the same key
 *   starts nothing and answers with the first run. Without one, each request is a new firing.
 *   (`X-Request-Id` is not used: proxies set it per attempt, so it never repeats on a resend.)
 * - Answer: 202 `{runId, duplicate: false}` once the firing and its run are committed; a
 *   repeated key: 200 `{runId, duplicate: true}` with the first run (runId null if that
 *   firing started none).
 */

/** The signature header Swarm reads (and `signPayload` writes). */
export const SIGNATURE_HEADER = 'x-swarm-signature';

/** How far a signature's timestamp may be from the server's clock, by default. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/** Delivery-id headers, in the order they are looked at (lower case, as Node gives them). */
export const DELIVERY_ID_HEADERS = ['idempotency-key', 'webhook-id', 'x-github-delivery'] as const;

/** The default of SWARM_BODY_MAX_DEPTH, for callers that do not pass the configured one. */
export const DEFAULT_BODY_MAX_DEPTH = 64;

/** Longest accepted delivery id: the fire key is stored and indexed. */
export const MAX_DELIVERY_ID_LENGTH = 200;

// Bounds the work an unauthenticated request can cause: a header this long, or with this many
// signatures, is not one a sender would make.
const MAX_SIGNATURE_HEADER_LENGTH = 4096;
const MAX_SIGNATURES = 8;

export type SignatureFailure =
  | 'missing_header'
  | 'malformed_header'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'no_matching_signature';

export type SignatureCheck =
  | { readonly ok: true; readonly timestamp: number }
  | { readonly ok: false; readonly reason: SignatureFailure; readonly message: string };

function hmac(secret: string, timestamp: string, body: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/**
 * The `X-Swarm-Signature` value for `body` sent at `t` (unix seconds; now by default). Senders
 * (and tests, the bench, the docs) sign with this; pass several secrets to sign with each.
 */
export function signPayload(
  secret: string | readonly string[],
  body: Buffer | string,
  t: number = Math.floor(Date.now() / 1000),
): string {
  const timestamp = String(Math.floor(t));
  const secrets = typeof secret === 'string' ? [secret] : secret;
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${hmac(s, timestamp, body).toString('hex')}`)].join(
    ',',
  );
}

function failure(reason: SignatureFailure, message: string): SignatureCheck {
  return { ok: false, reason, message };
}

/**
 * Checks `X-Swarm-Signature` against the raw body and the secrets the trigger accepts now.
 * Every comparison is constant-time, and every signature is compared with every secret, so the
 * time taken says nothing about which part matched.
 */
export function verifySignature(
  header: string | undefined,
  rawBody: Buffer,
  secrets: readonly string[],
  now: Date,
  toleranceSeconds = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (header === undefined || header.trim() === '')
    return failure('missing_header', 'missing X-Swarm-Signature header');
  if (header.length > MAX_SIGNATURE_HEADER_LENGTH)
    return failure('malformed_header', 'X-Swarm-Signature header is too long');
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return failure('malformed_header', 'X-Swarm-Signature: expected "t=<seconds>,v1=<hex>"');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value))
        return failure('malformed_header', 'X-Swarm-Signature: t must be one unix time in seconds');
      timestamp = value;
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value))
        return failure('malformed_header', 'X-Swarm-Signature: v1 must be 64 hex digits (HMAC-SHA256)');
      signatures.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, v2, …) are skipped: a sender may add one before Swarm knows it.
  }
  if (timestamp === undefined) return failure('malformed_header', 'X-Swarm-Signature: no t=<seconds>');
  if (signatures.length === 0) return failure('malformed_header', 'X-Swarm-Signature: no v1=<signature>');
  if (signatures.length > MAX_SIGNATURES)
    return failure('malformed_header', `X-Swarm-Signature: more than ${MAX_SIGNATURES} signatures`);
  const skew = Math.floor(now.getTime() / 1000) - Number(timestamp);
  if (skew > toleranceSeconds)
    return failure(
      'timestamp_too_old',
      `signature timestamp is ${skew} s old (tolerance ${toleranceSeconds} s)`,
    );
  if (-skew > toleranceSeconds) {
    return failure(
      'timestamp_in_future',
      `signature timestamp is ${-skew} s in the future (tolerance ${toleranceSeconds} s)`,
    );
  }
  let matched = false;
  for (const secret of secrets) {
    const expected = hmac(secret, timestamp, rawBody);
    for (const signature of signatures) {
      // Both are 32 bytes (checked above); `&&` would skip comparisons once one matched.
      if (timingSafeEqual(expected, signature)) matched = true;
    }
  }
  if (!matched) return failure('no_matching_signature', 'no signature matches a secret of this webhook');
  return { ok: true, timestamp: Number(timestamp) };
}

export interface WebhookDeps {
  readonly store: Store;
  readonly engine: Engine;
  readonly keyring: Keyring;
  /** Counts rejected signatures per window and source (src/auth/failures.ts), not a row each. */
  readonly failures: AuthFailureSink;
  /** Deepest nesting a JSON body may have (SWARM_BODY_MAX_DEPTH). @default 64 */
  readonly maxBodyDepth?: number;
  /** The clock signatures are checked against. @default the system clock */
  readonly now?: () => Date;
  readonly toleranceSeconds?: number;
}

export interface WebhookRequest {
  /** The part of the URL after `/hooks/`, without the query string. */
  readonly path: string;
  readonly rawBody: Buffer;
  readonly contentType: string | undefined;
  /** Request headers, lower-case names (as Node gives them). */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly ip?: string;
  readonly userAgent?: string;
}

export interface WebhookReceipt {
  /** The run this delivery started, or (a repeat) the first delivery's run. */
  readonly runId: string | null;
  /** True when the delivery id was seen before: nothing new was started. */
  readonly duplicate: boolean;
  /**
   * `started` (a run), or what flow control did instead: `debounced` (a run starts once the
   * trigger's quiet period passes), `throttled` (dropped: over the trigger's limit).
   */
  readonly status: 'started' | 'debounced' | 'throttled';
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : value?.[0];
}

/** The delivery's id from the first delivery-id header present; 400 if it is empty or too long. */
export function deliveryKey(headers: WebhookRequest['headers']): string | null {
  for (const name of DELIVERY_ID_HEADERS) {
    const raw = header(headers, name);
    if (raw === undefined) continue;
    const key = raw.trim();
    if (key === '' || key.length > MAX_DELIVERY_ID_LENGTH) {
      const message = `must be 1 to ${MAX_DELIVERY_ID_LENGTH} characters`;
      throw new SwarmError('INPUT_INVALID', `header ${name}: ${message}`, {
        issues: [{ field: `headers.${name}`, message }],
      });
    }
    return key;
  }
  return null;
}

function unsupportedType(contentType: string | undefined): SwarmError {
  return new SwarmError(
    'INPUT_INVALID',
    `unsupported content type ${contentType === undefined || contentType === '' ? '(none)' : `"${contentType}"`}: send application/json (or a +json type), application/x-www-form-urlencoded or text/plain`,
    { status: 415 },
  );
}

/** The body as trigger data, by its content type. */
export function parseWebhookBody(
  contentType: string | undefined,
  rawBody: Buffer,
  maxDepth = DEFAULT_BODY_MAX_DEPTH,
): unknown {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const text = rawBody.toString('utf8');
  if (mediaType === 'application/json' || /^[a-z0-9!#$&^_.-]+\/[a-z0-9!#$&^_.+-]+\+json$/.test(mediaType)) {
    // Before parsing: what is stored and evaluated later walks the data, and must not overflow.
    // (NUL in a sender's strings is not refused: like agent output, it is stored as U+FFFD.)
    if (jsonTextTooDeep(text, maxDepth)) {
      throw new SwarmError('INPUT_INVALID', `body: ${depthMessage(maxDepth, 'SWARM_BODY_MAX_DEPTH')}`, {
        issues: [{ field: 'body', message: depthMessage(maxDepth, 'SWARM_BODY_MAX_DEPTH') }],
      });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new SwarmError('INPUT_INVALID', `body is not valid JSON: ${(error as Error).message}`, {
        issues: [{ field: 'body', message: 'is not valid JSON' }],
      });
    }
  }
  if (mediaType === 'application/x-www-form-urlencoded') {
    const data: Record<string, string | string[]> = {};
    for (const [name, value] of new URLSearchParams(text)) {
      const seen = data[name];
      data[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    return data;
  }
  if (mediaType === 'text/plain') return { text };
  throw unsupportedType(contentType);
}

/** What a delivery's firing did, as its receipt says. */
function receiptStatus(firing: string | null): WebhookReceipt['status'] {
  return firing === 'refused' ? 'throttled' : firing === 'skipped' ? 'debounced' : 'started';
}

/**
 * Receives one delivery to `/hooks/<path>`: finds the trigger, checks the signature, parses the
 * body and fires the trigger under the delivery's key. Resolves once the firing and its run are
 * committed; throws a SwarmError (404, 401, 415, 400, or what starting the run throws: 409 for a
 * disabled workflow) otherwise.
 */
export async function receiveWebhook(deps: WebhookDeps, request: WebhookRequest): Promise<WebhookReceipt> {
  const { store, engine } = deps;
  // Read once: a valid delivery id is looked up with the trigger (one query, not two); an invalid
  // one is refused only once the signature has been checked.
  let key: string | null = null;
  let keyError: unknown = null;
  try {
    key = deliveryKey(request.headers);
  } catch (error) {
    keyError = error;
  }
  const found = await findWebhookTrigger(store, request.path, key === null ? null : `idem:${key}`);
  if (found === undefined || !found.trigger.enabled)
    throw new SwarmError('NOT_FOUND', `no webhook at /hooks/${request.path}`);
  const { trigger } = found;

  const check = verifySignature(
    header(request.headers, SIGNATURE_HEADER),
    request.rawBody,
    webhookSecrets(deps.keyring, trigger),
    deps.now?.() ?? new Date(),
    deps.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  );
  if (!check.ok) {
    // Counted per window, address and reason: the owner sees rejected deliveries; a sender
    // cannot grow the database by a row per request.
    deps.failures.record({
      kind: 'webhook',
      reason: check.reason,
      resourceId: trigger.id,
      ownerId: trigger.owner_id,
      ...(request.ip === undefined ? {} : { ipAddress: request.ip }),
      ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
    });
    throw new SwarmError('UNAUTHENTICATED', `webhook signature rejected: ${check.message}`, {
      context: { reason: check.reason },
    });
  }

  // Only a signed body is parsed: an unsigned sender cannot make the server parse anything.
  const data = parseWebhookBody(request.contentType, request.rawBody, deps.maxBodyDepth);
  if (keyError !== null) throw keyError;
  const fireKey = key === null ? `req:${newId()}` : `idem:${key}`;

  // A resend usually comes after the first delivery committed: answer it without preparing a run.
  if (found.fired !== null)
    return { runId: found.fired.runId, duplicate: true, status: receiptStatus(found.fired.status) };

  // Flow control (flow.ts): a debounced delivery starts its run later; a throttled one none.
  const flow = await planFlow(trigger, data);
  const what =
    flow !== null && 'debounce' in flow
      ? { debounce: flow.debounce }
      : { run: await prepareFiring(store, engine, trigger, data), ...(flow === null ? {} : flow) };
  // Two deliveries with one key at once both get here; the unique (trigger_id, fire_key) lets
  // one start the run and hands the other that run.
  const outcome = await store.handle.dialect.writeTransaction(store.handle.db, (trx) =>
    recordFiring(trx, engine, trigger, fireKey, what, null),
  );
  return {
    runId: outcome.runId,
    duplicate: outcome.duplicate,
    status: receiptStatus(outcome.status),
  };
}
