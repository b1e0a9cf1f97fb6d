import pg from 'pg';
import { Store } from '../dist/storage/index.js';
import { Engine } from '../dist/engine/index.js';
import { Registry } from '../dist/registry/index.js';
import { benchWorker, benchUser } from './swarm-lib.mjs';
const stats = new Map(); let phase = 'start';
const orig = pg.Client.prototype.query;
pg.Client.prototype.query = function (q, ...rest) {
  const text = typeof q === 'string' ? q : q?.text ?? String(q);
  const key = phase + ' | ' + text.replace(/\s+/g, ' ').replace(/\$\d+(, )?/g, '').slice(0, 90);
  const t0 = performance.now();
  const r = orig.call(this, q, ...rest);
  const bytes = text.length + JSON.stringify(rest[0] ?? q?.values ?? []).length;
  const done = () => { const e = stats.get(key) ?? { n: 0, ms: 0, b: 0 }; e.n++; e.b += bytes; e.ms += performance.now() - t0; stats.set(key, e); };
  if (r && typeof r.then === 'function') r.then(done, done);
  return r;
};
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect(); await admin.query('drop database if exists qcount'); await admin.query('create database qcount'); await admin.end();
const store = await Store.open('postgres://postgres@127.0.0.1:5432/qcount', { poolSize: 10, migrate: true });
const user = await benchUser(store);
const engine = new Engine(store, {});
const registry = new Registry(store).as(user.caller);
const { workflow } = await registry.workflows.apply({ name: 'q', version: '1.0.0', steps: [
  { id: 'a', agent: 'builtin/noop' }, { id: 'b', agent: 'builtin/noop', needs: ['a'] }, { id: 'c', agent: 'builtin/noop', needs: ['b'] }] });
const N = 2000; let next = 0;
await Promise.all(Array.from({ length: 4 }, async () => { while (next < N) { next++; await engine.startRun(user.caller, workflow, registry.agents, { input: { i: next } }); } }));
stats.clear(); phase = 'drain';
const wt = store.handle.dialect.writeTransaction.bind(store.handle.dialect); let txN = 0, txMs = 0;
store.handle.dialect.writeTransaction = async (db, fn) => { const t = performance.now(); try { return await wt(db, fn); } finally { txN++; txMs += performance.now() - t; } };
const cl = store.handle.db.transaction;
const worker = benchWorker(store, {}); const t0 = performance.now(); worker.start();
for (;;) { const r = await store.handle.db.selectFrom('workflow_runs').select(eb=>eb.fn.countAll().as('n')).where('status','=','completed').executeTakeFirstOrThrow(); if (Number(r.n) >= N) break; await new Promise(r=>setTimeout(r,20)); }
console.log('tx', txN, Math.round(txMs), 'ms'); console.log('drain s', ((performance.now() - t0)/1000).toFixed(2), 'steps/s', Math.round(3*N/((performance.now() - t0)/1000)));
phase = 'end';
await worker.stop(1000); await store.close();
for (const [k, v] of [...stats].sort((a,b)=>b[1].ms-a[1].ms)) if (k.startsWith('drain') && !k.includes('count(*)')) console.log(String(v.n).padStart(6), v.ms.toFixed(0).padStart(7), 'ms', String(Math.round(v.b/1024)).padStart(7), 'KB', k.slice(8, 60));
