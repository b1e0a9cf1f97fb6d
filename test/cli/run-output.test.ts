import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

// Listed backwards, with ids PostgreSQL's jsonb would put in yet another order (shortest first).
const DEFINITION = [
  'name: ordered',
  'version: 1.0.0',
  'steps:',
  '  - id: ab',
  '    agent: builtin/transform',
  '    needs: [tag]',
  '    input: { done: "{{ steps.tag.output.tag }}", text: "{{ steps.summarize.output.text }}" }',
  '  - id: tag',
  '    agent: builtin/transform',
  '    needs: [summarize]',
  '    input: { tag: "{{ $length(steps.summarize.output.text) }}" }',
  '  - id: summarize',
  '    agent: builtin/transform',
  '    input: { text: "{{ trigger.text }}" }',
].join('\n');
const ORDER = ['summarize', 'tag', 'ab'];
// Longer than a table cell (80 characters), so `runs show` cuts it and --full does not.
const TEXT = `${'a long text that goes on '.repeat(6)}and ends HERE`;

describe.each(DIALECTS)("a run's output in the CLI, against a server on %s", (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let file: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    server = await startServer(
      loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: home, SWARM_PORT: '0', SWARM_LOG_LEVEL: 'silent' }),
    );
    env = { SWARM_HOME: home, SWARM_URL: server.url };
    file = path.join(testDb.dir, 'ordered.yaml');
    fs.writeFileSync(file, DEFINITION);
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('run --wait lists the steps in dependency order and ends with the result, whole', async () => {
    const waited = await cli(['run', file, '--input', JSON.stringify({ text: TEXT }), '--wait'], env);
    expect(waited.code, waited.stderr).toBe(0);
    const lines = waited.stdout.trimEnd().split('\n');
    const progress = lines.filter((l) => /^ {2}\w+ +\w+$/.test(l)).map((l) => l.trim().split(/ +/));
    // Lines come per snapshot of the run (a quick step may show only as completed), each step's
    // before the next one's: none is shown running before the step it needs completed.
    const places = progress.map(([, step]) => ORDER.indexOf(step!));
    expect(places).toEqual([...places].sort((a, b) => a - b));
    expect(progress.filter(([status]) => status === 'completed').map(([, step]) => step)).toEqual(ORDER);
    const end = lines.findIndex((l) => /^completed in \d+ ms$/.test(l));
    expect(end).toBeGreaterThan(0);
    expect(lines[end + 1]).toMatch(/^result: /);
    const printed = JSON.parse(
      lines
        .slice(end + 1)
        .join('\n')
        .replace(/^result: /, ''),
    ) as unknown;

    const json = await cli(['runs', 'list', '--workflow', 'ordered', '--json'], env);
    const [run] = JSON.parse(json.stdout) as Array<{ id: string; result: unknown }>;
    expect(printed).toEqual(run!.result);
    expect(JSON.stringify(printed)).toContain('HERE');
  });

  it('runs show cuts outputs to a line and says so; --full shows them whole; --json in order', async () => {
    const started = await cli(['run', file, '--input', JSON.stringify({ text: TEXT })], env);
    const id = started.stdout.trim();
    expect((await cli(['runs', 'logs', id, '--follow'], env)).code).toBe(0);

    const shown = await cli(['runs', 'show', id], env);
    expect(shown.code, shown.stderr).toBe(0);
    const rows = shown.stdout.split('\n').slice(2, 5);
    expect(rows.map((r) => r.split(/ +/)[0])).toEqual(ORDER);
    const summarize = rows[0]!;
    expect(summarize).toContain('…');
    expect(summarize).not.toContain('HERE');
    expect(shown.stdout).toMatch(/^\(cut at 80 characters: --full shows every output whole/m);

    const full = await cli(['runs', 'show', id, '--full'], env);
    expect(full.code, full.stderr).toBe(0);
    const steps = full.stdout.split('\n').filter((l) => /^\w+: \w+/.test(l) && !l.startsWith('result'));
    expect(steps).toEqual(ORDER.map((s) => `${s}: completed`));
    expect(full.stdout).toContain(JSON.stringify(TEXT));
    expect(full.stdout).toMatch(/^result: \{/m);

    const json = await cli(['runs', 'show', id, '--json'], env);
    const run = JSON.parse(json.stdout) as { steps: Record<string, { output: unknown }> };
    expect(Object.keys(run.steps)).toEqual(ORDER);
    expect(run.steps.summarize!.output).toEqual({ text: TEXT });

    // The execution log tells it in the same order: a step completes before the next one runs.
    const logs = await cli(['runs', 'logs', id], env);
    const messages = logs.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/ +/).slice(3).join(' '))
      .filter((m) => m.startsWith('step '));
    expect(messages).toEqual(ORDER.flatMap((s) => [`step ${s} running`, `step ${s} completed`]));
  });
});
