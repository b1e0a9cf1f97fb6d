import type { Kysely } from 'kysely';
import {
  newId,
  toDbBool,
  toDbJson,
  toDbTimestamp,
  type ColumnInfo,
  type DatabaseHandle,
} from '../../src/storage/index.js';

/**
 * Rows for every table of the schema, with the values a copy most easily gets wrong. Each
 * table gets a "rich" row (variant 0: every column set, unicode, big JSON, all 256 byte
 * values, non-UTC input timestamps, true, 2^40, 0.1) and a "sparse" row (variant 1: every
 * nullable column NULL, false, empty blob, JSON `null`, 1e-9). Columns a table's spec does not
 * name are filled by logical type from the catalogue, so a new column is covered without edits;
 * a new table fails the coverage test until it gets a spec here.
 */

type Row = Record<string, unknown>;
type Ref = (table: string, variant?: number) => string;
type Spec = readonly [table: string, overrides: (v: number, ref: Ref) => Row];

export const UNICODE =
  'Zoë 🐝 👩🏽‍💻 日本語テキスト 中文 한국어 e\u0301 n\u0303 "double" \'single\' back\\slash \\n \n\ttab ∑≠Ω \u2028 \u{1F600}';
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
export const BIG_INT = 2 ** 40;

/** About 1 MB of nested JSON, with keys out of order, numeric-like keys and awkward numbers. */
export function bigJson(): unknown {
  return {
    zeta: 'last key first',
    '10': 'numeric-like key',
    '9': 'another',
    items: Array.from({ length: 1350 }, (_, i) => ({
      i,
      name: `item ${i} ✓ 日本 "q" \\`,
      nested: { deep: { deeper: [i, i * 0.5, null, true, false, { k: 'v'.repeat(600) }] } },
      numbers: [0.1, 1e-9, BIG_INT, -0.5, 1e21],
    })),
    a: { b: { c: { d: { e: [[[[UNICODE]]]] } } } },
  };
}

const RICH_JSON = {
  z: 1,
  a: [1, 2.5, 1e-9, 0.1, BIG_INT, null, true, false, 'str', { y: 'é', x: '🐝' }],
  '2': 'two',
  '10': 'ten',
  nested: { unicode: UNICODE, empty: {}, list: [] },
};
/** Not-null JSON columns of the sparse rows cycle through scalars: JSON null is not SQL NULL. */
const SPARSE_JSON = [null, 'just a string', 0, [], {}];

const TIMESTAMPS = [
  '2026-03-29T02:30:00.123+05:30',
  '1999-12-31T23:59:59.999-08:00',
  '1970-01-01T00:00:00Z',
  '2038-01-19T03:14:07.5-00:30',
];

function fill(column: ColumnInfo, table: string, v: number): unknown {
  const rich = v === 0;
  if (!rich && column.nullable) return null;
  switch (column.type) {
    case 'text':
      return rich ? `${table}.${column.name}#0 ${UNICODE}` : `${table}.${column.name}#${v}`;
    case 'integer':
      return rich ? 7 : 1 + (v % 9);
    case 'bigint':
      return rich ? BIG_INT : v === 1 ? Number.MAX_SAFE_INTEGER : -v * 1000;
    case 'real':
      return rich ? 0.1 : v === 1 ? 1e-9 : 1 / (v + 2);
    case 'boolean':
      return toDbBool(rich || v % 2 === 0);
    case 'json':
      return toDbJson(rich ? RICH_JSON : SPARSE_JSON[(v - 1) % SPARSE_JSON.length]);
    case 'timestamp':
      return toDbTimestamp(TIMESTAMPS[v % TIMESTAMPS.length]!);
    case 'blob':
      return rich ? ALL_BYTES : v === 1 ? Buffer.alloc(0) : Buffer.from([v % 256, 0, 255]);
  }
}

const pick = <T>(v: number, rich: T, sparse: T): T => (v === 0 ? rich : sparse);
/** The rich row points at parents; the sparse row leaves nullable references NULL. */
const maybe = (v: number, ref: Ref, table: string): string | null => (v === 0 ? ref(table) : null);

