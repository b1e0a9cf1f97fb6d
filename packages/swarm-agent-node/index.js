// swarm-agent for Node.js: the Swarm agent protocol in a few functions, with no dependencies.
//
// The worker writes one JSON message on stdin, {"input": ..., "context": {...}}, and reads JSON
// lines from stdout: log, event, message, usage, artifact, and exactly one output (or an error).
// `run(handler)` does all of it: the handler gets the input and a context, and returns the output.
// See docs/runtimes.md in the Swarm repository for the protocol itself.

/** An error the handler throws to fail the attempt; `retryable: false` asks for no retry. */
export class AgentError extends Error {
  constructor(message, { retryable = true } = {}) {
    super(message);
    this.name = 'AgentError';
    this.retryable = retryable;
  }
}

/** Writes one protocol line to stdout. */
export function send(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * Reads the worker's message: everything up to the first newline or the end of stdin, whichever
 * comes first (the worker writes one line and closes stdin; by hand, `echo '{...}' | node x.js`).
 */
export function readMessage(stream = process.stdin) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      // destroy, not pause: a paused pipe kept open by the writer would keep this process alive.
      stream.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const newline = text.indexOf('\n');
      try {
        const message = JSON.parse(newline >= 0 ? text.slice(0, newline) : text);
        if (message === null || typeof message !== 'object') throw new Error('not a JSON object');
        resolve({ input: message.input ?? null, context: message.context ?? {} });
      } catch (error) {
        reject(new AgentError(`bad message on stdin: ${error.message}`, { retryable: false }));
      }
    };
    stream.on('data', (chunk) => {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      if (chunk.includes(10)) finish();
    });
    stream.on('end', finish);
    stream.on('error', (error) => {
      if (!done) reject(error);
    });
  });
}

/** The handler's second argument: who is running, the granted secrets, and the protocol's verbs. */
export function createContext(context = {}) {
  const log = (level) => (message, data) =>
    send({ type: 'log', level, message: String(message), ...(data === undefined ? {} : { data }) });
  return {
    taskId: context.task_id ?? null,
    runId: context.run_id ?? null,
    stepId: context.step_id ?? null,
    attempt: context.attempt ?? 1,
    agent: context.agent ?? null,
    memoryMb: context.memory_mb ?? null,
    /** Only the secrets the manifest's `secret:NAME` permissions grant (also in process.env). */
    secrets: Object.freeze({ ...(context.secrets ?? {}) }),
    log: log('info'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warning'),
    error: log('error'),
    /** Emits an event `{source, type: name, payload}`; needs the `event:emit` permission. */
    emit(name, payload = null, { source, key } = {}) {
      send({ type: 'event', name, payload, ...(source ? { source } : {}), ...(key ? { key } : {}) });
    },
    /** Reports tokens and cost (e.g. of a model call); they add up over the attempt. */
    usage({ tokens, inputTokens, outputTokens, cost, model, provider } = {}) {
      send({
        type: 'usage',
        ...(tokens === undefined ? {} : { tokens }),
        ...(inputTokens === undefined ? {} : { input_tokens: inputTokens }),
        ...(outputTokens === undefined ? {} : { output_tokens: outputTokens }),
        ...(cost === undefined ? {} : { cost }),
        ...(model === undefined ? {} : { model }),
        ...(provider === undefined ? {} : { provider }),
      });
    },
    /**
     * A message to another agent (or to no one in particular: `to` null). `type`: request,
     * response, status_update, error or broadcast (default: broadcast without `to`, else request).
     */
    message(to, content, { type } = {}) {
      send({
        type: 'message',
        to: to ?? null,
        content,
        ...(type === undefined ? {} : { message_type: type }),
      });
    },
    /** An artifact: inline `content` (text, or base64 with encoding 'base64') or a `path` it wrote. */
    artifact({ name, content, path, contentType, encoding } = {}) {
      send({
        type: 'artifact',
        name,
        ...(content === undefined ? {} : { content }),
        ...(path === undefined ? {} : { path }),
        ...(contentType === undefined ? {} : { content_type: contentType }),
        ...(encoding === undefined ? {} : { encoding }),
      });
    },
  };
}

function exit(code) {
  // The callback runs once everything written before has been handed to the pipe.
  process.stdout.write('', () => process.exit(code));
}

/**
 * Runs an agent: reads the message, calls `handler(input, ctx)`, writes its result as the output
 * line and exits 0; a thrown error becomes an error line and exit 1. The process exits when the
 * handler is done, even if it left timers or sockets open.
 */
export async function run(handler) {
  try {
    const { input, context } = await readMessage();
    const output = await handler(input, createContext(context));
    send({ type: 'output', output: output === undefined ? null : output });
    exit(0);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    send({
      type: 'error',
      message,
      ...(typeof error?.retryable === 'boolean' ? { retryable: error.retryable } : {}),
    });
    exit(1);
  }
}
