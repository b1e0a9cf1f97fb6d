// Per-evaluation cost of Swarm's bounded expressions (src/expressions) against plain jsonata:
// the hot-path templates inline, and the same expressions forced through an evaluator thread.
//   node bench/expressions.mjs [evaluations]     (after npm run build)
import jsonata from 'jsonata';
import { Expression, closeExpressionThreads } from '../dist/expressions/index.js';
import { evaluateInThread } from '../dist/expressions/pool.js';
import { expressionLimits } from '../dist/expressions/limits.js';

const N = Number(process.argv[2] ?? 20_000);
const context = (i) => ({
  trigger: { items: [1, 2, 3], name: 'Ada' },
  variables: {},
  steps: {
    a: { output: { score: 0.7, text: 'hello' }, status: 'completed' },
    fan: { output: null, status: 'running' },
  },
  run: { id: 'r1', workflow: 'w', attempt: 1 },
  item: { i },
  index: i,
});

const ROUNDS = 5;

/**
 * CPU µs per evaluation (the process's, every thread's included), the median of ROUNDS rounds
 * of N: CPU time rather than wall-clock, as a shared machine's load skews the latter.
 */
async function time(run) {
  for (let i = 0; i < Math.min(N, 2000); i++) await run(i); // warm-up
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.cpuUsage();
    for (let i = 0; i < N; i++) await run(i);
    const used = process.cpuUsage(started);
    rounds.push((used.user + used.system) / N);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
}

const rows = [];
for (const source of ['item', 'steps.a.output', '$count(trigger.items)', 'steps.a.output.score > 0.5']) {
  const plain = jsonata(source);
  const bounded = new Expression(source);
  if (!bounded.inline) throw new Error(`${source} is expected to run inline`);
  rows.push({
    expression: source,
    'jsonata CPU µs': (await time((i) => plain.evaluate(context(i)))).toFixed(1),
    'bounded inline CPU µs': (await time((i) => bounded.evaluate(context(i)))).toFixed(1),
    'thread CPU µs': (await time((i) => evaluateInThread(source, context(i), expressionLimits()))).toFixed(1),
  });
}
console.table(rows);
await closeExpressionThreads();
