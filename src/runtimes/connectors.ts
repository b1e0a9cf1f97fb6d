/**
 * What the builtins need from connectors (src/connectors/ implements it; the runtimes never read
 * the database): an owner's `http` connector with its secrets resolved, and a run's artifacts as
 * email attachments. Both are looked up for the task's owner only.
 */
import type { EmailAttachment } from './mail.js';

/** An `http` connector as builtin/http_request applies it, its secret resolved at send time. */
export interface ResolvedHttpConnector {
  readonly name: string;
  /** Absolute http(s) URL; the request's relative `url` is appended to it. */
  readonly baseUrl: string;
  /** The connector's default headers (lower-case names); the request's own override them. */
  readonly headers: Readonly<Record<string, string>>;
  /** The auth header(s), values included; they override the request's headers of that name. */
  readonly authHeaders: Readonly<Record<string, string>>;
  /** The secret values it holds, by secret name: redacted from what the request produces. */
  readonly secrets: Readonly<Record<string, string>>;
}

export interface HttpConnectors {
  /** The owner's http connector `name`; rejects with NOT_FOUND (non-retryable) when there is none. */
  http(ownerId: string, name: string): Promise<ResolvedHttpConnector>;
}

export interface ArtifactSource {
  /** The newest artifact of the owner's run called `name`, as an attachment; null when there is none. */
  read(ownerId: string, runId: string, name: string): Promise<EmailAttachment | null>;
}
