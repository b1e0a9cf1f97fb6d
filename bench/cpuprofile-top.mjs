// `node bench/cpuprofile-top.mjs FILE.cpuprofile [N]`: the N functions (default 25) with the most
// self time and with the most inclusive time in a V8 CPU profile — the ones `npm run bench --
// --profile DIR` writes for every row's process and every worker process.
import { readFileSync } from 'node:fs';

const [file, n = '25'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [N]');
  process.exit(2);
}
/** @type {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }[], samples: number[], timeDeltas: number[] }} */
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
/** @type {Map<number, number>} */
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const label = (/** @type {number} */ id) => {
  const { functionName, url, lineNumber } = /** @type {any} */ (byId.get(id)).callFrame;
  // Paths from the repository's node_modules/ or dist/ on; node's own modules as they are.
  const where = url.replace(/^file:\/\//, '').replace(/^.*?\/(node_modules|dist)\//, '$1/');
  return `${functionName || '(anonymous)'} ${where}${where ? `:${lineNumber + 1}` : ''}`;
};
/** @type {Map<string, number>} */
const self = new Map();
/** @type {Map<string, number>} */
const inclusive = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  self.set(label(id), (self.get(label(id)) ?? 0) + dt);
  const seen = new Set();
  for (let at = /** @type {number | undefined} */ (id); at !== undefined; at = parent.get(at)) {
    const key = label(at);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
  }
});
const top = (/** @type {Map<string, number>} */ m) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(n))
    .map(([k, v]) => `${(v / 1000).toFixed(0).padStart(8)} ms  ${k}`)
    .join('\n');
console.log(
  `${file}: ${(total / 1000).toFixed(0)} ms sampled\n\nself time:\n${top(self)}\n\ninclusive time:\n${top(inclusive)}`,
);
