// The lenient reviewer: passing tests are enough.
// A fixed opinion, so the consensus examples decide the same way every time.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ tests_passed = false }) => ({
  verdict: tests_passed ? 'approve' : 'reject',
}));
