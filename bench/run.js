// Benchmarks arrive with the execution engine (queue throughput, latency, peers on the same machine).
console.log(
  'no benchmarks yet: the execution engine and its benchmark against graphile-worker, pg-boss and BullMQ come next',
);
