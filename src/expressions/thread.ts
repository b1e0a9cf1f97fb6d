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
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, expression);
  }
  return expression;
}

async function evaluate(request: ThreadRequest): Promise<ThreadReply> {
  const { id } = request;
  try {
    const result: unknown = await compile(request).evaluate(request.context);
    if (jsonExceeds(result, request.limits.maxResultBytes)) return { id, limit: 'result' };
    // JSON, not a structured clone: a result may hold functions (a clone throws on them, JSON
    // leaves them out, as storing the result would) and jsonata's sequence markers.
    return { id, json: JSON.stringify(result) };
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
  void evaluate(request).then((reply) => port.postMessage(reply));
});
port.postMessage({ ready: true } satisfies ThreadReply);
