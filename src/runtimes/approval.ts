/**
 * builtin/approval: waits for a person, holding no worker. The first attempt answers a `Sleep`
 * with an `approval` waitpoint (the worker writes both in one transaction); a decision through
 * the API, the CLI, the dashboard or a signed link settles the waitpoint and wakes the task; the
 * attempt that resumes it reads the outcome back and turns it into the step's output, or its
 * failure. See docs/waiting.md.
 *
 * With `notify`, the step emails a signed link. It does so on a second, immediate wake-up rather
 * than before the first sleep: the link must name an approval that exists, and the waitpoint
 * only exists once the sleep committed. An email sent and then lost to a crash before the step
 * sleeps again is sent again with the same idempotency key (Message-ID), which a server that
 * dedupes by it delivers once.
 */
import { Ajv } from 'ajv';
import { RuntimeError } from './errors.js';
import type { Mailer } from './mail.js';
import { Sleep, type AgentInvocation, type RuntimeContext, type WaitpointRequest } from './types.js';
import { parseDuration } from './duration.js';

/** The waitpoint's key within the task. */
export const APPROVAL_KEY = 'approval';
/** The queue's NEVER (src/queue/waitpoints.ts): a wait without a timeout. */
export const NEVER = new Date('9999-01-01T00:00:00.000Z');
/** Links an approval step emails are valid this long when the approval has no timeout. */
const DEFAULT_LINK_SECONDS = 7 * 86_400;

export type ApproverRole = 'admin' | 'member' | 'viewer';
export type TimeoutAction = 'fail' | 'approve' | 'reject' | 'continue';

export interface ApprovalInput {
  readonly message: string;
  readonly data?: unknown;
  readonly approvers?: { readonly users?: readonly string[]; readonly roles?: readonly ApproverRole[] };
  /** A JSON Schema the decision's `data` must satisfy. */
  readonly form?: Record<string, unknown>;
  /** Seconds, or `30s`, `15m`, `24h`, `7d`. Absent: it waits until decided or cancelled. */
  readonly timeout?: number | string;
  readonly on_timeout?: TimeoutAction;
  readonly notify?: { readonly connector: string; readonly to: readonly string[]; readonly subject?: string };
}

/** What is awaited, as the waitpoint's `spec` keeps it (and the inbox shows it). */
export interface ApprovalSpec {
  readonly message: string;
  readonly data: unknown;
  readonly approvers: ApprovalInput['approvers'] | null;
  readonly form: Record<string, unknown> | null;
}

/** Who decided, as the step's output and the waitpoint's result say it. */
export interface Decider {
  readonly id: string | null;
  readonly email: string | null;
  /** `api` (the API, CLI or dashboard), `link` (a signed link), or `timeout`. */
  readonly via: 'api' | 'link' | 'timeout';
  /** For `link`: which link, and who made it. */
  readonly link?: { readonly id: string; readonly created_by: string };
}

/** A decision as the waitpoint's `result` holds it (written by src/approvals). */
export interface ApprovalDecision {
  readonly decision: 'approve' | 'reject';
  readonly data: unknown;
  readonly comment: string | null;
  readonly decided_by: Decider;
  readonly decided_at: string;
}

export interface ApprovalOutput {
  readonly decision: 'approve' | 'timeout';
  readonly approved: boolean;
  readonly data: unknown;
  readonly comment: string | null;
  readonly decided_by: Decider;
  readonly decided_at: string;
}

/**
 * Makes signed one-time links to an approval (src/approvals implements it, with the server's
 * key). The runtime gets one from the worker; without it, `notify` is refused.
 */
export interface ApprovalLinkMaker {
  create(request: {
    readonly ownerId: string;
    readonly approvalId: string;
    readonly createdBy: string;
    readonly expiresAt: Date;
  }): Promise<{ readonly url: string; readonly expiresAt: string }>;
}

export interface ApprovalDeps {
  readonly mailer?: Mailer;
  readonly links?: ApprovalLinkMaker;
}

/** What the sleeping task keeps: whether the next wake-up is the one that sends the email. */
interface ApprovalState {
  readonly approval_phase: 'notify' | 'wait';
}

const formAjv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

export async function approval(
  input: ApprovalInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: ApprovalDeps,
  now: Date = new Date(),
): Promise<ApprovalOutput | Sleep> {
  if (context.waitpoint === undefined)
    throw new RuntimeError('INTERNAL', 'builtin/approval needs a worker to wait on', { retryable: false });
  const outcome = await context.waitpoint(APPROVAL_KEY);
  if (outcome === null) return ask(input, deps, now);
  const timeoutAt = outcome.timeoutAt === null ? undefined : new Date(outcome.timeoutAt);
  switch (outcome.status) {
    case 'waiting': {
      const phase = (invocation.resumeState as Partial<ApprovalState> | undefined)?.approval_phase;
      if (phase === 'notify' && input.notify !== undefined) {
        await notify(input, invocation, context, deps, outcome.id, timeoutAt, now);
      }
      // Woken before anything settled it (the notification, or a clock a little behind).
      return new Sleep(timeoutAt ?? NEVER, { approval_phase: 'wait' } satisfies ApprovalState, [], {
        ...request(input, timeoutAt),
      });
    }
    case 'resolved':
      return decided(outcome.result as ApprovalDecision);
    case 'timed_out':
      return timedOut(outcome.onTimeout, outcome.resolvedAt ?? now.toISOString());
    case 'cancelled':
      throw new RuntimeError('CONFLICT', 'the approval was cancelled with its run', { retryable: false });
  }
}

