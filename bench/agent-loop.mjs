// Workload (i), the agent loop's overhead per tool call: an `llm` agent whose model (a scripted
// OpenAI-compatible server in this process, answering at once) asks for one tool call
// (builtin/noop) per reply, K times, then answers. One loop runs at a time. Per tool call, the
// figure is the time from the model's reply that asks for the tool to the next model request:
// the reply checkpointed with its turns, the step put to sleep with the tool's child task in one
// commit, the child claimed, run and completed, the step woken, claimed again and resumed, the
// results read back. The tool itself and the model do nothing. See bench/README.md.
import http from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../dist/config/index.js';
import { Engine } from '../dist/engine/index.js';
import { enqueueTasks } from '../dist/queue/index.js';
import { Registry } from '../dist/registry/index.js';
import { createWorker } from '../dist/worker/index.js';
import { benchUser, epochNow, openStore, percentile, storeUrl } from './swarm-lib.mjs';
import { setTimeout as sleep } from 'node:timers/promises';

export const setups = {
  sqlite: { description: 'SQLite file (WAL), worker in the same process', backend: 'none' },
  'pg-1p': { description: 'PostgreSQL, worker in the same process', backend: 'postgres' },
};

export const workload = {
  letter: 'i',
  title: 'agent loop: overhead per tool call (model answers at once, tool builtin/noop)',
  size: { loops: 40, toolCalls: 5 },
  quick: { loops: 5, toolCalls: 3 },
};

/** Loops run (and not counted) first. */
const WARMUP = 3;

/**
 * A model that asks for `toolCalls` tool calls, one per reply, then answers; it notes, per
 * conversation (its first user message), when each reply left and when each request came.
 */
function scriptedModel(toolCalls) {
  /** @type {number[]} */
  const gaps = [];
  /** @type {Map<string, number>} */
  const repliedAt = new Map();
  let calls = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const arrived = epochNow();
      calls++;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const messages = body.messages ?? [];
      const conversation = String(messages.find((m) => m.role === 'user')?.content ?? '');
      const asked = messages.filter((m) => m.role === 'assistant' && Array.isArray(m.tool_calls)).length;
      if (messages.at(-1)?.role === 'tool' && repliedAt.has(conversation))
        gaps.push(arrived - /** @type {number} */ (repliedAt.get(conversation)));
      const message =
        asked < toolCalls
          ? {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: `call_${asked}`,
                  type: 'function',
                  function: { name: 'noop', arguments: `{"n":${asked}}` },
                },
              ],
            }
          : { role: 'assistant', content: 'done' };
      const text = JSON.stringify({
        id: `c${calls}`,
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message, finish_reason: asked < toolCalls ? 'tool_calls' : 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text, () => repliedAt.set(conversation, epochNow()));
    });
  });
  return {
    gaps,
    calls: () => calls,
    listen: () =>
      new Promise((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)),
      ),
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

/**
 * @param {{ setup: keyof typeof setups, pgUrl: string, tmpDir: string, loops?: number,
 *   toolCalls?: number, progress: (p: object) => void }} opts
 */
export async function run(opts) {
  const setup = setups[opts.setup];
  if (!setup) throw new Error(`unknown agent-loop setup ${opts.setup}`);
  const loops = opts.loops ?? workload.size.loops;
  const toolCalls = opts.toolCalls ?? workload.size.toolCalls;
  const model = scriptedModel(toolCalls);
  const base = await model.listen();
  const url = storeUrl({ sqlite: setup.backend === 'none', pgUrl: opts.pgUrl, tmpDir: opts.tmpDir });
  const store = await openStore(url);
  const user = await benchUser(store);
  await store.as(user.caller).llm.setProvider({
    name: 'scripted',
    provider: 'custom',
    model: 'scripted-1',
    baseUrl: base,
    apiKeySecretId: null,
    active: true,
    isDefault: true,
    configuration: {},
  });
  await new Registry(store).as(user.caller).agents.register({
    name: 'looper',
    version: '1.0.0',
    type: 'reasoning',
    capabilities: ['bench:loop'],
    runtime: {
      type: 'llm',
      provider: 'scripted',
      model: 'scripted-1',
      tools: [{ agent: 'builtin/noop', name: 'noop' }],
    },
  });
  const home = await mkdtemp(path.join(opts.tmpDir, 'home-'));
  const config = loadConfig({ DATABASE_URL: url, SWARM_HOME: home, SWARM_LLM_ALLOWED_URLS: base });
  const worker = createWorker(store, new Engine(store), config, pino({ level: 'error' }), {
    concurrency: 16,
  });
  const { db, dialect } = store.handle;
  const loopOnce = async (/** @type {string} */ prompt) => {
    const [id] = await enqueueTasks(db, dialect, [
      {
        ownerId: user.id,
        taskType: 'llm',
        agentName: 'looper',
        agentVersion: '1.0.0',
        input: { prompt },
        maxRetries: 0,
      },
    ]);
    worker.notify();
    const started = epochNow();
    for (;;) {
      const row = await db
        .selectFrom('tasks')
        .select(['status', 'error_message'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (row.status === 'COMPLETED') return epochNow() - started;
      if (row.status === 'FAILED' || row.status === 'TIMEOUT')
        throw new Error(`the loop failed: ${row.error_message}`);
      await sleep(2);
    }
  };
  try {
    worker.start();
    await worker.listening();
    for (let i = 0; i < WARMUP; i++) await loopOnce(`warmup ${i}`);
    model.gaps.length = 0;
    /** @type {number[]} */
    const loopMs = [];
    for (let i = 0; i < loops; i++) {
      loopMs.push(await loopOnce(`loop ${i}`));
      opts.progress?.({ loops: i + 1 });
    }
    const gaps = model.gaps.map((g) => Math.round(g * 10) / 10);
    if (gaps.length !== loops * toolCalls)
      throw new Error(`expected ${loops * toolCalls} tool-call gaps, measured ${gaps.length}`);
    return {
      loops,
      toolCalls,
      modelCalls: model.calls(),
      p50Ms: percentile(gaps, 50),
      p99Ms: percentile(gaps, 99),
      maxMs: percentile(gaps, 100),
      loopP50Ms: percentile(loopMs, 50),
      details: { warmup: WARMUP, gapsMs: gaps },
    };
  } finally {
    await worker.stop(1000);
    await store.close();
    await model.close();
  }
}
