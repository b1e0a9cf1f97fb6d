import pg from 'pg';
import { Store } from '../dist/storage/index.js';
import { Engine } from '../dist/engine/index.js';
import { Registry } from '../dist/registry/index.js';
import { benchWorker, benchUser } from './swarm-lib.mjs';
const stats = new Map(); let phase = 'start';
const orig = pg.Client.prototype.query;
pg.Client.prototype.query = function (q, ...rest) {
  const text = typeof q === 'string' ? q : q?.text ?? String(q);
  const key = phase + ' | ' + text.replace(/\s+/g, ' ').replace(/\$\d+(, )?/g, '').slice(0, 70);
  const t0 = performance.now();
  const r = orig.call(this, q, ...rest);
  const done = () => { const e = stats.get(key) ?? { n: 0, ms: 0 }; e.n++; e.ms += performance.now() - t0; stats.set(key, e); };
  if (r && typeof r.then === 'function') r.then(done, done);
  return r;
};
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect(); await admin.query('drop database if exists qfan'); await admin.query('create database qfan'); await admin.end();
const store = await Store.open('postgres://postgres@127.0.0.1:5432/qfan', { poolSize: 10, migrate: true });
const user = await benchUser(store);
const engine = new Engine(store, { maxFanOut: 100000 });
const registry = new Registry(store).as(user.caller);
const { workflow } = await registry.workflows.apply({ name: 'f', version: '1.0.0', steps: [
  { id: 'fan', agent: 'builtin/noop', for_each: 'trigger.items' }, { id: 'join', agent: 'builtin/noop', needs: ['fan'] }] });
const worker = benchWorker(store, {}); worker.start(); await worker.listening();
stats.clear(); phase = 'run';
const t0 = performance.now();
const id = await engine.startRun(user.caller, workflow, registry.agents, { input: { items: Array.from({ length: 10000 }, (_, i) => i) } });
const t1 = performance.now();
for (;;) { const r = await store.handle.db.selectFrom('workflow_runs').select('status').where('id','=',id).executeTakeFirstOrThrow(); if (r.status !== 'running') break; await new Promise(r=>setTimeout(r,5)); }
console.log('startRun ms', Math.round(t1 - t0), 'run s', ((performance.now() - t0)/1000).toFixed(2));
phase = 'end';
await worker.stop(1000); await store.close();
if (process.argv[2] === 'v') for (const [k, v] of [...stats].sort((a,b)=>b[1].ms-a[1].ms).slice(0, 14)) if (k.startsWith('run')) console.log(String(v.n).padStart(6), v.ms.toFixed(0).padStart(7), 'ms', k.slice(6));
