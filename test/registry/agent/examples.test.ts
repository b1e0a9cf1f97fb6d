import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSchemaAjv, loadAgentManifest, type LoadedAgent } from '../../../src/registry/agent/index.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/agents');
const INTERPRETER = { node: process.execPath, python: 'python3' } as const;

interface Run {
  code: number | null;
  lines: unknown[];
  stderr: string;
}

/**
 * Runs a loaded process agent as a worker would: argument array, no shell, one JSON line on stdin.
 * `closeStdin: false` leaves stdin open, as a worker that keeps the pipe may.
 */
function run(agent: LoadedAgent, message: unknown, closeStdin = true): Promise<Run> {
  const { runtime } = agent.manifest;
  if (runtime.type !== 'node' && runtime.type !== 'python')
    throw new Error(`not runnable here: ${runtime.type}`);
  const child = spawn(
    INTERPRETER[runtime.type],
    [path.join(agent.folder!, runtime.entry), ...(runtime.args ?? [])],
    {
      cwd: agent.folder!,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.write(`${JSON.stringify(message)}\n`);
  if (closeStdin) child.stdin.end();
  // An agent that does not exit by itself is a failure to see in seconds, not at the test timeout.
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({
        code,
        stderr,
        lines: stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as unknown),
      });
    });
  });
}

/** Runs and checks the one output line against the agent's own output_schema. */
async function output(agent: LoadedAgent, input: unknown): Promise<unknown> {
  const result = await run(agent, { input, context: { run: { id: 'r1' } } });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.lines).toHaveLength(1);
  const line = result.lines[0] as { type: string; output: unknown };
  expect(line.type).toBe('output');
  const validate = createSchemaAjv().compile(agent.manifest.output_schema ?? true);
  expect(validate(line.output), JSON.stringify(validate.errors)).toBe(true);
  return line.output;
}

const load = (name: string) => loadAgentManifest(path.join(EXAMPLES, name));

describe('example agents', () => {
  it('each loads and validates, with the capability and runtime it is meant to have', async () => {
    const expected = {
      echo: ['util:echo', 'node'],
      'word-count': ['text:count', 'python'],
      sentiment: ['text:sentiment', 'node'],
      summarizer: ['text:summarize', 'llm'],
      greeter: ['text:greet', 'builtin'],
    };
    for (const [name, [capability, runtime]] of Object.entries(expected)) {
      const { manifest, folder } = await load(name);
      expect(manifest.name).toBe(name);
      expect(manifest.capabilities).toEqual([capability]);
      expect(manifest.runtime.type).toBe(runtime);
      expect(folder === null).toBe(runtime === 'llm' || runtime === 'builtin');
    }
  });

  it('summarizer and greeter carry their runtime settings', async () => {
    expect((await load('summarizer')).manifest.runtime).toMatchObject({
      type: 'llm',
      provider: 'local-openai',
      model: 'gpt-4o-mini',
      parameters: { temperature: 0.2 },
      system_prompt: expect.stringContaining('summar') as unknown,
    });
    expect((await load('greeter')).manifest).toMatchObject({
      runtime: { type: 'builtin', name: 'transform' },
      input_schema: { required: ['name'] },
    });
  });

  it('echo outputs its input', async () => {
    const echo = await load('echo');
    expect(await output(echo, { text: 'a b', n: [1, { x: null }] })).toEqual({
      text: 'a b',
      n: [1, { x: null }],
    });
  });

  it('echo answers even when stdin stays open', async () => {
    const result = await run(await load('echo'), { input: { ok: true }, context: {} }, false);
    expect(result).toMatchObject({ code: 0, lines: [{ type: 'output', output: { ok: true } }] });
  });

  it('word-count counts words and characters (stdin open or closed)', async () => {
    const agent = await load('word-count');
    expect(await output(agent, { text: 'a b' })).toEqual({ words: 2, characters: 3 });
    expect(await output(agent, { text: '  héllo\twörld \n again ' })).toEqual({ words: 3, characters: 22 });
    expect(await output(agent, { text: '' })).toEqual({ words: 0, characters: 0 });
    const open = await run(agent, { input: { text: 'x' }, context: {} }, false);
    expect(open).toMatchObject({ code: 0, lines: [{ output: { words: 1, characters: 1 } }] });
  });

  it('word-count reports bad input on stdout and exits 1', async () => {
    const result = await run(await load('word-count'), { input: { text: 5 }, context: {} });
    expect(result.code).toBe(1);
    expect(result.lines).toEqual([
      { type: 'error', message: expect.stringContaining('input.text must be a string') as unknown },
    ]);
  });

  it('sentiment labels positive, negative and neutral texts, and flips negated words', async () => {
    const agent = await load('sentiment');
    expect(await output(agent, { text: 'I love this, it is great!' })).toMatchObject({
      label: 'positive',
      score: 1,
    });
    expect(await output(agent, { text: 'Terrible and slow.' })).toMatchObject({
      label: 'negative',
      score: -1,
    });
    expect(await output(agent, { text: 'The sky is blue.' })).toEqual({
      label: 'neutral',
      score: 0,
      matches: [],
    });
    expect(await output(agent, { text: 'not good' })).toEqual({
      label: 'negative',
      score: -1,
      matches: ['not good'],
    });
    const bad = await run(agent, { input: {}, context: {} });
    expect(bad).toMatchObject({
      code: 1,
      lines: [{ type: 'error', message: 'input.text must be a string' }],
    });
  });
});
