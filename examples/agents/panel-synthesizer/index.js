// Combines proposals: a reviewer's {verdict} counts as one vote; a synthesis from the layer before
// ({verdict, approvals, of}) brings its own counts along, so every layer keeps the original tally.
// The majority verdict wins; confidence is its share of the votes.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ proposals }) => {
  let approvals = 0;
  let of = 0;
  for (const p of proposals) {
    if (typeof p?.of === 'number') {
      approvals += p.approvals;
      of += p.of;
    } else {
      approvals += p?.verdict === 'approve' ? 1 : 0;
      of += 1;
    }
  }
  // Layers whose agents all saw the same proposals repeat the same tally: count it once.
  const layered = proposals.every((p) => typeof p?.of === 'number');
  if (layered) {
    approvals /= proposals.length;
    of /= proposals.length;
  }
  const verdict = approvals * 2 > of ? 'approve' : 'reject';
  const share = verdict === 'approve' ? approvals / of : (of - approvals) / of;
  return { verdict, approvals, of, confidence: Math.round(share * 100) / 100 };
});
