// One measurement in its own process, so peak RSS and CPU belong to that system alone.
// Started by run.mjs with fork(child.mjs, [modulePath, optionsJson]); reports over IPC:
//   { type: 'progress', ...partial }  when the module calls progress() (kept if it later times out)
//   { type: 'result', result }        the module's result plus peakRssMb (this process's peak RSS)
//   { type: 'error', message }
import { pathToFileURL } from 'node:url';

const [modulePath, optionsJson] = process.argv.slice(2);
if (!modulePath || !optionsJson || !process.send) {
  console.error('child.mjs is started by bench/run.mjs');
  process.exit(2);
}

/** @param {object} msg */
const send = (msg) => new Promise((resolve) => process.send?.(msg, () => resolve(undefined)));

try {
  const mod = await import(pathToFileURL(modulePath).href);
  const options = JSON.parse(optionsJson);
  const result = await mod.run({
    ...options,
    progress: (/** @type {object} */ p) => void send({ type: 'progress', ...p }),
  });
  // maxRSS is in kilobytes. This process's own peak; a module that forks worker processes adds
  // theirs as workerRssMb.
  const peakRssMb = result.peakRssMb ?? Math.round(process.resourceUsage().maxRSS / 1024);
  await send({ type: 'result', result: { ...result, peakRssMb } });
  // Exit explicitly: some clients keep sockets or timers open after close().
  process.exit(0);
} catch (err) {
  console.error(err);
  await send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
