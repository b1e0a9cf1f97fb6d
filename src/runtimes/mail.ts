/**
 * How builtins send email (builtin/send_email, an approval's notification): through one of the
 * owner's `smtp` connectors, by name. The worker is given a Mailer (src/connectors/); a runtime
 * built without one refuses to send rather than pretending to.
 */
export interface OutgoingEmail {
  /** The owner's smtp connector, by name. */
  readonly connector: string;
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly bcc?: readonly string[];
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  readonly attachments?: readonly EmailAttachment[];
  /**
   * The same for every attempt of the step (AgentInvocation.idempotencyKey): sent as the
   * message's `Message-ID` and an `Idempotency-Key` header, so a server that dedupes by it
   * delivers a retried step's email once.
   */
  readonly idempotencyKey: string;
}

export interface EmailAttachment {
  readonly filename: string;
  readonly contentType?: string;
  /** The bytes, base64. */
  readonly contentBase64: string;
}

export interface SentEmail {
  readonly messageId: string;
  readonly accepted: readonly string[];
  readonly rejected: readonly string[];
}

export interface Mailer {
  /** Sends as `ownerId`, through their connector; rejects with a RuntimeError naming the field. */
  send(ownerId: string, email: OutgoingEmail, signal: AbortSignal): Promise<SentEmail>;
}
