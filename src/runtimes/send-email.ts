/**
 * builtin/send_email: one message through one of the owner's smtp connectors. The Mailer sends;
 * this resolves the input (recipients, attachments from the run's artifacts) and makes the
 * message's Message-ID the invocation's idempotency key, the same for every attempt of the step.
 */
import type { ArtifactSource } from './connectors.js';
import { RuntimeError } from './errors.js';
import type { EmailAttachment, Mailer } from './mail.js';
import type { AgentInvocation, RuntimeContext } from './types.js';

export interface SendEmailInput {
  connector: string;
  to: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  subject: string;
  text?: string;
  html?: string;
  attachments?: Array<
    | { artifact: string; filename?: string }
    | { filename: string; content: string; encoding?: 'utf8' | 'base64'; content_type?: string }
  >;
}

export interface SendEmailOutput {
  message_id: string;
  accepted: string[];
  rejected: string[];
}

/** An address, or `Name <address>`: no line breaks (they would forge headers). */
const ADDRESS = /^[^\r\n]*[^\s@<>]+@[^\s@<>]+[^\r\n]*$/;

function addresses(value: string | string[] | undefined, field: string): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  list.forEach((address, i) => {
    if (!ADDRESS.test(address))
      throw RuntimeError.invalidInput(
        Array.isArray(value) ? `${field}[${i}]` : field,
        'is not an email address',
      );
  });
  return list;
}

export async function sendEmail(
  input: SendEmailInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: { readonly mailer?: Mailer; readonly artifacts?: ArtifactSource },
): Promise<SendEmailOutput> {
  if (deps.mailer === undefined)
    throw new RuntimeError(
      'INTERNAL',
      'builtin/send_email needs a mailer, which this runtime was built without',
      {
        retryable: false,
      },
    );
  if (input.text === undefined && input.html === undefined)
    throw RuntimeError.invalidInput('input.text', 'give a text or an html body (or both)');
  const to = addresses(input.to, 'input.to');
  const cc = addresses(input.cc, 'input.cc');
  const bcc = addresses(input.bcc, 'input.bcc');
  const attachments: EmailAttachment[] = [];
  for (const [i, item] of (input.attachments ?? []).entries()) {
    attachments.push(await attachment(item, `input.attachments[${i}]`, invocation, deps.artifacts));
  }
  const sent = await deps.mailer.send(
    invocation.ownerId,
    {
      connector: input.connector,
      to,
      ...(cc.length > 0 ? { cc } : {}),
      ...(bcc.length > 0 ? { bcc } : {}),
      subject: input.subject,
      ...(input.text === undefined ? {} : { text: input.text }),
      ...(input.html === undefined ? {} : { html: input.html }),
      ...(attachments.length > 0 ? { attachments } : {}),
      idempotencyKey: invocation.idempotencyKey,
    },
    context.signal,
  );
  // Addresses only: never the body, which may hold anything.
  context.log(
    'info',
    `send_email via ${input.connector}: ${sent.accepted.length} accepted, ${sent.rejected.length} rejected`,
    {
      message_id: sent.messageId,
    },
  );
  return { message_id: sent.messageId, accepted: [...sent.accepted], rejected: [...sent.rejected] };
}

async function attachment(
  item: NonNullable<SendEmailInput['attachments']>[number],
  field: string,
  invocation: AgentInvocation,
  artifacts: ArtifactSource | undefined,
): Promise<EmailAttachment> {
  if (!('artifact' in item)) {
    const base64 = item.encoding === 'base64';
    if (base64 && !/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(item.content))
      throw RuntimeError.invalidInput(`${field}.content`, 'is not base64');
    return {
      filename: item.filename,
      ...(item.content_type === undefined ? {} : { contentType: item.content_type }),
      contentBase64: base64
        ? item.content.replace(/\s+/g, '')
        : Buffer.from(item.content, 'utf8').toString('base64'),
    };
  }
  if (invocation.runId === null)
    throw RuntimeError.invalidInput(`${field}.artifact`, 'a task outside any run has no artifacts to attach');
  if (artifacts === undefined)
    throw new RuntimeError(
      'INTERNAL',
      'builtin/send_email cannot read artifacts: this runtime was built without them',
      {
        retryable: false,
      },
    );
  const found = await artifacts.read(invocation.ownerId, invocation.runId, item.artifact);
  if (found === null)
    throw RuntimeError.invalidInput(`${field}.artifact`, `this run has no artifact named "${item.artifact}"`);
  return item.filename === undefined ? found : { ...found, filename: item.filename };
}
