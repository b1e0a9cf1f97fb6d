// Worker protocol: one JSON message {input, context} on stdin; one JSON line on stdout,
// {"type":"output","output": ...} on success or {"type":"error","message": ...} with exit 1.
// The message ends at the first newline or at end of input, whichever comes first, so this works
// whether or not the worker closes stdin after writing.

let buffer = '';
let done = false;

function finish(text) {
  if (done) return;
  done = true;
  try {
    const message = JSON.parse(text);
    process.stdout.write(`${JSON.stringify({ type: 'output', output: message.input ?? null })}\n`);
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ type: 'error', message: `bad message on stdin: ${error.message}` })}\n`,
    );
    process.exitCode = 1;
  }
  // destroy, not pause: a paused pipe the worker keeps open would keep this process alive.
  process.stdin.destroy();
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  const newline = buffer.indexOf('\n');
  if (newline >= 0) finish(buffer.slice(0, newline));
});
process.stdin.on('end', () => finish(buffer));
