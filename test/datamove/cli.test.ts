import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../src/storage/index.js';
import { cli } from '../helpers/cli.js';
import { writeFixture } from './fixture.js';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('swarm db copy', () => {
  it('copies between relative SQLite paths, prints the per-table report, and refuses a second run', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-copy-cli-'));
    const source = await openDatabase('sqlite:source.db', { cwd: dir });
    try {
      await migrate(source);
      await writeFixture(source);
    } finally {
      await source.close();
    }

    const copied = await cli(
      ['db', 'copy', '--from', 'source.db', '--to', 'sqlite:out/target.db', '--json'],
      {},
      dir,
    );
    expect(copied.stderr).toBe('');
    expect(copied.code).toBe(0);
    const report = JSON.parse(copied.stdout) as { to: string; tables: Array<{ match: boolean }> };
    expect(report.to).toBe(`sqlite:${path.join(dir, 'out', 'target.db')}`);
    expect(report.tables.length).toBeGreaterThanOrEqual(29);
    expect(report.tables.every((t) => t.match)).toBe(true);

    const again = await cli(['db', 'copy', '--from', 'source.db', '--to', 'out/target.db'], {}, dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has rows in users \(2 rows\).*\[COPY_TARGET_NOT_EMPTY\]/);

    const replaced = await cli(
      ['db', 'copy', '--from', 'source.db', '--to', 'out/target.db', '--overwrite'],
      {},
      dir,
    );
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toMatch(
      /^copied \d+ rows from sqlite:.*source\.db to sqlite:.*target\.db in \d+ ms/,
    );
    expect(replaced.stdout).not.toMatch(/\bNO\b/);
  });
});
