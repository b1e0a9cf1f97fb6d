// The careful reviewer: passing tests and a change that is not too large.
// A fixed opinion, so the consensus examples decide the same way every time.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ tests_passed = false, lines_changed = 0 }) => ({
  verdict: tests_passed && lines_changed < 500 ? 'approve' : 'reject',
}));
