import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './process-helpers.js';

/** Runs a fixture agent by hand: `lines` on stdin, then stdin closed; its stdout lines parsed. */
function talk(
  command: string[],
  lines: unknown[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = command;
    const child = spawn(program!, args, { env: { PATH: process.env.PATH ?? '', ...env }, cwd: FIXTURES });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        out: stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      }),
    );
    child.stdin.end(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  });
}

const task = (input: unknown, attempt = 1) => ({
  type: 'task',
  input,
  context: { task_id: `t-${JSON.stringify(input)}`, attempt, secrets: { TOKEN: 'abcd' } },
});

describe.each([
  ['node', [process.execPath, path.join(FIXTURES, 'warm', 'warm.js')]],
  ['python', ['python3', path.join(FIXTURES, 'warm-py', 'warm.py')]],
])('the %s helper', (_, command) => {
  it('persistent: one handler call per task line, an exception fails that task only, exit 0 at the end of stdin', async () => {
    const { code, out } = await talk(command, [task({}), task({ mode: 'fail' }), task({})], {
      SWARM_AGENT_MODE: 'persistent',
    });
    expect(code).toBe(0);
    const terminal = out.filter((l) => l.type === 'output' || l.type === 'error');
    expect(terminal.map((l) => l.type)).toEqual(['output', 'error', 'output']);
    expect(terminal[1]).toEqual({ type: 'error', message: 'asked to fail', retryable: false });
    const [first, third] = [terminal[0]!.output, terminal[2]!.output] as {
      instance: string;
      served: number;
    }[];
    expect(third!.instance).toBe(first!.instance);
    expect([first!.served, third!.served]).toEqual([1, 3]);
    expect(first).toMatchObject({ secrets: { TOKEN: 'abcd' }, taskId: 't-{}' });
  });

  it('one-shot (no SWARM_AGENT_MODE): one message, one output, exit', async () => {
    const { code, out } = await talk(
      command,
      [
        { input: {}, context: {} },
        { input: {}, context: {} },
      ],
      {},
    );
    expect(code).toBe(0);
    expect(out.filter((l) => l.type === 'output')).toHaveLength(1);
  });

  it('a crash ends the process with its code, mid-task', async () => {
    const { code, out } = await talk(command, [task({}), task({ mode: 'crash-first-attempt' }), task({})], {
      SWARM_AGENT_MODE: 'persistent',
    });
    expect(code).toBe(3);
    expect(out.filter((l) => l.type === 'output')).toHaveLength(1);
  });
});
