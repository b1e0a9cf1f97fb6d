// Worker protocol: one JSON message {input, context} on stdin (one line, or until end of input);
// one JSON line on stdout, {"type":"output","output": ...} or {"type":"error","message": ...}
// with exit 1.

const POSITIVE = new Set(
  'good great excellent love like happy nice wonderful amazing best fast thanks perfect'.split(' '),
);
const NEGATIVE = new Set(
  'bad terrible awful hate dislike sad poor worst slow broken angry bug fail'.split(' '),
);
const NEGATORS = new Set("not no never don't isn't wasn't doesn't".split(' '));

/** Score in [-1, 1]: (positive - negative) / matched keywords; 0 when none matched. */
function analyse(text) {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  let positive = 0;
  let negative = 0;
  const matches = [];
  words.forEach((word, i) => {
    const polarity = POSITIVE.has(word) ? 1 : NEGATIVE.has(word) ? -1 : 0;
    if (polarity === 0) return;
    const flipped = i > 0 && NEGATORS.has(words[i - 1]) ? -polarity : polarity;
    if (flipped > 0) positive++;
    else negative++;
    matches.push(flipped === polarity ? word : `${words[i - 1]} ${word}`);
  });
  const total = positive + negative;
  const score = total === 0 ? 0 : Math.round(((positive - negative) / total) * 1000) / 1000;
  const label = score > 0 ? 'positive' : score < 0 ? 'negative' : 'neutral';
  return { label, score, matches };
}

function reply(line, code) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
  process.exitCode = code;
}

let buffer = '';
let done = false;

function finish(text) {
  if (done) return;
  done = true;
  // destroy, not pause: a paused pipe the worker keeps open would keep this process alive.
  process.stdin.destroy();
  let input;
  try {
    input = JSON.parse(text).input;
  } catch (error) {
    return reply({ type: 'error', message: `bad message on stdin: ${error.message}` }, 1);
  }
  if (typeof input?.text !== 'string')
    return reply({ type: 'error', message: 'input.text must be a string' }, 1);
  reply({ type: 'output', output: analyse(input.text) }, 0);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  const newline = buffer.indexOf('\n');
  if (newline >= 0) finish(buffer.slice(0, newline));
});
process.stdin.on('end', () => finish(buffer));
