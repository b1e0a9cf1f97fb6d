import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench');

async function script(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(BENCH, file), ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// Every script that takes flags; none of these calls gets as far as opening a database.
const SCRIPTS = [
  'run.mjs',
  'flow.mjs',
  'scale.mjs',
  'sql-ceiling.mjs',
  'payloads.mjs',
  'webhooks.mjs',
  'fanout-million.mjs',
  'fuzz.mjs',
  'chaos/main.mjs',
];

describe('bench scripts’ flags', () => {
  it.each(SCRIPTS)(
    '%s: an unknown flag is one line naming it, exit 2; --help is its leading comment',
    async (file) => {
      const bad = await script(file, ['--no-such-flag']);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toMatch(
        /^[a-z-]+(\.mjs)?: Unknown option '--no-such-flag' \(--help describes the flags\)\n$/,
      );
      const help = await script(file, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout.length).toBeGreaterThan(80);
      expect(help.stdout).not.toMatch(/^\/\//m);
    },
  );

  it('names a number flag given badly, with what it got', async () => {
    expect((await script('flow.mjs', ['--tasks', 'abc'])).stderr).toBe(
      'flow.mjs: --tasks must be an integer of at least 1, got "abc" (--help describes the flags)\n',
    );
    expect((await script('fuzz.mjs', ['--concurrency', '99'])).stderr).toBe(
      'fuzz.mjs: --concurrency must be an integer from 1 to 64, got "99" (--help describes the flags)\n',
    );
    const chaos = await script('chaos/main.mjs', ['--minutes', 'x']);
    expect(chaos.code).toBe(2);
    expect(chaos.stderr).toBe(
      'chaos: --minutes must be a number from 0.25 to 1440, got "x" (--help describes the flags)\n',
    );
  });
});
