import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { LogView, RunView } from '../../engine/index.js';
import { InputError, SwarmError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, readJsonOption, type CliIo } from '../io.js';
import { readDefinition } from './workflow.js';

/** One line per step (and on_error/on_success handler) whose state changed; a bar for fan-outs. */
/** `swarm run examples/workflows/hello.yaml`: a path to a definition rather than a name. */
function isDefinitionFile(ref: string, cwd: string): boolean {
  if (!/\.(ya?ml|json)$/i.test(ref)) return false;
  try {
    return fs.statSync(path.resolve(cwd, ref)).isFile();
  } catch {
    return false;
  }
}

function progressLines(run: RunView, seen: Map<string, string>): string[] {
  const lines: string[] = [];
  const states = [
    ...Object.entries(run.steps),
    ...(run.handlers ?? []).map((h) => [`${h.kind}[${h.index}]`, h] as const),
  ];
  for (const [id, step] of states) {
    const items =
      !('items' in step) || step.items === undefined
        ? ''
        : ` ${bar(step.items.done, step.items.total)} ${step.items.done}/${step.items.total}`;
    const line = `  ${step.status.padEnd(9)} ${id}${items}${step.error ? ` — ${step.error}` : ''}`;
    if (seen.get(id) !== line && step.status !== 'pending' && step.status !== 'waiting') lines.push(line);
    seen.set(id, line);
  }
  return lines;
}

/** `time level step message`, on one line. */
function logLine(line: LogView): string {
  const message = line.message.replace(/\s*\n\s*/g, ' ').trim();
  return `${line.time} ${line.level.padEnd(8)} ${line.stepId ?? '-'} ${message}`;
}

/** Exit 0 only for a completed run: the error `swarm run --wait` and `runs logs --follow` end with. */
function requireCompleted(run: RunView): void {
  if (run.status !== 'completed') {
    throw new SwarmError(
      'RUN_NOT_COMPLETED',
      `run ${run.id} ended ${run.status}${run.errorStep ? ` at step ${run.errorStep}` : ''}`,
    );
  }
}

