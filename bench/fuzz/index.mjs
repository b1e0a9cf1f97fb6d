// The fuzzer as a library: `npm run fuzz` (bench/fuzz.mjs) and test/fuzz/fuzz.test.ts both call
// runFuzz. It reads the OpenAPI document of a running server, makes fixtures, sends `requests`
// generated requests (a few at a time) and judges every answer, then checks /healthz.
import { generateCase, routesOf } from './generate.mjs';
import { send } from './http.mjs';
import { judge } from './report.mjs';
import { seedFixtures } from './seed.mjs';

export { createRng } from './rng.mjs';
export { generateCase, routesOf } from './generate.mjs';
export { encodeRequest, send } from './http.mjs';
export { curlCommand, judge, parseSent, statusTable } from './report.mjs';
export { startSwarm } from './server.mjs';

/** @typedef {import('./report.mjs').CaseResult} CaseResult */

/**
 * @typedef {object} FuzzRun
 * @property {CaseResult[]} results   every request, in case order
 * @property {CaseResult[]} failures  those with verdict other than 'ok' (with the bytes sent)
 * @property {string[]} routes        every route of the document
 * @property {string[]} notes         fixtures that could not be made
 * @property {{ healthy: boolean, detail: string }} health  /healthz after the run
 */

/**
 * Only this machine's loopback: the fuzzer never sends anything anywhere else.
 * @param {string} url
 */
export function loopbackTarget(url) {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' || parsed.hostname !== '127.0.0.1')
    throw new Error(`the fuzzer only talks to http://127.0.0.1:<port>, not ${url}`);
  return { host: '127.0.0.1', port: Number(parsed.port || 80) };
}

/**
 * @param {object} options
 * @param {string} options.url        the server, http://127.0.0.1:<port>
 * @param {string} options.apiKey     a key of an admin (fixtures are made with it)
 * @param {number} options.requests
 * @param {string | number} options.seed
 * @param {number} [options.concurrency]  requests in flight, default 4
 * @param {number} [options.timeoutMs]    per request, default 30 s
 * @param {(done: number, total: number) => void} [options.onProgress]
 * @returns {Promise<FuzzRun>}
 */
export async function runFuzz(options) {
  const target = loopbackTarget(options.url);
  const { response, error } = await send(target, {
    method: 'GET',
    path: '/api/v1/openapi.json',
    headers: [],
    body: null,
  });
  if (response?.status !== 200) throw new Error(`GET /api/v1/openapi.json: ${response?.status ?? error}`);
  const doc = JSON.parse(response.body.toString('utf8'));
  const routes = routesOf(doc);
  if (routes.length === 0) throw new Error('the OpenAPI document has no routes');
  const { fixtures, notes } = await seedFixtures(target, options.apiKey, doc);

  /** @type {CaseResult[]} */
  const results = new Array(options.requests);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let index = next++; index < options.requests; index = next++) {
      const { route, mutations, request } = generateCase(options.seed, index, routes, fixtures);
      const outcome = await send(target, request, { timeoutMs: options.timeoutMs ?? 30_000 });
      const { verdict, detail } = judge(request.method, outcome.response, outcome.error);
      results[index] = {
        index,
        route: route.key,
        mutations,
        status: outcome.response?.status ?? 0,
        verdict,
        detail,
        ms: outcome.response?.ms ?? 0,
        ...(verdict === 'ok' ? {} : { sent: outcome.sent }),
      };
      options.onProgress?.(++done, options.requests);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return {
    results,
    failures: results.filter((r) => r.verdict !== 'ok'),
    routes: routes.map((r) => r.key),
    notes,
    health: await checkHealth(target),
  };
}

/**
 * The server answers /healthz with 200 and status ok within 5 s (on a fresh connection).
 * @param {{ host: string, port: number }} target
 */
export async function checkHealth(target) {
  const { response, error } = await send(
    target,
    { method: 'GET', path: '/healthz', headers: [], body: null },
    { timeoutMs: 5000 },
  );
  if (response === null) return { healthy: false, detail: error ?? 'no answer' };
  const text = response.body.toString('utf8');
  let ok = false;
  try {
    ok = response.status === 200 && JSON.parse(text).status === 'ok';
  } catch {
    ok = false;
  }
  return { healthy: ok, detail: `${response.status} ${text.slice(0, 200)}` };
}
