/**
 * An evaluator thread: evaluates one expression at a time for the main thread (pool.ts) under
 * jsonata's own time and depth checks, and measures the result. The main thread stops the
 * thread when an evaluation outlives its time limit anyway (a single native call — a
 * backtracking regular expression, `$pad` to 20 million characters — cannot be interrupted
 * from inside), and V8 stops it when it outgrows its heap (`resourceLimits`).
 */
import { parentPort } from 'node:worker_threads';
import jsonata from 'jsonata';
import { jsonExceeds } from './size.js';
import type { ThreadReply, ThreadRequest } from './protocol.js';

/** A reply to one request. */
type Answer = Exclude<ThreadReply, { readonly ready: true }>;

const port = parentPort;
if (port === null) throw new Error('thread.js runs as a worker thread');

/** Compiled expressions by limits and source, bounded, oldest out first. */
const compiled = new Map<string, jsonata.Expression>();
const MAX_COMPILED = 500;

function compile(request: ThreadRequest): jsonata.Expression {
  const key = `${request.limits.timeoutMs}:${request.limits.maxDepth}:${request.source}`;
  let expression = compiled.get(key);
  if (expression === undefined) {
    expression = jsonata(request.source, {
      timeout: request.limits.timeoutMs,
      stack: request.limits.maxDepth,
    });
    expression.registerFunction('pad', pad, '<s-ns?:s>');
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, expression);
  }
  return expression;
}

/**
 * jsonata's `$pad`, made linear: jsonata builds the padding by joining a holey array, a single
 * native call that takes seconds for millions of characters and that terminating the thread
 * cannot interrupt (the thread keeps a core busy until it returns). The same result: `char`
 * (a space when empty) repeated to `|width|` characters (code points) in all.
 */
function pad(str: string | undefined, width: number, char?: string): string | undefined {
  if (str === undefined) return undefined;
  const fill = char === undefined || char.length === 0 ? ' ' : char;
  const target = Math.trunc(width);
  const missing = Math.abs(target) - Array.from(str).length;
  if (!(missing > 0)) return str;
  const points = Array.from(fill);
  const padding =
    points.length === 1
      ? fill.repeat(missing)
      : fill.repeat(Math.floor(missing / points.length)) + points.slice(0, missing % points.length).join('');
  return target > 0 ? str + padding : padding + str;
}

async function evaluate(request: ThreadRequest): Promise<Answer> {
  const { id } = request;
  try {
    const result: unknown = await compile(request).evaluate(request.context);
    if (jsonExceeds(result, request.limits.maxResultBytes)) return { id, limit: 'result' };
    return { id, value: result };
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown; position?: unknown; token?: unknown };
    if (e.code === 'D1011') return { id, limit: 'depth' };
    if (e.code === 'D1012') return { id, limit: 'time' };
    return {
      id,
      error: {
        message: typeof e.message === 'string' ? e.message : String(error),
        ...(typeof e.code === 'string' ? { code: e.code } : {}),
        ...(typeof e.position === 'number' ? { position: e.position } : {}),
        ...(typeof e.token === 'string' ? { token: e.token } : {}),
      },
    };
  }
}

port.on('message', (request: ThreadRequest) => {
  void evaluate(request).then((reply) => {
    try {
      // A structured clone: the main thread copies a long string in, rather than parsing it.
      port.postMessage(reply);
    } catch {
      // A result holding a function (`{"f": $uppercase}`) cannot be cloned: as JSON, which
      // leaves functions out, as storing the result would.
      const json = JSON.stringify((reply as { value: unknown }).value);
      port.postMessage({
        id: reply.id,
        value: json === undefined ? undefined : (JSON.parse(json) as unknown),
      });
    }
  });
});
port.postMessage({ ready: true } satisfies ThreadReply);
