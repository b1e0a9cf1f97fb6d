// Hand-off pattern. input.route lists who takes over at each hand-off (["billing", "refunds"]):
// while hand-offs so far < route length, hand on to the next; then answer. input.ping_pong:
// always hand back to whoever handed over (or to input.route[0] first).
import { run } from '../../../packages/swarm-agent-node/index.js';

run(({ input, history, handoff }) => {
  const route = Array.isArray(input?.route) ? input.route : [];
  const done = (history ?? []).filter((m) => m.to !== null).length;
  if (input?.ping_pong === true)
    return { handoff: { to: handoff?.from ?? route[0], reason: 'not mine', context: { hops: done + 1 } } };
  if (done < route.length)
    return {
      handoff: {
        to: route[done],
        reason: `step ${done + 1} of the route`,
        context: { question: input?.question },
      },
    };
  return {
    answer: `resolved "${input?.question ?? ''}" after ${done} hand-offs`,
    from: handoff?.from ?? null,
  };
});
