"""swarm-agent for Python: the Swarm agent protocol in a few functions. Standard library only.

The worker writes one JSON message on stdin, {"input": ..., "context": {...}}, and reads JSON
lines from stdout: log, event, message, usage, artifact, and exactly one output (or an error).
``run(handler)`` does all of it: the handler gets the input and a context and returns the output.
With SWARM_AGENT_MODE=persistent in its environment (a ``mode: persistent`` agent) the process
reads one task message after another instead and runs the handler for each.
See docs/runtimes.md in the Swarm repository for the protocol itself.

    from swarm_agent import run

    def handle(input, ctx):
        ctx.log("counting")
        return {"words": len(input["text"].split())}

    if __name__ == "__main__":
        run(handle)
"""

import json
import os
import sys

__all__ = ["AgentError", "Context", "is_persistent", "read_message", "run", "send", "serve"]
__version__ = "0.1.0"


class AgentError(Exception):
    """Raise it to fail the attempt; ``retryable=False`` asks for no retry."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.retryable = retryable


def send(line):
    """Writes one protocol line to stdout (UTF-8, whatever the locale)."""
    data = (json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def read_message(stream=None):
    """The worker's message: the first line of stdin (or all of it when there is no newline)."""
    stream = stream if stream is not None else sys.stdin.buffer
    raw = stream.readline()
    try:
        message = json.loads(raw.decode("utf-8"))
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        raise AgentError("bad message on stdin: %s" % error, retryable=False)
    return message.get("input"), message.get("context") or {}


def _only(**fields):
    return {key: value for key, value in fields.items() if value is not None}


class Context:
    """The handler's second argument: who is running, the granted secrets, the protocol's verbs."""

    def __init__(self, context=None):
        context = context or {}
        self.task_id = context.get("task_id")
        self.run_id = context.get("run_id")
        self.step_id = context.get("step_id")
        self.attempt = context.get("attempt", 1)
        self.agent = context.get("agent")
        self.memory_mb = context.get("memory_mb")
        # Only the secrets the manifest's secret:NAME permissions grant (also in os.environ).
        self.secrets = dict(context.get("secrets") or {})

    def log(self, message, data=None, level="info"):
        send(_only(type="log", level=level, message=str(message), data=data))

    def debug(self, message, data=None):
        self.log(message, data, "debug")

    def info(self, message, data=None):
        self.log(message, data, "info")

    def warn(self, message, data=None):
        self.log(message, data, "warning")

    def error(self, message, data=None):
        self.log(message, data, "error")

    def emit(self, name, payload=None, source=None, key=None):
        """Emits an event {source, type: name, payload}; needs the event:emit permission."""
        line = _only(type="event", name=name, source=source, key=key)
        line["payload"] = payload
        send(line)

    def usage(self, tokens=None, input_tokens=None, output_tokens=None, cost=None, model=None, provider=None):
        """Reports tokens and cost (e.g. of a model call); they add up over the attempt."""
        send(
            _only(
                type="usage",
                tokens=tokens,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost=cost,
                model=model,
                provider=provider,
            )
        )

    def message(self, to, content, message_type=None):
        """A message to another agent (or to no one in particular: to=None); message_type is
        request, response, status_update, error or broadcast (default: broadcast without `to`,
        request with one)."""
        line = {"type": "message", "to": to, "content": content}
        if message_type is not None:
            line["message_type"] = message_type
        send(line)

    def artifact(self, name, content=None, path=None, content_type=None, encoding=None):
        """An artifact: inline content (text, or base64 with encoding="base64") or a path it wrote."""
        send(_only(type="artifact", name=name, content=content, path=path, content_type=content_type, encoding=encoding))


def is_persistent(environ=None):
    """The worker started this process for many tasks (an agent with runtime.mode: persistent)."""
    return (environ if environ is not None else os.environ).get("SWARM_AGENT_MODE") == "persistent"


def _error_line(error):
    line = {"type": "error", "message": str(error) or type(error).__name__}
    if isinstance(error, AgentError):
        line["retryable"] = error.retryable
    return line


def serve(handler, stream=None):
    """Persistent mode: one {"type": "task", "input": ..., "context": ...} line at a time on stdin,
    each answered by the task's lines and its output (or error) line, until stdin ends."""
    stream = stream if stream is not None else sys.stdin.buffer
    for raw in iter(stream.readline, b""):
        if not raw.strip():
            continue
        try:
            message = json.loads(raw.decode("utf-8"))
            if not isinstance(message, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            # The worker never sends one; answered so that whoever did sees where its task ended.
            send(_error_line(AgentError("bad task message on stdin: %s" % error, retryable=False)))
            continue
        try:
            output = handler(message.get("input"), Context(message.get("context") or {}))
            send({"type": "output", "output": output})
        except Exception as error:  # this task fails; the process serves the next one
            send(_error_line(error))


def run(handler):
    """Reads the message, calls handler(input, ctx), writes the output line and exits 0; an
    exception becomes an error line and exit status 1.

    Started in persistent mode (SWARM_AGENT_MODE=persistent), it calls the same handler for every
    task message on stdin instead and exits 0 when stdin ends. Module-level state then lives from
    one task to the next: keep nothing of one task's input or secrets there that the next task
    should not see."""
    if is_persistent():
        serve(handler)
        sys.exit(0)
    try:
        input_value, context = read_message()
        output = handler(input_value, Context(context))
        send({"type": "output", "output": output})
    except Exception as error:  # the attempt fails with the message, whatever it was
        send(_error_line(error))
        sys.exit(1)
    sys.exit(0)
