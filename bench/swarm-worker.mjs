// One Swarm worker process, forked by forkWorkers (swarm-lib.mjs) for the "N worker processes"
// rows: opens the store without migrating (as `swarm worker` does), runs a Worker with the real
// builtin runtime, and reports over IPC:
//   { type: 'ready' }                  store open; worker started and listening (unless held)
//   { type: 'listening' }              a held worker, after 'go': started and listening
//   { type: 'first', at }              its first handler start (epoch ms, sub-ms resolution)
//   { type: 'start', at, sample }      every handler start whose task input has a `sample` (reportEach)
//   { type: 'done', rssMb, handled }   after { type: 'stop' }: stopped, store closed
// Messages in: { type: 'go' } starts a held worker; { type: 'stop' }.
import { benchWorker, openStore, ownRssMb } from './swarm-lib.mjs';

const settings = JSON.parse(process.argv[2] ?? '{}');
if (!process.send || !settings.url) {
  console.error('swarm-worker.mjs is started by bench/swarm-lib.mjs forkWorkers()');
  process.exit(2);
}
/** @param {object} msg */
const send = (msg) => new Promise((resolve) => process.send?.(msg, () => resolve(undefined)));
// The row's process died or was killed (timeout): do not linger on the database.
process.on('disconnect', () => process.exit(0));

try {
  const store = await openStore(settings.url, { migrate: false });
  let handled = 0;
  const worker = benchWorker(store, {
    concurrency: settings.concurrency,
    leaseMs: settings.leaseMs,
    pollMs: settings.pollMs,
    onStart: (at, input) => {
      if (handled++ === 0) void send({ type: 'first', at });
      const sample = /** @type {any} */ (input)?.sample;
      if (settings.reportEach && typeof sample === 'number') void send({ type: 'start', at, sample });
    },
  });
  const start = async () => {
    worker.start();
    await worker.listening();
  };
  process.on('message', (/** @type {any} */ msg) => {
    if (msg.type === 'go') void start().then(() => send({ type: 'listening' }));
    if (msg.type === 'stop') {
      void (async () => {
        await worker.stop(1000);
        await store.close();
        await send({ type: 'done', rssMb: ownRssMb(), handled });
        process.exit(0);
      })();
    }
  });
  if (!settings.hold) await start();
  await send({ type: 'ready' });
} catch (err) {
  console.error(err);
  await send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
