// The smallest process agent: outputs its input unchanged. It uses the swarm-agent helper
// (packages/swarm-agent-node), imported by relative path so it runs from a fresh clone without
// an install; see docs/runtimes.md for the protocol underneath.
import { run } from '../../../packages/swarm-agent-node/index.js';

run((input) => input);
