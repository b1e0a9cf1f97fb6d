// Types for the checker, for the test that makes sure it finds what it looks for.
export interface ChaosHistory {
  api: Array<{ kind: 'api'; key: string; data: object; status: number; runId: string | null; at: number }>;
  hooks: Array<{
    kind: 'hook';
    key: string;
    data: object;
    resend: boolean;
    answers: Array<{ status: number; runId: string | null; duplicate: boolean | null; at: number }>;
  }>;
}

export interface ChaosDatabase {
  runs: Array<{
    id: string;
    workflow_name: string;
    status: string;
    error: string | null;
    error_step: string | null;
    trigger_type: string;
    trigger_data: string;
    step_results: string;
  }>;
  firings: Array<{ fire_key: string; run_id: string | null; status: string; error: string | null }>;
  tasks: Array<Record<string, unknown>>;
  assignments: Array<{
    task_id: string;
    worker_id: string;
    status: string;
    assigned_ms: number;
    released_ms: number | null;
  }>;
  stepLogs: Array<{ run_id: string; step_id: string; n: number }>;
  endLogs: Array<{ run_id: string; n: number }>;
  flowLimits?: Array<{ key: string; max_running: number }>;
}

export interface ChaosFault {
  type: string;
  at: number;
  workerId?: string;
  pid?: number;
  tookMs?: number;
  to?: number;
}

interface Latency {
  tasks: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

export interface ChaosResult {
  promised: number;
  lost: Array<{ what: string; key: string }>;
  duplicatedRuns: Array<{ key: string; runs: string[] }>;
  duplicatedSteps: unknown[];
  mismatched: unknown[];
  phantom: Array<{ runId: string }>;
  stuck: Array<{ runId: string }>;
  failed: Array<{ runId: string; cause: 'faults' | 'machine' | null }>;
  wrongOutput: Array<{ runId: string; step: string; problem: string }>;
  indeterminate: { api: number; apiWithRun: number; hooks: number; hooksWithRun: number };
  tasks: number;
  reclaim: {
    kill: Latency & { notReclaimed: number };
    stall: Latency & { notReclaimed: number };
    all: Latency;
  };
  flow: FlowResult | null;
}

export interface FlowResult {
  keys: Record<string, { limit: number; tasks: number; maxRunning: number }>;
  checkedTasks: number;
  violations: Array<{
    key: string;
    limit: number;
    running: number;
    at: number;
    lastedMs: number;
    tasks: string[];
  }>;
  briefExcesses: number;
  slackMs: number;
}

export function check(
  history: ChaosHistory,
  db: ChaosDatabase,
  faults: ChaosFault[],
  leaseMs: number,
  options?: { flow?: boolean; slackMs?: number },
): ChaosResult;
export function concurrencyHeld(
  tasks: Array<Record<string, unknown>>,
  limits: Array<{ key: string; max_running: number }>,
  slackMs?: number,
): FlowResult;
export function percentile(values: number[], p: number): number | null;
