// `npm run fuzz -- [--requests N] [--seed S] [--database sqlite|postgres|both] [--url URL --key KEY]
//   [--concurrency C] [--timeout S] [--pg URL] [--out DIR] [--dist DIR] [--keep]`
// `npm run fuzz -- --replay FILE --url URL`
// Malformed requests generated from Swarm's OpenAPI document (every route, every parameter) sent
// to a server of its own on each database asked for (`swarm start` from dist/ on 127.0.0.1, a
// fresh SWARM_HOME and database) or to --url. Prints a table of statuses per route and, for every
// 5xx, every request left unanswered and every 4xx that is not problem+json, how to send it again.
// Exits 1 if there was any, or if /healthz does not answer 200 afterwards. See bench/README.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { curlCommand, loopbackTarget, runFuzz, send, startSwarm, statusTable } from './fuzz/index.mjs';
import { integerFlag, parseFlags, usageError } from './flags.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseFlags(import.meta.url, {
  options: {
    requests: { type: 'string', default: '3000' },
    seed: { type: 'string', default: '1' },
    database: { type: 'string', default: 'sqlite' },
    url: { type: 'string' },
    key: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    timeout: { type: 'string', default: '30' },
    pg: {
      type: 'string',
      default: process.env.FUZZ_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    out: { type: 'string' },
    dist: { type: 'string', default: path.join(here, '..', 'dist') },
    keep: { type: 'boolean', default: false },
    replay: { type: 'string' },
  },
});

if (args.replay !== undefined) process.exit(await replay(args.replay, args.url));

const requests = integerFlag(import.meta.url, 'requests', args.requests, 1, 10_000_000);
const concurrency = integerFlag(import.meta.url, 'concurrency', args.concurrency, 1, 64);
const timeoutMs = integerFlag(import.meta.url, 'timeout', args.timeout, 1, 3600) * 1000;
const databases = args.database === 'both' ? ['sqlite', 'postgres'] : [args.database];
if (!databases.every((d) => d === 'sqlite' || d === 'postgres')) {
  usageError(import.meta.url, `--database must be sqlite, postgres or both, got "${args.database}"`);
}

let failed = false;
if (args.url !== undefined) {
  const apiKey = args.key ?? process.env.SWARM_API_KEY;
  if (!apiKey) {
    usageError(import.meta.url, '--url needs an admin API key: --key or SWARM_API_KEY');
  }
  loopbackTarget(args.url);
  failed = !(await fuzzOnce(args.url, apiKey, args.url, null));
} else {
  for (const database of databases) {
    const server = await startSwarm({
      database: /** @type {'sqlite' | 'postgres'} */ (database),
      dist: args.dist,
      pgUrl: args.pg,
    });
    let ok = false;
    try {
      ok = await fuzzOnce(server.url, server.apiKey, `${database} (swarm start in ${server.dir})`, server);
    } finally {
      // A failed run, or one whose server logged errors, keeps the server's folder (its log, the
      // SQLite file; the PostgreSQL database too) to look into.
      await server.stop({ keep: args.keep || !ok || server.loggedErrors().length > 0 });
    }
    failed ||= !ok;
  }
}
process.exit(failed ? 1 : 0);

/**
 * One run against one server; prints its report and says whether it passed.
 * @param {string} url @param {string} apiKey @param {string} label
 * @param {import('./fuzz/server.mjs').SwarmServer | null} server
 */
