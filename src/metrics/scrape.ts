import { Gauge, Registry } from 'prom-client';
import type { Store } from '../storage/index.js';
import { RUN_STATUSES } from '../storage/index.js';
import { activeWorkers, flowTotalsByScope, queueDepth, QUEUED_STATUSES, runsByStatus } from './figures.js';
import { processRegistry } from './instruments.js';

export const METRICS_CONTENT_TYPE = processRegistry.contentType;

/**
 * The Prometheus exposition: this process's counters and histograms, then the figures that
 * hold across processes, read from the database now (five grouped queries). The database
 * gauges live in a registry made per scrape, so two apps in one process (tests) never share them.
 */
export async function scrapeMetrics(store: Store): Promise<string> {
  const { db } = store.handle;
  const [depth, workers, runs, flow] = await Promise.all([
    queueDepth(db),
    activeWorkers(db),
    runsByStatus(db),
    flowTotalsByScope(db),
  ]);
  const registry = new Registry();
  const registers = [registry];
  const depthGauge = new Gauge({
    name: 'swarm_queue_depth',
    help: 'Tasks on the queue now (every owner’s), by status and priority',
    labelNames: ['status', 'priority'] as const,
    registers,
  });
  // Every queued status is present, so a drained queue reads 0 rather than no series.
  for (const status of QUEUED_STATUSES) depthGauge.set({ status, priority: '5' }, 0);
  for (const row of depth) depthGauge.set({ status: row.status, priority: String(row.priority) }, row.count);
  new Gauge({
    name: 'swarm_workers_active',
    help: 'Workers holding at least one live task lease now (all processes)',
    registers,
  }).set(workers);
  const runGauge = new Gauge({
    name: 'swarm_runs',
    help: 'Runs in the store by status; the final statuses (completed, failed, cancelled, timeout) count every run that ended',
    labelNames: ['status'] as const,
    registers,
  });
  for (const status of RUN_STATUSES) runGauge.set({ status }, 0);
  for (const row of runs) runGauge.set({ status: row.status }, row.count);
  const flowRunning = new Gauge({
    name: 'swarm_flow_key_running',
    help: 'Tasks holding a flow-control concurrency slot now, by key scope (step, workflow, agent, owner)',
    labelNames: ['scope'] as const,
    registers,
  });
  const flowWaiting = new Gauge({
    name: 'swarm_flow_key_waiting',
    help: 'Tasks parked by flow control, waiting for room under their key, by key scope',
    labelNames: ['scope'] as const,
    registers,
  });
  for (const scope of ['step', 'workflow', 'agent', 'owner']) {
    flowRunning.set({ scope }, 0);
    flowWaiting.set({ scope }, 0);
  }
  for (const row of flow) {
    flowRunning.set({ scope: row.scope }, row.running);
    flowWaiting.set({ scope: row.scope }, row.waiting);
  }
  return (await processRegistry.metrics()) + (await registry.metrics());
}
