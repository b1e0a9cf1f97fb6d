import type { Command } from 'commander';
import type { AgentView } from '../../registry/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

function splitRef(ref: string): { name: string; version?: string } {
  const at = ref.lastIndexOf('@');
  return at > 0 ? { name: ref.slice(0, at), version: ref.slice(at + 1) } : { name: ref };
}

export function registerAgentCommands(program: Command, io: CliIo): void {
  const agent = program.command('agent').description('Register and inspect agents');
  const client = () => ApiClient.forCli(io);

  agent
    .command('register')
    .description('Register an agent version from its folder (with agent.yaml or agent.json) or manifest file')
    .argument('<folder|file>', 'the agent folder or manifest file')
    .option('--json', 'machine-readable output')
    .action(async (target: string, options: { json?: boolean }) => {
      // Checked here first, so mistakes show before anything is sent, with the file named.
      // Loaded here, not at start: the manifest checks are not light, and only this command needs them.
      const { loadAgentManifest } = await import('../../registry/index.js');
      const { manifest, folder } = await loadAgentManifest(target);
      const query = folder === null ? '' : `?path=${encodeURIComponent(folder)}`;
      const result = await client().request<{ created: boolean; agent: AgentView }>(
        'POST',
        `/api/v1/agents${query}`,
        manifest,
      );
      if (options.json) return io.out(JSON.stringify(result));
      io.out(`${result.created ? 'registered' : 'unchanged'} ${result.agent.name}@${result.agent.version}`);
    });

  agent
    .command('list')
    .description('The latest version of each agent')
    .option('--capability <capability>', 'only agents offering this capability')
    .option('--tag <tag>', 'only agents with this tag')
    .option('--type <type>', 'reasoning, execution, coordination or analysis')
    .option('--status <status>', 'active, deprecated, disabled …')
    .option('--no-builtin', "leave out Swarm's builtin agents")
    .option('--json', 'machine-readable output')
    .action(
      async (options: {
        capability?: string;
        tag?: string;
        type?: string;
        status?: string;
        builtin: boolean;
        json?: boolean;
      }) => {
        const params = new URLSearchParams();
        for (const key of ['capability', 'tag', 'type', 'status'] as const) {
          const value = options[key];
          if (value !== undefined) params.set(key, value);
        }
        params.set('builtin', String(options.builtin));
        const { items } = await client().request<{ items: AgentView[] }>('GET', `/api/v1/agents?${params}`);
        if (options.json) return io.out(JSON.stringify(items));
        io.out(
          formatTable(
            ['NAME', 'VERSION', 'TYPE', 'RUNTIME', 'STATUS', 'CAPABILITIES'],
            items.map((a) => [
              a.name,
              a.version,
              a.manifest.type,
              a.manifest.runtime.type,
              a.status,
              a.manifest.capabilities.join(','),
            ]),
          ),
        );
      },
    );

  agent
    .command('show')
    .description('One agent: the latest version, or name@version')
    .argument('<name[@version]>', 'the agent')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { json?: boolean }) => {
      const { name, version } = splitRef(ref);
      const path = `/api/v1/agents/${encodeURIComponent(name)}${version === undefined ? '' : `/versions/${encodeURIComponent(version)}`}`;
      const view = await client().request<AgentView>('GET', path);
      if (options.json) return io.out(JSON.stringify(view));
      const m = view.manifest;
      io.out(`${view.name}@${view.version}${view.builtin ? ' (builtin)' : ''} — ${view.status}`);
      if (m.description) io.out(m.description);
      io.out(`type:         ${m.type}`);
      io.out(`runtime:      ${JSON.stringify(m.runtime)}`);
      io.out(`capabilities: ${m.capabilities.join(', ') || '-'}`);
      io.out(`permissions:  ${m.permissions.join(', ') || '-'}`);
      io.out(`resources:    ${m.resources.memory_mb} MB, ${m.resources.timeout_seconds} s`);
      if (view.path) io.out(`path:         ${view.path}`);
    });
}

export { splitRef };
