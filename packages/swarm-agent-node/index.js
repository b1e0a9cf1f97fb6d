// swarm-agent for Node.js: the Swarm agent protocol in a few functions, with no dependencies.
//
// The worker writes one JSON message on stdin, {"input": ..., "context": {...}}, and reads JSON
// lines from stdout: log, event, message, usage, artifact, and exactly one output (or an error).
// `run(handler)` does all of it: the handler gets the input and a context, and returns the output.
// With SWARM_AGENT_MODE=persistent in its environment (a `mode: persistent` agent), the process
// reads one task message after another instead and runs the handler for each.
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

/** The worker started this process for many tasks (an agent with `runtime.mode: persistent`). */
export function isPersistent(env = process.env) {
  return env.SWARM_AGENT_MODE === 'persistent';
}

function errorLine(error) {
  const message = error instanceof Error ? error.message : String(error);
  return {
    type: 'error',
    message,
    ...(typeof error?.retryable === 'boolean' ? { retryable: error.retryable } : {}),
  };
}

/**
 * Persistent mode: one `{"type":"task","input":…,"context":…}` line at a time on stdin, each
 * answered by the task's lines and its output (or error) line, until stdin ends. Tasks run one
 * after another, never two at once.
 */
async function serve(handler, stream) {
  let buffered = '';
  const queue = [];
  let wake = null;
  let ended = false;
  stream.setEncoding('utf8');
  stream.on('data', (text) => {
    buffered += text;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      queue.push(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
    wake?.();
  });
  stream.on('end', () => {
    ended = true;
    wake?.();
  });
  for (;;) {
    while (queue.length === 0 && !ended) await new Promise((resolve) => (wake = resolve));
    wake = null;
    if (queue.length === 0) return;
    const text = queue.shift();
    if (text.trim() === '') continue;
    let message;
    try {
      message = JSON.parse(text);
      if (message === null || typeof message !== 'object') throw new Error('not a JSON object');
    } catch (error) {
      // The worker never sends one; answered so that whoever did sees where its task ended.
      send(errorLine(new AgentError(`bad task message on stdin: ${error.message}`, { retryable: false })));
      continue;
    }
    try {
      const output = await handler(message.input ?? null, createContext(message.context ?? {}));
      send({ type: 'output', output: output === undefined ? null : output });
    } catch (error) {
      send(errorLine(error));
    }
  }
}

/**
 * Runs an agent: reads the message, calls `handler(input, ctx)`, writes its result as the output
 * line and exits 0; a thrown error becomes an error line and exit 1. The process exits when the
 * handler is done, even if it left timers or sockets open.
 *
 * Started in persistent mode (SWARM_AGENT_MODE=persistent), it calls the same handler for every
 * task message on stdin instead, and exits 0 when stdin ends. Module-level state then lives from
 * one task to the next (a warm cache, an open client): keep nothing of one task's input or secrets
 * there that the next task should not see.
 */
export async function run(handler) {
  if (isPersistent()) {
    await serve(handler, process.stdin);
    exit(0);
    return;
  }
  try {
    const { input, context } = await readMessage();
    const output = await handler(input, createContext(context));
    send({ type: 'output', output: output === undefined ? null : output });
    exit(0);
  } catch (error) {
    send(errorLine(error));
    exit(1);
  }
}
