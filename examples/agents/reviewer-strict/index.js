// The strict reviewer: tests, docs and a small change.
// A fixed opinion, so the consensus examples decide the same way every time.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ tests_passed = false, lines_changed = 0, has_docs = false }) => ({
  verdict: tests_passed && has_docs && lines_changed < 200 ? 'approve' : 'reject',
}));
