import { describe, expect, it } from 'vitest';
import { base, expectIssue, issuesOf, validOf } from './helpers.js';

describe('validateAgentManifest: top level', () => {
  it('fills defaults and lists keys in a stable order', () => {
    const manifest = validOf({
      runtime: { name: 'noop', type: 'builtin' },
      version: '1.0.0',
      name: 'my-agent',
    });
    expect(manifest).toEqual({
      name: 'my-agent',
      version: '1.0.0',
      type: 'execution',
      capabilities: [],
      permissions: [],
      resources: { memory_mb: 128, timeout_seconds: 300 },
      runtime: { type: 'builtin', name: 'noop' },
      tags: [],
    });
    expect(Object.keys(manifest)).toEqual([
      'name',
      'version',
      'type',
      'capabilities',
      'permissions',
      'resources',
      'runtime',
      'tags',
    ]);
    expect(Object.keys(validOf(base({ author: 'a', description: 'd', input_schema: {} })))).toEqual([
      'name',
      'version',
      'description',
      'type',
      'capabilities',
      'permissions',
      'input_schema',
      'resources',
      'runtime',
      'tags',
      'author',
    ]);
  });

  it('keeps what is given and copies schemas so later edits to the document do not leak in', () => {
    const schema = { type: 'object' };
    const doc = base({
      type: 'analysis',
      resources: { memory_mb: 16, timeout_seconds: 86400 },
      input_schema: schema,
    });
    const manifest = validOf(doc);
    schema.type = 'string';
    expect(manifest.input_schema).toEqual({ type: 'object' });
    expect(manifest.resources).toEqual({ memory_mb: 16, timeout_seconds: 86400 });
    expect(manifest.type).toBe('analysis');
  });

  it('refuses a document that is not an object', () => {
    expect(issuesOf(null)).toEqual([
      { field: 'manifest', message: 'must be an object (a YAML mapping), got null' },
    ]);
    expect(issuesOf([])[0]?.message).toContain('got an array');
  });

  it('names unknown properties, with a hint for typos', () => {
    expectIssue(base({ capabilites: [] }), 'capabilites', 'did you mean "capabilities"?');
    expectIssue(base({ entrypoint: 'x' }), 'entrypoint', 'unknown property for an agent manifest');
  });

  it('checks the name', () => {
    expectIssue(base({ name: undefined }), 'name', 'is required');
    expectIssue(base({ name: 'acme/tool' }), 'name', '"/" is reserved for builtin/<name>');
    expectIssue(base({ name: 'builtin/noop' }), 'name', '"/" is reserved for builtin/<name>');
    expectIssue(base({ name: 'My Agent' }), 'name', 'must be lower-case letters, digits');
    expectIssue(base({ name: '-x' }), 'name', 'starting with a letter or digit');
    expectIssue(base({ name: 'a'.repeat(101) }), 'name', 'must be at most 100 characters, got 101');
    expectIssue(base({ name: 42 }), 'name', 'must be a non-empty string, got number 42');
    expect(validOf(base({ name: 'a'.repeat(100) })).name).toHaveLength(100);
    expect(validOf(base({ name: 'text.tools_v2-beta' })).name).toBe('text.tools_v2-beta');
  });

  it('checks the version is one exact semver version', () => {
    expectIssue(base({ version: undefined }), 'version', 'is required: a semver version such as 1.0.0');
    expectIssue(base({ version: '^1.0.0' }), 'version', 'not a range');
    expectIssue(base({ version: '1.0' }), 'version', '"1.0" is not a semver version');
    expectIssue(base({ version: 'v1.0.0' }), 'version', 'write "1.0.0"');
    expectIssue(base({ version: '1.0.0+build.5' }), 'version', 'write "1.0.0"');
    expectIssue(base({ version: 1 }), 'version', 'must be a string (quote it in YAML), got number 1');
    expect(validOf(base({ version: '2.1.0-rc.1' })).version).toBe('2.1.0-rc.1');
  });

  it('checks description, type, author', () => {
    expectIssue(base({ description: 3 }), 'description', 'must be a string, got number 3');
    expectIssue(
      base({ type: 'worker' }),
      'type',
      'must be one of reasoning, execution, coordination, analysis, got "worker"',
    );
    expectIssue(base({ author: ['x'] }), 'author', 'must be a string, got an array');
  });

  it('checks capabilities: format and uniqueness, at their index', () => {
    expect(validOf(base({ capabilities: ['text:summarize', 'data:v1', 'util'] })).capabilities).toEqual([
      'text:summarize',
      'data:v1',
      'util',
    ]);
    expectIssue(
      base({ capabilities: ['text:summarize', 'Text:Upper'] }),
      'capabilities[1]',
      'is not a capability',
    );
    expectIssue(base({ capabilities: ['a:b', 'a:'] }), 'capabilities[1]', 'is not a capability');
    expectIssue(
      base({ capabilities: ['a:b', 'c', 'a:b'] }),
      'capabilities[2]',
      'duplicate of capabilities[0]',
    );
    expectIssue(base({ capabilities: ['a', 7] }), 'capabilities[1]', 'must be a string, got number 7');
    expectIssue(base({ capabilities: 'a:b' }), 'capabilities', 'must be an array of strings');
  });

  it('checks permissions against the allowed set', () => {
    const all = [
      'network:http',
      'network:smtp',
      'fs:read',
      'fs:write',
      'event:emit',
      'secret:API_KEY',
      'secret:_x1',
    ];
    expect(validOf(base({ permissions: all })).permissions).toEqual(all);
    expectIssue(
      base({ permissions: ['network:http', 'network:ftp'] }),
      'permissions[1]',
      'unknown permission "network:ftp"; allowed: network:http',
    );
    expectIssue(base({ permissions: ['secret:my-key'] }), 'permissions[0]', 'the secret name must match');
    expectIssue(base({ permissions: ['secret:'] }), 'permissions[0]', 'the secret name must match');
    expectIssue(
      base({ permissions: ['fs:read', 'fs:read'] }),
      'permissions[1]',
      'duplicate of permissions[0]',
    );
  });

  it('checks tags', () => {
    expect(validOf(base({ tags: ['Example', 'text'] })).tags).toEqual(['Example', 'text']);
    expectIssue(base({ tags: ['a', 'a'] }), 'tags[1]', 'duplicate of tags[0]');
    expectIssue(base({ tags: [' '] }), 'tags[0]', 'must not be empty');
  });

  it('checks resources and their ranges', () => {
    expect(validOf(base({ resources: { memory_mb: 512 } })).resources).toEqual({
      memory_mb: 512,
      timeout_seconds: 300,
    });
    expectIssue(
      base({ resources: { memory_mb: 8 } }),
      'resources.memory_mb',
      'must be an integer from 16 to 65536 (MB), got number 8',
    );
    expectIssue(base({ resources: { memory_mb: 65537 } }), 'resources.memory_mb', 'from 16 to 65536');
    expectIssue(base({ resources: { memory_mb: 128.5 } }), 'resources.memory_mb', 'must be an integer');
    expectIssue(
      base({ resources: { timeout_seconds: 0 } }),
      'resources.timeout_seconds',
      'from 1 to 86400 (seconds), got number 0',
    );
    expectIssue(base({ resources: { timeout_seconds: '60' } }), 'resources.timeout_seconds', 'got "60"');
    expectIssue(base({ resources: { cpu: 2 } }), 'resources.cpu', 'unknown property for resources');
    expectIssue(base({ resources: 5 }), 'resources', 'must be an object');
  });

  it('reports every mistake at once', () => {
    const issues = issuesOf({
      name: 'Bad/Name',
      version: 'latest',
      type: 'robot',
      capabilities: ['ok:1', 'BAD'],
      permissions: ['root'],
      input_schema: { type: 'objekt' },
      resources: { memory_mb: 1 },
      runtime: { type: 'node', entry: '/abs/index.js' },
      extra: true,
    });
    expect(issues.map((i) => i.field)).toEqual([
      'extra',
      'name',
      'version',
      'type',
      'capabilities[1]',
      'permissions[0]',
      'input_schema',
      'resources.memory_mb',
      'runtime.entry',
    ]);
  });
});
