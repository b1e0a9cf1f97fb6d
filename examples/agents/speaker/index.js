// Speaks in a round_robin, selector or mesh conversation: tells who spoke last and how many
// messages it heard, and says done once the round reaches input.done_at (if given).
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ input, round, speaker, transcript, previous }) => {
  const heard = Array.isArray(transcript) ? transcript.length : 0;
  const last = heard > 0 ? transcript[heard - 1].from : null;
  const topic = input?.topic ?? 'the topic';
  return {
    text: `${speaker} (round ${round}) on ${topic}: ${last ? `building on ${last}` : 'opening'}`,
    heard,
    previous: previous ?? null,
    ...(typeof input?.done_at === 'number' && round >= input.done_at ? { done: true } : {}),
  };
});
