import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';

describe('payload configuration', () => {
  it('defaults: 64 KiB inline, blobs in the database, 256 MiB of agent output, 1 MiB bodies', () => {
    expect(loadConfig({}, '/srv')).toMatchObject({
      payloadInlineMax: 65536,
      blobDir: undefined,
      agentOutputMax: 256 * 1024 * 1024,
      bodyLimit: 1024 * 1024,
      webhookBodyLimit: 1024 * 1024,
    });
  });

  it('reads SWARM_PAYLOAD_INLINE_MAX, SWARM_BLOB_DIR (from the working folder), SWARM_AGENT_OUTPUT_MAX and bodies up to 512 MiB', () => {
    expect(
      loadConfig(
        {
          SWARM_PAYLOAD_INLINE_MAX: '4096',
          SWARM_BLOB_DIR: 'blobs',
          SWARM_AGENT_OUTPUT_MAX: '1048576',
          SWARM_BODY_LIMIT: String(512 * 1024 * 1024),
          SWARM_WEBHOOK_BODY_LIMIT: String(100 * 1024 * 1024),
        },
        '/srv',
      ),
    ).toMatchObject({
      payloadInlineMax: 4096,
      blobDir: '/srv/blobs',
      agentOutputMax: 1048576,
      bodyLimit: 512 * 1024 * 1024,
      webhookBodyLimit: 100 * 1024 * 1024,
    });
  });

  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-config-')), 'a-file');
  fs.writeFileSync(file, 'x');

  it.each([
    [{ SWARM_PAYLOAD_INLINE_MAX: '10' }, /^SWARM_PAYLOAD_INLINE_MAX: must be an integer from 1024 to/],
    [{ SWARM_PAYLOAD_INLINE_MAX: '64k' }, /^SWARM_PAYLOAD_INLINE_MAX: /],
    [{ SWARM_AGENT_OUTPUT_MAX: '-1' }, /^SWARM_AGENT_OUTPUT_MAX: must be an integer from 1024 to 536870912/],
    [{ SWARM_AGENT_OUTPUT_MAX: String(1024 ** 3) }, /^SWARM_AGENT_OUTPUT_MAX: /],
    [{ SWARM_BODY_LIMIT: String(1024 ** 3) }, /^SWARM_BODY_LIMIT: must be an integer from 1024 to 536870912/],
    [{ SWARM_BLOB_DIR: file }, /^SWARM_BLOB_DIR: must be a folder, but .* is a file/],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
