// Speaks in a conversation: the minutes so far — how many messages each speaker has said in the
// transcript it received.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ round, speaker, transcript }) => {
  const counts = {};
  for (const message of transcript ?? []) counts[message.from] = (counts[message.from] ?? 0) + 1;
  const minutes = Object.entries(counts).map(([name, n]) => `${name} ×${n}`);
  return { text: `${speaker} (round ${round}): minutes — ${minutes.join(', ') || 'nothing yet'}`, counts };
});
