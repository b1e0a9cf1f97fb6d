/**
 * `/approve/<token>`: a signed one-time link's page, for people deciding from an email or a chat
 * message without signing in. `GET` shows the message, the data and Approve/Reject (a plain HTML
 * form: no script); `POST` decides. The token is the credential, so the routes are public and
 * need no CSRF token: a forged cross-site POST would have to know the token already. Neither
 * answer is cached, framed or sent on as a referrer. A token is 256 bits of
 * HMAC: guessing one is hopeless, so no counting of bad ones is needed to keep it safe.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { approvalOfLink, decideByLink, type Approval, type DecisionInput } from '../../approvals/index.js';
import { ERROR_CODES, isSwarmError, SwarmError } from '../../errors/index.js';
import type { Keyring } from '../../secrets/index.js';
import type { Store } from '../../storage/index.js';

const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
// A wildcard, not `:token`: a token is longer than the router's limit on a parameter (100).
const tokenParams = {
  type: 'object',
  required: ['*'],
  properties: { '*': { type: 'string', minLength: 1, maxLength: 512, description: 'the token' } },
} as const;

export function approvalLinkRoutes(app: FastifyInstance, store: Store, keyring: () => Keyring): void {
  void app.register(async (scope) => {
    // An HTML form posts application/x-www-form-urlencoded, which the API does not otherwise take.
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    scope.get<{ Params: { '*': string } }>(
      '/approve/*',
      {
        config: { scope: 'public' },
        schema: {
          tags: ['approvals'],
          summary: "A signed approval link's page (HTML): the message, the data, Approve and Reject",
          params: tokenParams,
        },
      },
      async (request, reply) => {
        try {
          const approval = await approvalOfLink(store.handle, keyring(), request.params['*']);
          return page(reply, 200, 'Approval needed', decisionForm(approval, request.url));
        } catch (error) {
          return refused(request, reply, error);
        }
      },
    );

    scope.post<{ Params: { '*': string }; Body: Record<string, unknown> | undefined }>(
      '/approve/*',
      {
        config: { scope: 'public' },
        schema: {
          tags: ['approvals'],
          summary: 'Decides through a signed one-time link (form or JSON: decision, comment, data as JSON)',
          params: tokenParams,
        },
      },
      async (request, reply) => {
        try {
          const input = decisionOf(request.body);
          const userAgent = request.headers['user-agent'];
          const approval = await decideByLink(store.handle, keyring(), request.params['*'], input, {
            ipAddress: request.ip,
            ...(userAgent === undefined ? {} : { userAgent }),
          });
          const verb = approval.decision === 'approve' ? 'Approved' : 'Rejected';
          return page(
            reply,
            200,
            verb,
            `<p>${verb}. The workflow has been told; this link is now used up.</p>`,
          );
        } catch (error) {
          return refused(request, reply, error);
        }
      },
    );
  });
}

/** The posted form (or JSON): `decision`, `comment`, and `data` as JSON text (or a value). */
function decisionOf(body: Record<string, unknown> | undefined): DecisionInput {
  const decision = body?.decision;
  if (decision !== 'approve' && decision !== 'reject')
    throw new SwarmError('INPUT_INVALID', 'decision: must be approve or reject', {
      issues: [{ field: 'decision', message: 'must be approve or reject' }],
    });
  const comment =
    typeof body?.comment === 'string' && body.comment.trim() !== '' ? body.comment.slice(0, 4000) : undefined;
  let data = body?.data;
  if (typeof data === 'string') {
    if (data.trim() === '') data = undefined;
    else
      try {
        data = JSON.parse(data) as unknown;
      } catch {
        throw new SwarmError('INPUT_INVALID', 'data: is not valid JSON', {
          issues: [{ field: 'data', message: 'is not valid JSON' }],
        });
      }
  }
  return { decision, ...(comment === undefined ? {} : { comment }), ...(data === undefined ? {} : { data }) };
}

function decisionForm(approval: Approval, action: string): string {
  const data =
    approval.data === null ? '' : `<h2>Data</h2><pre>${escape(JSON.stringify(approval.data, null, 2))}</pre>`;
  const form =
    approval.form === null
      ? ''
      : `<label>Your answer (JSON matching the form below)<textarea name="data" rows="6">{}</textarea></label>` +
        `<details><summary>Form</summary><pre>${escape(JSON.stringify(approval.form, null, 2))}</pre></details>`;
  const where = [approval.workflowName, approval.stepId].filter((x) => x !== null).join(' · ');
  const until =
    approval.timeoutAt === null ? '' : `<p class="muted">Decide before ${escape(approval.timeoutAt)}.</p>`;
  return (
    `${where === '' ? '' : `<p class="muted">${escape(where)}</p>`}` +
    `<p class="message">${escape(approval.message)}</p>${data}${until}` +
    `<form method="post" action="${escape(action)}">${form}` +
    `<label>Comment (optional)<textarea name="comment" rows="3"></textarea></label>` +
    `<div class="buttons"><button type="submit" name="decision" value="approve">Approve</button>` +
    `<button type="submit" name="decision" value="reject">Reject</button></div></form>`
  );
}

/**
 * A refusal as a page for a browser; a client that asks for JSON (and not HTML) gets the API's
 * problem+json instead, through the app's error handler, like every other route.
 */
function refused(request: FastifyRequest, reply: FastifyReply, error: unknown) {
  const accept = request.headers.accept ?? '';
  if (!isSwarmError(error) || (/json/i.test(accept) && !/text\/html/i.test(accept))) throw error;
  const status = ERROR_CODES[error.code].status;
  return page(
    reply,
    status,
    ERROR_CODES[error.code].title,
    `<p>${escape(error.message)}</p><p class="muted">${error.code}</p>`,
  );
}

function page(reply: FastifyReply, status: number, title: string, body: string) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
        `<meta name="robots" content="noindex"><title>${escape(title)} · Swarm</title><style>${STYLE}</style></head>` +
        `<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`,
    );
}

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}' +
  'main{max-width:40rem;margin:3rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}' +
  'pre{background:#f0f2f5;padding:.75rem;overflow:auto;border-radius:4px}.muted{color:#5b6470;font-size:.9em}' +
  'label{display:block;margin:.75rem 0}textarea{display:block;width:100%;box-sizing:border-box;font:inherit}' +
  '.message{font-size:1.15em;white-space:pre-wrap}.buttons{display:flex;gap:.75rem;margin-top:1rem}' +
  'button{font:inherit;padding:.5rem 1.25rem;border-radius:4px;border:1px solid #888;cursor:pointer}' +
  'button[value=approve]{background:#1f7a3a;color:#fff;border-color:#1f7a3a}';

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
