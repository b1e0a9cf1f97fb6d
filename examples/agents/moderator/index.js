// Selector pattern: given {transcript, candidates, round}, answers {next}: the candidate heard
// least in the transcript, never the one who just spoke; a tie goes to the later candidate.
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ transcript, candidates }) => {
  const heard = new Map(candidates.map((name) => [name, 0]));
  for (const message of transcript ?? [])
    if (heard.has(message.from)) heard.set(message.from, heard.get(message.from) + 1);
  const last = transcript?.at(-1)?.from ?? null;
  let next = null;
  for (const name of candidates)
    if (name !== last && (next === null || heard.get(name) <= heard.get(next))) next = name;
  return { next: next ?? candidates[0], heard: Object.fromEntries(heard) };
});
