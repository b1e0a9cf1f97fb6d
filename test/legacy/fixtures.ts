import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export type Variant = '000' | '003';

/**
 * Copies of the legacy registry schemas (seeds 000 and 003 of the product's shared seeds), kept
 * in the repository so the tests run from any clone.
 */
const SEEDS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'seeds');

/**
 * The CREATE TABLE / CREATE INDEX statements of a seed's ```sql blocks, exactly as the legacy
 * engine ran them: the fixtures are built from the seeds, not from a copy that could drift.
 */
export function seedDdl(variant: Variant): string[] {
  const name = fs.readdirSync(SEEDS_DIR).find((f) => f.startsWith(`${variant}_`) && f.endsWith('.txt'));
  if (name === undefined) throw new Error(`no seed ${variant}_*.txt in ${SEEDS_DIR}`);
  const text = fs.readFileSync(path.join(SEEDS_DIR, name), 'utf8');
  const blocks = [...text.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .join('\n')
    .replace(/--[^\n]*/g, '')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => /^CREATE\s+(TABLE|INDEX)\b/i.test(s));
}

/** Seed 003 runs' created_at (queued a second before they started), in CURRENT_TIMESTAMP form. */
export const CREATED_003: Record<string, string> = {
  'run-1': '2024-03-02 07:59:59',
  'run-2': '2024-03-02 08:59:59',
  'run-3': '2024-03-02 22:59:59',
};

export const IDS = {
  agents: ['agt-reader', 'agt-summarizer', 'agt-legacy'],
  workflows: ['wf-reply', 'wf-digest'],
  runs: ['run-1', 'run-2', 'run-3'],
  steps: ['step-1', 'step-2', 'step-3', 'step-4', 'step-5'],
  secrets: ['sec-creds', 'sec-global'],
  triggers: ['trg-webhook', 'trg-schedule', 'trg-event'],
} as const;

/** The raw ciphertext of the workflow secret: it must arrive byte for byte. */
export const SECRET_BLOB = Buffer.from('9f2c01a7e5b3d4c2aabbccddeeff00112233445566778899', 'hex');

/**
 * Writes a legacy registry of the given variant with realistic rows in every table: three
 * agents (one with an unknown runtime and malformed JSON), two workflows, three runs, five step
 * executions, two secrets, one trigger of each type, and for 003 VM assignments and artifacts.
 */
