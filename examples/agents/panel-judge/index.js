// A deterministic judge: the longest candidate (as JSON text) wins, the earliest on a tie; its
// confidence is the share of candidates identical to it. Returns {choice, confidence, reasoning},
// the verdict a judge_based consensus step checks.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ candidates }) => {
  const texts = candidates.map((c) => JSON.stringify(c ?? null));
  let choice = 0;
  texts.forEach((t, i) => {
    if (t.length > texts[choice].length) choice = i;
  });
  const same = texts.filter((t) => t === texts[choice]).length;
  return {
    choice,
    confidence: Math.round((same / texts.length) * 100) / 100,
    reasoning: `candidate ${choice} is the longest (${texts[choice].length} characters); ${same} of ${texts.length} candidates said the same`,
  };
});