/** In foreign-key order: each table only refers to tables above it. */
export const FIXTURE: readonly Spec[] = [
  [
    'users',
    (v) => ({
      role: pick(v, 'admin', 'viewer'),
      status: pick(v, 'active', 'disabled'),
      name: pick(v, undefined, ''),
    }),
  ],
  ['api_keys', (v, ref) => ({ owner_id: ref('users'), created_by: maybe(v, ref, 'users') })],
  ['rate_limit_tracker', (v, ref) => ({ key_id: ref('api_keys'), window_type: pick(v, 'minute', 'hour') })],
  [
    'owner_budgets',
    (v, ref) => ({
      owner_id: ref('users'),
      period: v === 0 ? 'day' : v === 1 ? 'month' : `p${v}`,
      // At least one cap is set, and caps are positive.
      max_tokens: v === 0 ? undefined : 1000 * v,
    }),
  ],
  ['provider_usage_windows', (v, ref) => ({ owner_id: ref('users'), tokens: v === 0 ? undefined : 10 * v })],
  [
    'audit_logs',
    (v, ref) => ({
      owner_id: maybe(v, ref, 'users'),
      actor_id: v === 0 ? ref('users', 1) : null,
      key_id: maybe(v, ref, 'api_keys'),
    }),
  ],
  [
    'auth_failures',
    (v, ref) => ({
      owner_id: maybe(v, ref, 'users'),
      kind: pick(v, 'api_key', 'webhook'),
      // The bucket columns are unique together: the two rows differ in the window.
      window_start: pick(v, '2026-01-01T00:00:00.000Z', '2026-01-01T00:01:00.000Z'),
      attempts: pick(v, 1000, 1),
    }),
  ],
  ['sessions', (_v, ref) => ({ user_id: ref('users') })],
  ['login_attempts', (v) => ({ kind: pick(v, 'account', 'address') })],
  [
    'agents',
    (v, ref) => ({
      owner_id: ref('users'),
      type: pick(v, 'reasoning', 'analysis'),
      status: pick(v, 'active', 'deprecated'),
      runtime_type: pick(v, 'llm', 'builtin'),
      trust_score: pick(v, 1, 0),
      avg_completion_time_seconds: pick(v, Number.MAX_VALUE, null),
    }),
  ],
  ['agent_capabilities', (_v, ref) => ({ owner_id: ref('users'), agent_id: ref('agents') })],
  [
    'workflows',
    (v, ref) => ({
      owner_id: ref('users'),
      trigger_type: pick(v, 'webhook', null),
      orchestration_pattern: pick(v, 'mesh', null),
      status: pick(v, 'active', 'archived'),
      definition: pick(v, toDbJson(bigJson()), null),
    }),
  ],
  [
    'workflow_templates',
    (v, ref) => ({ owner_id: ref('users'), orchestration_pattern: pick(v, 'round_robin', null) }),
  ],
  [
    'agent_configurations',
    (v, ref) => ({
      owner_id: ref('users'),
      agent_id: ref('agents'),
      workflow_id: maybe(v, ref, 'workflows'),
    }),
  ],
  ['connectors', (_v, ref) => ({ owner_id: ref('users') })],
  [
    'secrets',
    (v, ref) => ({
      owner_id: ref('users'),
      scope: pick(v, 'workflow', 'global'),
      workflow_id: maybe(v, ref, 'workflows'),
      key_version: pick(v, 3, 0),
    }),
  ],
  [
    'llm_providers',
    (v, ref) => ({
      owner_id: ref('users'),
      provider: pick(v, 'anthropic', 'ollama'),
      api_key_secret_id: maybe(v, ref, 'secrets'),
    }),
  ],
  [
    'mcp_servers',
    (v, ref) => ({
      owner_id: ref('users'),
      // The rich row fills command and url both (the CHECK asks for the transport's one only).
      transport: pick(v, 'stdio', 'http'),
      url: pick(v, undefined, 'https://mcp.example.com/mcp'),
    }),
  ],
  [
    'triggers',
    (v, ref) => ({
      owner_id: ref('users'),
      workflow_id: ref('workflows'),
      type: pick(v, 'schedule', 'manual'),
      misfire_policy: pick(v, 'catch_up', 'skip'),
      workflow_name: pick(v, 'nightly', null),
    }),
  ],
  [
    'workflow_runs',
    (v, ref) => ({
      owner_id: ref('users'),
      workflow_id: ref('workflows'),
      status: pick(v, 'completed', 'failed'),
      trigger_type: pick(v, 'schedule', null),
      trigger_id: maybe(v, ref, 'triggers'),
      started_by: maybe(v, ref, 'users'),
      // The sparse run is a replay of the rich one: a reference within the table.
      parent_run_id: v === 0 ? null : ref('workflow_runs', 0),
    }),
  ],
  ['task_templates', (_v, ref) => ({ owner_id: ref('users') })],
  ['task_chains', (v, ref) => ({ owner_id: ref('users'), status: pick(v, 'RUNNING', 'FAILED') })],
  ['scheduled_tasks', (_v, ref) => ({ owner_id: ref('users') })],
  [
    'tasks',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      agent_id: maybe(v, ref, 'agents'),
      assigned_agent_id: maybe(v, ref, 'agents'),
      chain_id: maybe(v, ref, 'task_chains'),
      template_id: maybe(v, ref, 'task_templates'),
      scheduled_task_id: maybe(v, ref, 'scheduled_tasks'),
      status: pick(v, 'COMPLETED', 'PENDING'),
      retry_policy: pick(v, 'linear', 'fixed'),
      routing_strategy: pick(v, 'trust_weighted', 'fastest'),
      item_index: pick(v, 2_147_483_647, null),
      // Doubles at the edges: repeating, subnormal, the largest.
      cost: v === 0 ? 1 / 3 : v === 1 ? 5e-324 : v * 0.01,
      duration_ms: pick(v, -BIG_INT, null),
      // The sparse task is a child of the rich one (an agent loop's tool call): a reference within the table.
      parent_task_id: v === 0 ? null : ref('tasks', 0),
    }),
  ],
  [
    'waitpoints',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      task_id: ref('tasks', v),
      kind: pick(v, 'approval', 'event'),
      status: pick(v, 'waiting', 'timed_out'),
      on_timeout: pick(v, 'reject', 'continue'),
    }),
  ],
  ['approval_links', (v, ref) => ({ owner_id: ref('users'), waitpoint_id: ref('waitpoints', v) })],
  ['worker_assignments', (v) => ({ status: pick(v, 'running', 'lost'), pid: pick(v, -2_147_483_648, null) })],
  [
    'messages',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      task_id: maybe(v, ref, 'tasks'),
      message_type: pick(v, 'broadcast', 'error'),
    }),
  ],
  [
    'execution_logs',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      task_id: maybe(v, ref, 'tasks'),
      event_type: pick(v, 'decision', 'execution'),
      level: pick(v, 'critical', 'debug'),
    }),
  ],
  [
    'metrics',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      task_id: maybe(v, ref, 'tasks'),
    }),
  ],
  [
    'alerts',
    (v, ref) => ({
      owner_id: ref('users'),
      alert_type: 'agent_failure',
      severity: pick(v, 'critical', 'info'),
    }),
  ],
  // A periodic evaluation's watermark and lease (migration 0020): no references.
  ['alert_evaluations', () => ({})],
  [
    'trust_records',
    (v, ref) => ({
      owner_id: ref('users'),
      agent_id: ref('agents'),
      event_type: 'manual_adjustment',
      trust_delta: pick(v, -0.25, 1e-9),
    }),
  ],
  [
    'consensus_results',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      task_id: maybe(v, ref, 'tasks'),
      consensus_type: pick(v, 'voting', 'mixture_of_agents'),
    }),
  ],
  ['execution_artifacts', (v, ref) => ({ owner_id: ref('users'), run_id: maybe(v, ref, 'workflow_runs') })],
  [
    'execution_history',
    (v, ref) => ({
      owner_id: ref('users'),
      workflow_id: maybe(v, ref, 'workflows'),
      status: pick(v, 'timeout', 'completed'),
      conversation_log: pick(v, toDbJson(bigJson()), null),
    }),
  ],
  ['maintenance_leases', (v) => ({ id: pick(v, 'retention', 'other-job') })],
  [
    'events',
    (v, ref) => ({
      owner_id: ref('users'),
      run_id: maybe(v, ref, 'workflow_runs'),
      status: pick(v, 'dispatched', 'pending'),
    }),
  ],
  [
    'trigger_firings',
    (v, ref) => ({
      owner_id: ref('users'),
      trigger_id: ref('triggers'),
      run_id: maybe(v, ref, 'workflow_runs'),
      status: pick(v, 'started', 'skipped'),
    }),
  ],
  [
    'run_concurrency_keys',
    // Unique per (owner, workflow, key): the rows differ in the key ("" is a workflow-wide key).
    (v, ref) => ({ owner_id: ref('users'), concurrency_key: pick(v, 'acme', '') }),
  ],
  [
    'trigger_debounces',
    (v, ref) => ({
      owner_id: ref('users'),
      trigger_id: ref('triggers'),
      debounce_key: pick(v, 'cart-1', ''),
      coalesced: pick(v, 2_147_483_647, undefined),
    }),
  ],
  [
    'flow_keys',
    // Unique per key; a concurrency key has a limit, a rate key a limit and a period.
    (v, ref) => ({
      key: pick(v, '["c","step","o","w/s","acme"]', '["r","owner","o","",""]'),
      owner_id: ref('users'),
      scope: pick(v, 'step', 'owner'),
      max_running: pick(v, 2_147_483_647, null),
      rate_limit: pick(v, null, 10),
      period_ms: pick(v, null, 9_007_199_254_740_991),
    }),
  ],
  ['flow_slots', (v, ref) => ({ task_id: ref('tasks', v), lease_epoch: pick(v, 1, 2_147_483_647) })],
  ['flow_starts', (v) => ({ key: pick(v, '["r","owner","o","",""]', 'k') })],
  ['webhooks', (_v, ref) => ({ owner_id: ref('users') })],
  [
    'webhook_deliveries',
    (v, ref) => ({
      owner_id: ref('users'),
      webhook_id: ref('webhooks'),
      status: pick(v, 'succeeded', 'pending'),
    }),
  ],
  [
    'webhook_delivery_attempts',
    (_v, ref) => ({ owner_id: ref('users'), delivery_id: ref('webhook_deliveries') }),
  ],
  // Payload blobs (migration 0028): no foreign keys; a reference names its owner and row.
  ['blobs', (v) => ({ location: pick(v, 'db', 'dir') })],
  ['blob_chunks', () => ({})],
  ['blob_refs', (v, ref) => ({ owner_id: ref('users'), source: pick(v, 'tasks', 'events') })],
];