export function buildRegistry(file: string, variant: Variant): void {
  const db = new Database(file);
  try {
    for (const statement of seedDdl(variant)) db.exec(statement);
    const is003 = variant === '003';
    const insert = (table: string, row: Record<string, unknown>) => {
      const cols = Object.keys(row);
      db.prepare(
        `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`,
      ).run(row);
    };
    const schema = (props: Record<string, string>) =>
      JSON.stringify({
        type: 'object',
        properties: Object.fromEntries(Object.entries(props).map(([k, t]) => [k, { type: t }])),
      });
    const agent = (
      id: string,
      name: string,
      version: string,
      runtime: string,
      extra: Record<string, unknown>,
    ) =>
      insert('agents', {
        id,
        name,
        version,
        path: `/opt/swarm-agents/${name}`,
        description: `${name} agent`,
        [is003 ? 'inputs_schema' : 'input_schema']: schema({ mailbox: 'string' }),
        [is003 ? 'outputs_schema' : 'output_schema']: schema({ messages: 'array' }),
        [is003 ? 'runtime' : 'runtime_type']: runtime,
        author: 'ops@example.com',
        created_at: '2024-03-01 10:00:00',
        updated_at: '2024-03-01 10:30:00',
        ...(is003 ? { triggers: JSON.stringify([{ type: 'event', event: 'new_email' }]) } : {}),
        ...extra,
      });
    agent('agt-reader', 'email-reader', '1.0.0', 'node', {
      capabilities: '["network:http", "claude:api"]',
      tags: '["email"]',
    });
    agent('agt-summarizer', 'summarizer', '2.1.0', 'python', {
      capabilities: '["text:summarize"]',
      memory_mb: 512,
      timeout_seconds: 60,
      tags: '[]',
    });
    // An unknown runtime (→ binary) and JSON the old engine let through (→ a JSON string, warned).
    agent('agt-legacy', 'legacy-tool', '0.3.0', 'docker', { capabilities: '["network:http"', tags: null });

    const steps = JSON.stringify([
      { id: 'read', agent: 'email-reader@1.0.0' },
      { id: 'reply', agent: 'summarizer@2.1.0', depends_on: ['read'] },
    ]);
    insert('workflows', {
      id: 'wf-reply',
      name: 'email-auto-reply',
      version: '1.0.0',
      path: '/opt/swarm-workflows/email-auto-reply',
      description: 'Answers incoming mail',
      trigger_type: 'webhook',
      trigger_config: '{"path": "/hooks/email-incoming"}',
      steps,
      on_error: '{"notify": "ops@example.com", "retry": 2}',
      enabled: 1,
      author: 'ops@example.com',
      tags: '["email", "support"]',
      created_at: '2024-03-01 11:00:00',
      updated_at: '2024-03-01 11:00:00',
      ...(is003 ? { variables: '{"signature": "The Team"}', on_success: '{"notify": "#mail"}' } : {}),
    });
    insert('workflows', {
      id: 'wf-digest',
      name: 'nightly-digest',
      version: '1.2.0',
      path: '/opt/swarm-workflows/nightly-digest',
      trigger_type: 'schedule',
      trigger_config: '{"cron": "0 2 * * *"}',
      steps: '[{"id": "summarize", "agent": "summarizer@2.1.0"}]',
      enabled: 'false',
      created_at: '2024-03-01 12:00:00',
      updated_at: '2024-03-02 09:15:00',
    });

    // Seed 000's runs have no created_at; 003's record when the run was queued.
    const run = (
      id: string,
      workflow: string,
      status: string,
      startedAt: string,
      extra: Record<string, unknown>,
    ) =>
      insert('workflow_runs', {
        id,
        workflow_id: workflow,
        workflow_version: workflow === 'wf-reply' ? '1.0.0' : '1.2.0',
        status,
        trigger_type: workflow === 'wf-reply' ? 'webhook' : 'schedule',
        started_at: startedAt,
        ...(is003 ? { created_at: CREATED_003[id] } : {}),
        ...extra,
      });
    run('run-1', 'wf-reply', 'completed', '2024-03-02 08:00:00', {
      trigger_data: '{"from": "alice@example.com", "subject": "Hello"}',
      step_results: '{"read": {"status": "completed"}, "reply": {"status": "completed"}}',
      completed_at: '2024-03-02 08:00:05',
      total_vm_time_ms: 4200,
      total_api_tokens: 1234,
    });
    run('run-2', 'wf-reply', 'failed', '2024-03-02 09:00:00', {
      trigger_data: '{"from": "bob@example.com"}',
      completed_at: '2024-03-02 09:00:03',
      error: 'SMTP connection refused',
      error_step: 'reply',
    });
    // An ISO timestamp with a zone: 01:00 at +02:00 is 23:00 UTC the day before.
    run('run-3', 'wf-digest', 'running', '2024-03-03T01:00:00+02:00', { current_step: 'summarize' });

    const step = (
      id: string,
      runId: string,
      stepId: string,
      agentId: string | null,
      status: string,
      extra: Record<string, unknown>,
    ) =>
      insert('step_executions', {
        id,
        run_id: runId,
        step_id: stepId,
        agent_id: agentId,
        status,
        ...(is003 && agentId !== null
          ? {
              agent_name: agentId === 'agt-reader' ? 'email-reader' : 'summarizer',
              agent_version: agentId === 'agt-reader' ? '1.0.0' : '2.1.0',
            }
          : {}),
        ...extra,
      });
    step('step-1', 'run-1', 'read', 'agt-reader', 'completed', {
      vm_id: 'vm-01',
      inputs: '{"mailbox": "support"}',
      outputs: '{"messages": [{"id": 1}]}',
      queued_at: '2024-03-02 08:00:00',
      started_at: '2024-03-02 08:00:01',
      completed_at: '2024-03-02 08:00:03',
      duration_ms: 2000,
      api_tokens_used: 0,
    });
    step('step-2', 'run-1', 'reply', 'agt-summarizer', 'completed', {
      vm_id: 'vm-02',
      inputs: '{"messages": [{"id": 1}]}',
      outputs: '{"sent": true}',
      queued_at: '2024-03-02 08:00:03',
      started_at: '2024-03-02 08:00:03',
      completed_at: '2024-03-02 08:00:05',
      duration_ms: 2000,
      api_tokens_used: 1234,
    });
    step('step-3', 'run-2', 'read', 'agt-reader', 'failed', {
      queued_at: '2024-03-02 09:00:00',
      error: 'mailbox locked',
      retry_count: 2,
    });
    step('step-4', 'run-2', 'reply', null, 'skipped', { queued_at: '2024-03-02 09:00:03' });
    step('step-5', 'run-3', 'summarize', 'agt-summarizer', 'pending', { queued_at: '2024-03-02T23:00:00Z' });

    insert('secrets', {
      id: 'sec-creds',
      workflow_id: 'wf-reply',
      name: 'email_creds',
      encrypted_value: SECRET_BLOB,
      scope: 'workflow',
      created_at: '2024-03-01 11:05:00',
      updated_at: '2024-03-01 11:05:00',
    });
    insert('secrets', {
      id: 'sec-global',
      workflow_id: null,
      name: 'api_key',
      encrypted_value: Buffer.from('00ff00ff', 'hex'),
      scope: 'global',
      created_at: '2024-03-01 11:06:00',
    });

    insert('triggers', {
      id: 'trg-webhook',
      workflow_id: 'wf-reply',
      type: 'webhook',
      webhook_path: '/hooks/email-incoming',
      webhook_secret: 'whsec_abc123',
      created_at: '2024-03-01 11:10:00',
    });
    insert('triggers', {
      id: 'trg-schedule',
      workflow_id: 'wf-digest',
      type: 'schedule',
      cron_expression: '0 2 * * *',
      next_run_at: '2024-03-04 02:00:00',
      created_at: '2024-03-01 12:01:00',
    });
    insert('triggers', {
      id: 'trg-event',
      workflow_id: 'wf-reply',
      type: 'event',
      event_source: 'email-reader',
      event_type: 'new_email',
      enabled: 0,
      created_at: '2024-03-01 11:11:00',
    });

    if (is003) {
      insert('vm_assignments', {
        vm_id: 'vm-01',
        ticket_id: 'step-1',
        assigned_at: '2024-03-02 08:00:01',
        status: 'completed',
        heartbeat_at: '2024-03-02 08:00:03',
      });
      // A status the target does not know: imported as lost, with a warning.
      insert('vm_assignments', {
        vm_id: 'vm-07',
        ticket_id: 'TKT-42',
        assigned_at: '2024-03-02T10:00:00.250Z',
        status: 'zombie',
      });
      insert('execution_artifacts', {
        id: 'art-1',
        ticket_id: 'step-1',
        artifact_type: 'log',
        content: 'fetched 1 message',
        created_at: '2024-03-02 08:00:03',
      });
      insert('execution_artifacts', {
        id: 'art-2',
        ticket_id: 'TKT-42',
        artifact_type: 'diff',
        content: '--- a\n+++ b\n',
        created_at: '2024-03-02 10:05:00',
      });
    }
  } finally {
    db.close();
  }
}

/** Legacy row counts the fixtures write, per legacy table. */
export function expectedCounts(variant: Variant): Record<string, number> {
  const base = { agents: 3, workflows: 2, triggers: 3, secrets: 2, workflow_runs: 3, step_executions: 5 };
  return variant === '003' ? { ...base, vm_assignments: 2, execution_artifacts: 2 } : base;
}