async function fuzzOnce(url, apiKey, label, server) {
  console.log(`fuzz: ${label}: ${requests} requests, seed ${args.seed}, ${concurrency} at a time, ${url}`);
  const t0 = performance.now();
  const run = await runFuzz({
    url,
    apiKey,
    requests,
    seed: args.seed,
    concurrency,
    timeoutMs,
    onProgress: (done, total) => {
      if (done % 500 === 0 && done < total) console.error(`fuzz: ${done}/${total}`);
    },
  });
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  for (const note of run.notes) console.log(`fixture not made: ${note}`);
  const covered = new Set(run.results.map((r) => r.route));
  const missed = run.routes.filter((r) => !covered.has(r));
  console.log(`\n${statusTable(run.results)}\n`);
  if (missed.length > 0) console.log(`routes not reached (more --requests): ${missed.join(', ')}`);
  const count = (/** @type {string} */ verdict) => run.failures.filter((f) => f.verdict === verdict).length;
  console.log(
    `${run.results.length} requests in ${seconds} s; 5xx: ${count('5xx')}, no answer: ${count('no-answer')}, ` +
      `4xx not problem+json: ${count('not-problem')}; /healthz after: ${run.health.healthy ? 'ok' : `FAILED ${run.health.detail}`}` +
      (server === null || server.alive() ? '' : '; the server process has EXITED'),
  );
  if (run.failures.length > 0) {
    const dir = args.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-fuzz-repro-'));
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    console.log(
      `\nfailures (raw requests in ${dir}; send one again with npm run fuzz -- --replay FILE --url URL):`,
    );
    for (const f of run.failures) {
      const sent = /** @type {Buffer} */ (f.sent);
      const file = path.join(dir, `case-${f.index}.http`);
      fs.writeFileSync(file, sent, { mode: 0o600 });
      const bodyStart = sent.indexOf('\r\n\r\n') + 4;
      const bodyFile = path.join(dir, `case-${f.index}.body`);
      if (sent.length > bodyStart) fs.writeFileSync(bodyFile, sent.subarray(bodyStart), { mode: 0o600 });
      const curl = curlCommand(sent, url, apiKey, sent.length - bodyStart > 2000 ? bodyFile : null);
      console.log(`\n#${f.index} ${f.route} -> ${f.verdict}: ${f.detail}`);
      console.log(`  mutations: ${f.mutations.join('; ') || '(none: a valid request)'}`);
      if (curl === null) console.log('  (no curl form: a NUL byte or framing of its own)');
      else if (curl.length > 3000) console.log(`  (curl form too long to print: ${curl.length} characters)`);
      else console.log(`  ${curl}`);
      console.log(`  raw: ${file}`);
    }
  }
  // Shown even when every answer was fine: an error logged behind a 4xx, or by the worker running
  // what the requests started (a failed transaction), is a defect too, if not one of the API's.
  const logged = server?.loggedErrors() ?? [];
  if (logged.length > 0) {
    const distinct = [...new Set(logged.map((e) => `${e.msg}: ${e.error}`))];
    console.log(
      `\nerrors the server logged (${logged.length}, ${distinct.length} distinct; log: ${server?.logFile}):`,
    );
    for (const line of distinct.slice(0, 30)) console.log(`  ${line}`);
  }
  return run.failures.length === 0 && run.health.healthy && (server === null || server.alive());
}

/**
 * Sends a saved raw request to `url` and prints the answer.
 * @param {string} file @param {string | undefined} url
 */
async function replay(file, url) {
  if (url === undefined) {
    console.error('fuzz: --replay needs --url');
    return 2;
  }
  const target = loopbackTarget(url);
  const raw = fs.readFileSync(file);
  const headEnd = raw.indexOf('\r\n\r\n');
  const [requestLine = '', ...lines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const [method = 'GET', ...rest] = requestLine.split(' ');
  const headers = lines
    .map(
      (l) =>
        /** @type {[string, string]} */ ([
          l.slice(0, l.indexOf(':')),
          l.slice(l.indexOf(':') + 1).trimStart(),
        ]),
    )
    .filter(([n]) => !/^(host|connection)$/i.test(n));
  const { response, error } = await send(target, {
    method,
    path: rest.slice(0, -1).join(' '),
    headers,
    body: raw.subarray(headEnd + 4),
    ownLength: true,
  });
  if (response === null) {
    console.log(`no answer: ${error}`);
    return 1;
  }
  console.log(`${response.status}`);
  for (const [name, value] of Object.entries(response.headers)) console.log(`${name}: ${value}`);
  console.log(`\n${response.body.toString('utf8').slice(0, 4000)}`);
  return response.status >= 500 ? 1 : 0;
}
