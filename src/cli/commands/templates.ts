import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { Template } from '../../templates/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--set agent=researcher` → {agent: 'researcher'}; the value may hold "=" itself. */
export function parameterFlags(sets: readonly string[]): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const set of sets) {
    const at = set.indexOf('=');
    if (at <= 0) throw new InputError('--set', `NAME=VALUE, got "${set}"`);
    parameters[set.slice(0, at).trim()] = set.slice(at + 1);
  }
  return parameters;
}

/** `swarm templates`: workflow templates, one per pattern, and the owner's own. */
export function registerTemplateCommands(program: Command, io: CliIo): void {
  const templates = program
    .command('templates')
    .description('Workflow templates: list them, make a workflow from one (docs/templates.md)');
  templates
    .command('list')
    .description("Swarm's built-in templates and your own, with their parameters")
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await ApiClient.forCli(io).request<{ items: Template[] }>('GET', '/api/v1/templates');
      if (options.json) return io.out(JSON.stringify(items));
      io.out(
        formatTable(
          ['NAME', 'PATTERN', 'SOURCE', 'PARAMETERS'],
          items.map((t) => [
            t.name,
            t.pattern ?? '-',
            t.builtin ? 'built-in' : t.isPublic ? 'public' : 'private',
            t.parameters.map((p) => (p.default === undefined ? `${p.name}*` : p.name)).join(', '),
          ]),
        ),
      );
      io.out('* required');
    });
  templates
    .command('use')
    .description('Fill a template in: apply the workflow (--apply, the default) or print it (--print)')
    .argument('<name>', 'the template')
    .option('--set <NAME=VALUE>', 'a parameter (repeat); lists are comma-separated', collect, [])
    .option('--apply', 'store the workflow (the default)')
    .option('--print', 'print the workflow definition (JSON) instead of storing it')
    .action(async (name: string, options: { set: string[]; apply?: boolean; print?: boolean }) => {
      if (options.apply && options.print)
        throw new InputError('--print', 'choose --apply or --print, not both');
      const parameters = parameterFlags(options.set);
      const api = ApiClient.forCli(io);
      if (options.print) {
        const template = await api.request<Template & { workflow: Record<string, unknown> }>(
          'GET',
          `/api/v1/templates/${encodeURIComponent(name)}`,
        );
        // Loaded here: the templates' index loads the registry and the database layer.
        const { fillPlaceholders, resolveParameters } = await import('../../templates/index.js');
        const values = resolveParameters(template.parameters, parameters);
        return io.out(JSON.stringify(fillPlaceholders(template.workflow, values), null, 2));
      }
      const result = await api.request<{ created: boolean; workflow: { name: string; version: string } }>(
        'POST',
        `/api/v1/templates/${encodeURIComponent(name)}/instantiate`,
        { parameters },
      );
      io.out(
        `${result.created ? 'created' : 'unchanged'} workflow ${result.workflow.name}@${result.workflow.version} from template ${name}`,
      );
    });
}