/** The first attempt: checks what a person will be shown and asks for the waitpoint. */
function ask(input: ApprovalInput, deps: ApprovalDeps, now: Date): Sleep {
  if (input.form !== undefined) {
    try {
      formAjv.compile(input.form);
    } catch (error) {
      throw RuntimeError.invalidInput(
        'input.form',
        `is not a usable JSON Schema: ${(error as Error).message}`,
      );
    }
  }
  const seconds = input.timeout === undefined ? undefined : parseDuration('input.timeout', input.timeout);
  const timeoutAt = seconds === undefined ? undefined : new Date(now.getTime() + seconds * 1000);
  if (input.notify !== undefined) {
    if (deps.mailer === undefined)
      throw new RuntimeError(
        'INTERNAL',
        'input.notify: this worker has no mailer (SMTP connectors), so it cannot email the approval link',
        { retryable: false, status: 501 },
      );
    if (deps.links === undefined)
      throw new RuntimeError('INTERNAL', 'input.notify: this worker cannot make approval links', {
        retryable: false,
        status: 501,
      });
  }
  // With notify, the task wakes at once to send the link to the approval just written.
  const until = input.notify !== undefined ? now : (timeoutAt ?? NEVER);
  const phase = input.notify !== undefined ? 'notify' : 'wait';
  return new Sleep(until, { approval_phase: phase } satisfies ApprovalState, [], request(input, timeoutAt));
}

function request(input: ApprovalInput, timeoutAt: Date | undefined): WaitpointRequest {
  const spec: ApprovalSpec = {
    message: input.message,
    data: input.data ?? null,
    approvers: input.approvers ?? null,
    form: input.form ?? null,
  };
  return {
    key: APPROVAL_KEY,
    kind: 'approval',
    spec,
    onTimeout: input.on_timeout ?? 'fail',
    ...(timeoutAt === undefined ? {} : { timeoutAt }),
  };
}

async function notify(
  input: ApprovalInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: ApprovalDeps,
  approvalId: string,
  timeoutAt: Date | undefined,
  now: Date,
): Promise<void> {
  const { mailer, links } = deps;
  const notice = input.notify!;
  if (mailer === undefined || links === undefined)
    throw new RuntimeError('INTERNAL', 'input.notify: this worker has no mailer to email the approval link', {
      retryable: false,
      status: 501,
    });
  const expiresAt = timeoutAt ?? new Date(now.getTime() + DEFAULT_LINK_SECONDS * 1000);
  const link = await links.create({
    ownerId: invocation.ownerId,
    approvalId,
    createdBy: `step:${invocation.taskId}`,
    expiresAt,
  });
  const subject = notice.subject ?? `Approval needed: ${oneLine(input.message, 120)}`;
  const data = input.data === undefined ? '' : `\n\n${JSON.stringify(input.data, null, 2)}`;
  const text = `${input.message}${data}\n\nApprove or reject: ${link.url}\n(one use; valid until ${link.expiresAt})\n`;
  const html =
    `<p>${escapeHtml(input.message)}</p>` +
    (input.data === undefined ? '' : `<pre>${escapeHtml(JSON.stringify(input.data, null, 2))}</pre>`) +
    `<p><a href="${escapeHtml(link.url)}">Approve or reject</a> (one use; valid until ${escapeHtml(link.expiresAt)})</p>`;
  const sent = await mailer.send(
    invocation.ownerId,
    {
      connector: notice.connector,
      to: notice.to,
      subject,
      text,
      html,
      idempotencyKey: invocation.idempotencyKey,
    },
    context.signal,
  );
  // The link is a credential: the log names the recipients, never the URL.
  context.log('info', `approval link emailed to ${sent.accepted.join(', ') || 'nobody'}`, {
    messageId: sent.messageId,
    rejected: sent.rejected,
  });
}

function decided(result: ApprovalDecision): ApprovalOutput {
  if (result.decision === 'reject') throw rejected(result.decided_by, result.comment);
  return {
    decision: 'approve',
    approved: true,
    data: result.data ?? null,
    comment: result.comment ?? null,
    decided_by: result.decided_by,
    decided_at: result.decided_at,
  };
}

function timedOut(action: TimeoutAction, at: string): ApprovalOutput {
  const byTimeout: Decider = { id: null, email: null, via: 'timeout' };
  switch (action) {
    case 'approve':
      return {
        decision: 'approve',
        approved: true,
        data: null,
        comment: null,
        decided_by: byTimeout,
        decided_at: at,
      };
    case 'continue':
      return {
        decision: 'timeout',
        approved: false,
        data: null,
        comment: null,
        decided_by: byTimeout,
        decided_at: at,
      };
    case 'reject':
      throw rejected(byTimeout, null);
    case 'fail':
      throw new RuntimeError('APPROVAL_TIMEOUT', `nobody decided the approval before its timeout (${at})`, {
        retryable: false,
        context: { timed_out_at: at },
      });
  }
}

/** Who decided, as a failure's message names them (with their comment, quoted, if any). */
export function describeDecision(by: Decider, comment: string | null): string {
  const who =
    by.via === 'timeout'
      ? 'its timeout (on_timeout: reject)'
      : by.via === 'link'
        ? `a signed link made by ${by.link?.created_by ?? 'unknown'}`
        : (by.email ?? by.id ?? 'unknown');
  return comment === null || comment === '' ? who : `${who}: ${JSON.stringify(comment)}`;
}

function rejected(by: Decider, comment: string | null): RuntimeError {
  return new RuntimeError(
    'APPROVAL_REJECTED',
    `the approval was rejected by ${describeDecision(by, comment)}`,
    {
      retryable: false,
      context: { decided_by: by, comment },
    },
  );
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
