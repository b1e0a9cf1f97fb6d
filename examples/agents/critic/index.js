// Speaks in a conversation: questions the last speaker until it has heard `input.patience`
// messages (default 5), then agrees. A round_robin `until: last.content.agree = true` stops there.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ input, round, speaker, transcript }) => {
  const heard = Array.isArray(transcript) ? transcript.length : 0;
  const last = heard > 0 ? transcript[heard - 1].from : null;
  const agree = heard >= (typeof input?.patience === 'number' ? input.patience : 5);
  const text = agree
    ? `${speaker} (round ${round}): convinced after ${heard} messages`
    : `${speaker} (round ${round}): ${last ? `${last}, where is the evidence?` : 'I doubt it'}`;
  return { text, heard, agree };
});
