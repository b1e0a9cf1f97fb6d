// Plans for the hierarchical pattern. Round 1: the text in 3 parts, alternating over the pool.
// Round 2: one more subtask (the joined outputs, to the last pool member). Round 3: the answer.
// With `input.keep_delegating: true` it never answers (to show max_rounds stop it).
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ input, round, results, pool }) => {
  const text = String(input?.text ?? '');
  if (input?.keep_delegating === true)
    return { subtasks: [{ to: pool[0], input: { text: `again ${round}` } }] };
  if (round === 1) {
    const words = text.split(/\s+/).filter(Boolean);
    const size = Math.ceil(words.length / 3) || 1;
    const parts = [0, 1, 2].map((i) => words.slice(i * size, (i + 1) * size).join(' ') || '-');
    return { subtasks: parts.map((part, i) => ({ to: pool[i % pool.length], input: { text: part } })) };
  }
  if (round === 2) {
    const seen = results.map((r) => JSON.stringify(r.output ?? r.error)).join(' | ');
    return { subtasks: [{ to: pool[pool.length - 1], input: { text: `review: ${seen}` } }] };
  }
  return { done: true, answer: { parts: results.length, outputs: results.map((r) => r.output ?? null) } };
});
