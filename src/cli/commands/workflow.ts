import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { WorkflowView } from '../../registry/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';
import { splitRef } from './agent.js';

/** A workflow definition file, parsed (YAML or JSON by its extension). */
export async function readDefinition(file: string, cwd: string): Promise<unknown> {
  // The registry loads only for the commands that read a definition.
  const { formatOf, parseDocument } = await import('../../registry/index.js');
  const full = path.resolve(cwd, file);
  const format = formatOf(full);
  if (format === null) throw new InputError(file, 'a workflow file ends in .yaml, .yml or .json');
  let text: string;
  try {
    text = fs.readFileSync(full, 'utf8');
  } catch {
    throw new InputError(file, 'cannot read the file');
  }
  return parseDocument(text, format, file);
}

/** The trigger `POST /api/v1/workflows` reports; the secret only when the webhook was created now. */
interface AppliedTrigger {
  readonly type: 'webhook' | 'schedule' | 'event';
  readonly id: string;
  readonly path?: string;
  readonly url?: string;
  readonly secret?: string;
}

export function registerWorkflowCommands(program: Command, io: CliIo): void {
  const workflow = program.command('workflow').description('Validate, apply and inspect workflows');
  const client = () => ApiClient.forCli(io);

  workflow
    .command('validate')
    .description('Check a definition against your agents without storing it; lists every problem')
    .argument('<file>', 'a .yaml, .yml or .json definition')
    .option('--json', 'machine-readable output')
    .action(async (file: string, options: { json?: boolean }) => {
      const result = await client().request<{
        workflow: { name: string; version: string; steps: unknown[] };
      }>('POST', '/api/v1/workflows/validate', await readDefinition(file, io.cwd));
      if (options.json) return io.out(JSON.stringify(result));
      io.out(
        `valid: ${result.workflow.name}@${result.workflow.version} (${result.workflow.steps.length} steps)`,
      );
    });

  workflow
    .command('apply')
    .description('Store a definition as a new version (the same one again changes nothing)')
    .argument('<file>', 'a .yaml, .yml or .json definition')
    .option('--json', 'machine-readable output')
    .action(async (file: string, options: { json?: boolean }) => {
      const api = client();
      const result = await api.request<{
        created: boolean;
        workflow: WorkflowView;
        trigger: AppliedTrigger | null;
      }>('POST', '/api/v1/workflows', await readDefinition(file, io.cwd));
      if (options.json) return io.out(JSON.stringify(result));
      io.out(
        `${result.created ? 'applied' : 'unchanged'} ${result.workflow.name}@${result.workflow.version}`,
      );
      const trigger = result.trigger;
      if (trigger?.url !== undefined) io.out(`webhook: POST ${api.baseUrl}${trigger.url}`);
      if (trigger?.secret !== undefined) {
        io.out('signing secret (store it now; it is not shown again):');
        io.out(`  ${trigger.secret}`);
      }
    });

  workflow
    .command('list')
    .description('The latest version of each workflow')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: WorkflowView[] }>('GET', '/api/v1/workflows');
      if (options.json) return io.out(JSON.stringify(items));
      io.out(
        formatTable(
          ['NAME', 'VERSION', 'TRIGGER', 'STEPS', 'ENABLED', 'STATUS'],
          items.map((w) => [
            w.name,
            w.version,
            w.workflow.trigger.type,
            w.workflow.steps.length,
            w.enabled ? 'yes' : 'no',
            w.status,
          ]),
        ),
      );
    });

  workflow
    .command('show')
    .description('One workflow: the latest version, or name@version')
    .argument('<name[@version]>', 'the workflow')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { json?: boolean }) => {
      const { name, version } = splitRef(ref);
      const route = `/api/v1/workflows/${encodeURIComponent(name)}${version === undefined ? '' : `/versions/${encodeURIComponent(version)}`}`;
      const view = await client().request<WorkflowView>('GET', route);
      if (options.json) return io.out(JSON.stringify(view));
      io.out(`${view.name}@${view.version} — ${view.enabled ? 'enabled' : 'disabled'}, ${view.status}`);
      if (view.description) io.out(view.description);
      io.out(`trigger: ${JSON.stringify(view.workflow.trigger)}`);
      io.out(
        formatTable(
          ['STEP', 'RUNS', 'NEEDS', 'WHEN', 'FOR EACH'],
          view.workflow.steps.map((s) => [
            s.id,
            s.agent ? `${s.agent.name}@${s.agent.range}` : `capability ${s.capability?.name ?? '?'}`,
            s.needs.join(',') || '-',
            s.when ?? '-',
            s.for_each ?? '-',
          ]),
        ),
      );
    });
}