/** A value as JSON on one line, cut at `width` characters (with `…`) unless `width` is undefined. */
function oneLineJson(value: unknown, width?: number): string {
  const text = JSON.stringify(value) ?? 'null';
  return width === undefined || text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** A value as indented JSON, each line after the first indented by `indent` more. */
function blockJson(value: unknown, indent = ''): string {
  return (JSON.stringify(value, null, 2) ?? 'null').replace(/\n/g, `\n${indent}`);
}

function bar(done: number, total: number, width = 20): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function registerRunCommands(program: Command, io: CliIo): void {
  const client = () => ApiClient.forCli(io);

  program
    .command('run')
    .description('Start a run of a workflow; with --wait, follow it and exit 0 only if it completed')
    .argument(
      '<workflow>',
      'workflow name (the latest version), name@version, or a definition file to apply and run',
    )
    .option('-i, --input <json|@file>', 'the run input, as JSON or @file.json')
    .option('-w, --wait', 'follow the run until it ends')
    .option('--json', 'machine-readable output (the final run with --wait)')
    .action(async (ref: string, options: { input?: string; wait?: boolean; json?: boolean }) => {
      const input = options.input === undefined ? {} : readJsonOption(options.input, '--input', io.cwd);
      const api = client();
      let [name, version]: [string, string | undefined] = [ref, undefined];
      const at = ref.lastIndexOf('@');
      if (at > 0) [name, version] = [ref.slice(0, at), ref.slice(at + 1)];
      if (isDefinitionFile(ref, io.cwd)) {
        // A definition file: applied first (the same version again changes nothing), then run.
        const { workflow } = await api.request<{ workflow: { name: string; version: string } }>(
          'POST',
          '/api/v1/workflows',
          await readDefinition(ref, io.cwd),
        );
        [name, version] = [workflow.name, workflow.version];
      }
      const { id } = await api.request<{ id: string; run: RunView }>(
        'POST',
        `/api/v1/workflows/${encodeURIComponent(name)}/runs`,
        {
          input,
          ...(version === undefined ? {} : { version }),
        },
      );
      if (!options.wait) return io.out(options.json ? JSON.stringify({ id }) : id);
      if (!options.json) io.out(`run ${id} of ${isDefinitionFile(ref, io.cwd) ? `${name}@${version}` : ref}`);
      const seen = new Map<string, string>();
      // Over the run's event stream (reconnecting, or polling if it must) until it is over.
      const run = await api.followRun(id, {
        run: (current) => {
          if (!options.json) for (const line of progressLines(current, seen)) io.out(line);
        },
      });
      if (options.json) io.out(JSON.stringify(run));
      else {
        io.out(
          `${run.status}${run.durationMs === null ? '' : ` in ${run.durationMs} ms`}${run.error ? `: ${run.error}` : ''}`,
        );
        // What the run was for: its result, whole.
        if (run.status === 'completed') io.out(`result: ${blockJson(run.result)}`);
      }
      requireCompleted(run);
    });

  const runs = program.command('runs').description('List and manage runs');
  runs
    .command('list')
    .description('Your runs, newest first')
    .option('--workflow <name>', 'only runs of this workflow')
    .option('--status <status>', 'pending, running, completed, failed, cancelled, timeout')
    .option('--limit <n>', 'at most this many (1–999)', '50')
    .option('--json', 'machine-readable output')
    .action(async (options: { workflow?: string; status?: string; limit: string; json?: boolean }) => {
      const params = new URLSearchParams({ limit: options.limit });
      if (options.workflow) params.set('workflow', options.workflow);
      if (options.status) params.set('status', options.status);
      const { items } = await client().request<{ items: RunView[] }>('GET', `/api/v1/runs?${params}`);
      if (options.json) return io.out(JSON.stringify(items));
      io.out(
        formatTable(
          ['ID', 'WORKFLOW', 'STATUS', 'ATTEMPT', 'STARTED', 'MS'],
          items.map((r) => [
            r.id,
            `${r.workflow}@${r.version}`,
            r.status,
            r.attempt,
            r.startedAt ?? '-',
            r.durationMs ?? '-',
          ]),
        ),
      );
    });
  runs
    .command('show')
    .description(
      'One run with its steps, in the order of its definition; outputs cut to a line unless --full',
    )
    .argument('<id>', 'the run id')
    .option('--full', "every step's output and the result whole, as indented JSON")
    .option('--json', 'machine-readable output (the whole run)')
    .action(async (id: string, options: { full?: boolean; json?: boolean }) => {
      const run = await client().request<RunView>('GET', `/api/v1/runs/${encodeURIComponent(id)}`);
      if (options.json) return io.out(JSON.stringify(run));
      io.out(
        `${run.id} ${run.workflow}@${run.version} — ${run.status} (attempt ${run.attempt})${run.durationMs === null ? '' : ` in ${run.durationMs} ms`}${run.error ? `: ${run.error}` : ''}`,
      );
      // Workflow concurrency (docs/run-concurrency.md): a pending run with a key waits for a slot.
      if (run.concurrencyKey !== null && run.concurrencyKey !== undefined)
        io.out(
          `concurrency key: ${JSON.stringify(run.concurrencyKey)}${run.status === 'pending' ? ' (waiting for a slot)' : ''}`,
        );
      if (run.cancellationReason) io.out(`cancelled by ${run.cancelledBy ?? '?'}: ${run.cancellationReason}`);
      const steps = Object.entries(run.steps);
      if (options.full) {
        for (const [s, st] of steps) {
          io.out(`${s}: ${st.status}${st.error ? ` — ${st.error}` : ''}`);
          if (st.output !== undefined) io.out(`  ${blockJson(st.output, '  ')}`);
        }
        if (run.status === 'completed') io.out(`result: ${blockJson(run.result)}`);
        return;
      }
      const width = 80;
      let cut = false;
      const shown = (value: unknown) => {
        const text = oneLineJson(value, width);
        cut ||= text.endsWith('…') && (JSON.stringify(value) ?? '').length > width;
        return text;
      };
      io.out(
        formatTable(
          ['STEP', 'STATUS', 'OUTPUT'],
          steps.map(([s, st]) => [
            s,
            st.status,
            st.output === undefined
              ? st.error === undefined
                ? '-'
                : `error: ${st.error}`
              : shown(st.output),
          ]),
        ),
      );
      if (run.status === 'completed') io.out(`result: ${shown(run.result)}`);
      if (cut) io.out(`(cut at ${width} characters: --full shows every output whole, --json the whole run)`);
    });
  runs
    .command('logs')
    .description("A run's execution log, oldest first; with --follow, until the run is over")
    .argument('<id>', 'the run id')
    .option('-f, --follow', 'stream new lines until the run ends; exit 0 only if it completed')
    .option('--step <id>', "only this step's lines")
    .option('--json', 'one JSON object per line')
    .action(async (id: string, options: { follow?: boolean; step?: string; json?: boolean }) => {
      const api = client();
      const print = (line: LogView) => {
        if (options.step !== undefined && line.stepId !== options.step) return;
        io.out(options.json ? JSON.stringify(line) : logLine(line));
      };
      if (!options.follow) {
        await api.eachLog(id, options.step === undefined ? {} : { step: options.step }, print);
        return;
      }
      requireCompleted(await api.followRun(id, { log: print }));
    });
  runs
    .command('cancel')
    .description('Cancel a pending or running run')
    .argument('<id>', 'the run id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const run = await client().request<RunView>(
        'POST',
        `/api/v1/runs/${encodeURIComponent(id)}/cancel`,
        {},
      );
      io.out(options.json ? JSON.stringify(run) : `${run.id}: ${run.status}`);
    });
  runs
    .command('retry')
    .description(
      'Retry a failed, cancelled or timed-out run as its next attempt: every step again, or only the failed and unreached ones with --from-failed',
    )
    .argument('<id>', 'the run id')
    .option(
      '--from-failed',
      'keep the completed steps and their outputs; run the failed and unreached steps again',
    )
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { fromFailed?: boolean; json?: boolean }) => {
      const run = await client().request<RunView>('POST', `/api/v1/runs/${encodeURIComponent(id)}/retry`, {
        fromFailed: options.fromFailed === true,
      });
      io.out(options.json ? JSON.stringify(run) : `${run.id}: ${run.status} (attempt ${run.attempt})`);
    });
  runs
    .command('fork')
    .description(
      'Fork a run into a new one that runs again from a step (and what depends on it), reusing the recorded outputs of the rest',
    )
    .argument('<id>', 'the run id')
    .option('--from <step>', 'the step to run again (required)')
    .option(
      '--version <version>',
      "the workflow version to run: a version, or latest (default: the run's own)",
    )
    .option('-i, --input <json|@file>', "the new run's input (default: the run's own)")
    .option('--json', 'machine-readable output (the new run)')
    .action(
      async (id: string, options: { from?: string; version?: string; input?: string; json?: boolean }) => {
        // Checked here rather than by commander, so a missing step is an input error (exit 1).
        if (options.from === undefined || options.from.trim() === '')
          throw new InputError('--from', 'is required: the step to run again');
        const input =
          options.input === undefined ? undefined : readJsonOption(options.input, '--input', io.cwd);
        const run = await client().request<RunView>('POST', `/api/v1/runs/${encodeURIComponent(id)}/fork`, {
          fromStep: options.from,
          ...(options.version === undefined ? {} : { version: options.version }),
          ...(input === undefined ? {} : { input }),
        });
        io.out(options.json ? JSON.stringify(run) : run.id);
      },
    );
}