/** Ids beyond the first two rows of a bulk table: text keys that sort differently by collation. */
const ODD_IDS = ['a', 'B', 'É', '_x', '日本', '😀', 'z z', 'Z', '0', '~'];

export interface FixtureResult {
  /** Every table the fixture wrote at least one row to. */
  readonly tables: string[];
  readonly rows: Record<string, number>;
}

/**
 * Writes the fixture into a migrated database: two rows per table, plus `bulk[table]` extra
 * sparse-style rows (to make the copy page through several batches).
 */
export async function writeFixture(
  handle: DatabaseHandle,
  options: { bulk?: Record<string, number> } = {},
): Promise<FixtureResult> {
  const db = handle.db as unknown as Kysely<Record<string, Row>>;
  const ids = new Map<string, string[]>();
  const idOf = (table: string, v: number): string => {
    let list = ids.get(table);
    if (list === undefined) ids.set(table, (list = []));
    while (list.length <= v) {
      const n = list.length;
      list.push(table === 'execution_logs' && n >= 2 && n - 2 < ODD_IDS.length ? ODD_IDS[n - 2]! : newId());
    }
    return list[v]!;
  };
  const ref: Ref = (table, v = 0) => idOf(table, v);
  const rows: Record<string, number> = {};
  for (const [table, overrides] of FIXTURE) {
    const columns = await handle.dialect.listColumns(db as unknown as Kysely<unknown>, table);
    if (columns.length === 0) throw new Error(`fixture names table ${table}, which the schema lacks`);
    const count = 2 + (options.bulk?.[table] ?? 0);
    const batch: Row[] = [];
    for (let v = 0; v < count; v++) {
      const given = overrides(v, ref);
      const row: Row = { id: idOf(table, v) };
      for (const column of columns) {
        if (column.name === 'id') continue;
        const value = given[column.name];
        row[column.name] = value === undefined ? fill(column, table, v) : value;
      }
      batch.push(row);
    }
    // Small chunks: well under either dialect's parameter limit.
    for (let i = 0; i < batch.length; i += 200) {
      await db
        .insertInto(table)
        .values(batch.slice(i, i + 200))
        .execute();
    }
    rows[table] = count;
  }
  return { tables: Object.keys(rows), rows };
}
