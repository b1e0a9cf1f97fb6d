// Keyword sentiment, written with the swarm-agent helper (packages/swarm-agent-node), imported by
// relative path so it runs from a fresh clone without an install.
import { run } from '../../../packages/swarm-agent-node/index.js';

// Common English opinion words (a small lexicon in the spirit of Hu & Liu's): enough for the
// examples' sentences to come out as a person would label them.
const POSITIVE = new Set(
  `good great excellent love loved loves lovely like liked likes happy glad nice wonderful amazing
  awesome best better fast thanks thank perfect beautiful brilliant sunny bright pleasant enjoy
  enjoyed fantastic fun helpful superb delightful cheerful calm clean easy fine smooth solid win
  works working fixed success successful well warm friendly impressive recommend`.split(/\s+/),
);
const NEGATIVE = new Set(
  `bad terrible awful hate hated hates dislike sad poor worst worse slow broken angry bug bugs fail
  failed fails failing failure horrible ugly annoying annoyed disappointing disappointed useless
  wrong crash crashed crashes error errors rainy gloomy boring confusing difficult hard painful
  problem problems slowly unhappy upset waste expensive late lost missing flaky`.split(/\s+/),
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

// A thrown error becomes an error line and exit 1 (an AgentError can also say retryable: false).
// The worker already checked the input against input_schema; this guards runs by hand.
run((input) => {
  if (typeof input?.text !== 'string') throw new Error('input.text must be a string');
  return analyse(input.text);
});
