import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

const STATUSES = ['waiting', 'resolved', 'timed_out', 'cancelled', 'all'] as const;

interface ApprovalView {
  readonly id: string;
  readonly runId: string | null;
  readonly workflowName: string | null;
  readonly stepId: string | null;
  readonly message: string;
  readonly status: string;
  readonly decision: string | null;
  readonly decidedBy: { id: string | null; email: string | null; via: string } | null;
  readonly timeoutAt: string | null;
  readonly canDecide: boolean;
}

function decidedBy(a: ApprovalView): string {
  if (a.decidedBy === null) return '';
  return a.decidedBy.via === 'api' ? (a.decidedBy.email ?? a.decidedBy.id ?? '?') : a.decidedBy.via;
}

/** `swarm approvals`: the approval steps waiting for you (docs/waiting.md), and deciding them. */
export function registerApprovalCommands(program: Command, io: CliIo): void {
  const approvals = program
    .command('approvals')
    .description('Approval steps waiting for a person: list, approve, reject');
  const client = () => ApiClient.forCli(io);

  approvals
    .command('list')
    .description('Your approvals, newest first (waiting ones unless --status says otherwise)')
    .option('--status <status>', `${STATUSES.join(', ')}`, 'waiting')
    .option('--limit <n>', 'at most this many (1–999)', '50')
    .option('--json', 'machine-readable output')
    .action(async (options: { status: string; limit: string; json?: boolean }) => {
      if (!(STATUSES as readonly string[]).includes(options.status))
        throw new InputError('--status', `must be one of ${STATUSES.join(', ')}, got "${options.status}"`);
      if (!/^[1-9][0-9]{0,2}$/.test(options.limit))
        throw new InputError('--limit', `must be a whole number from 1 to 999, got "${options.limit}"`);
      const query = new URLSearchParams({ status: options.status, limit: options.limit });
      const { items } = await client().request<{ items: ApprovalView[] }>(
        'GET',
        `/api/v1/approvals?${query}`,
      );
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0)
        return io.out(options.status === 'waiting' ? 'no approvals waiting' : 'no approvals');
      io.out(
        formatTable(
          ['ID', 'STATUS', 'WORKFLOW', 'STEP', 'DECIDED BY', 'TIMEOUT', 'MESSAGE'],
          items.map((a) => [
            a.id,
            a.decision ?? a.status,
            a.workflowName ?? '',
            a.stepId ?? '',
            decidedBy(a),
            a.timeoutAt ?? '',
            a.message.replace(/\s+/g, ' ').slice(0, 80),
          ]),
        ),
      );
    });

  const decide =
    (decision: 'approve' | 'reject') =>
    async (id: string, options: { comment?: string; data?: string; json?: boolean }) => {
      let data: unknown;
      if (options.data !== undefined) {
        try {
          data = JSON.parse(options.data) as unknown;
        } catch {
          throw new InputError('--data', 'must be JSON, e.g. \'{"amount": 10}\'');
        }
      }
      const approval = await client().request<ApprovalView>(
        'POST',
        `/api/v1/approvals/${encodeURIComponent(id)}`,
        {
          decision,
          ...(options.comment === undefined ? {} : { comment: options.comment }),
          ...(data === undefined ? {} : { data }),
        },
      );
      if (options.json) return io.out(JSON.stringify(approval));
      io.out(
        `${decision === 'approve' ? 'approved' : 'rejected'} ${approval.id} (run ${approval.runId ?? '-'}, step ${approval.stepId ?? '-'})`,
      );
    };

  approvals
    .command('approve')
    .description('Approve: the step completes and its run carries on')
    .argument('<ID>', 'the approval id (swarm approvals list)')
    .option('--comment <text>', 'why, for the step output and the audit log')
    .option('--data <json>', "the answer to the step's form, as JSON")
    .option('--json', 'machine-readable output')
    .action(decide('approve'));

  approvals
    .command('reject')
    .description('Reject: the step fails (APPROVAL_REJECTED)')
    .argument('<ID>', 'the approval id (swarm approvals list)')
    .option('--comment <text>', 'why, for the step error and the audit log')
    .option('--json', 'machine-readable output')
    .action(decide('reject'));
}
