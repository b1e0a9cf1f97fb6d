import { generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestSigningPayload } from '../../../src/registry/agent/index.js';
import { base, expectIssue, folderWith, issuesOf, validOf } from './helpers.js';

const node = (runtime: Record<string, unknown>) => base({ runtime: { type: 'node', ...runtime } });

describe('runtime: node, python, binary', () => {
  it('accepts a relative entry, normalises it, and keeps args', () => {
    const manifest = validOf(node({ entry: './src/../index.js', args: ['--flag', '--flag'] }));
    expect(manifest.runtime).toEqual({ type: 'node', entry: 'index.js', args: ['--flag', '--flag'] });
  });

  it('requires runtime and a known type', () => {
    expectIssue(base({ runtime: undefined }), 'runtime', 'is required');
    expectIssue(base({ runtime: 'node' }), 'runtime', 'must be an object with a type');
    expectIssue(
      base({ runtime: { entry: 'x.js' } }),
      'runtime.type',
      'must be one of node, python, binary, http, llm, builtin; it is missing',
    );
    expectIssue(base({ runtime: { type: 'ruby' } }), 'runtime.type', 'got "ruby"');
  });

  it('keeps entry inside the folder', () => {
    expectIssue(node({}), 'runtime.entry', 'is required: the program to run');
    expectIssue(node({ entry: '/usr/bin/node' }), 'runtime.entry', 'is an absolute path');
    expectIssue(node({ entry: 'C:\\x.js' }), 'runtime.entry', 'must use / as the path separator');
    expectIssue(
      node({ entry: '../x.js' }),
      'runtime.entry',
      'escapes the agent\'s folder (normalised: "../x.js")',
    );
    expectIssue(node({ entry: 'a/../../x.js' }), 'runtime.entry', "escapes the agent's folder");
    expectIssue(node({ entry: 'lib/' }), 'runtime.entry', 'must name a file');
  });

  it('checks args and unknown runtime properties', () => {
    expectIssue(node({ entry: 'i.js', args: '--x' }), 'runtime.args', 'must be an array of strings');
    expectIssue(node({ entry: 'i.js', args: ['a', 1] }), 'runtime.args[1]', 'must be a string, got number 1');
    expectIssue(
      node({ entry: 'i.js', model: 'x' }),
      'runtime.model',
      'unknown property for the node runtime (did you mean "mode"?); allowed: type, entry, args, mode, max_tasks_per_process, idle_timeout_seconds',
    );
  });

  it('mode: one-shot by default, persistent with its recycling settings', () => {
    expect(validOf(node({ entry: 'i.js', mode: 'one-shot' })).runtime).toEqual({
      type: 'node',
      entry: 'i.js',
      mode: 'one-shot',
    });
    const warm = { entry: 'i.js', mode: 'persistent', max_tasks_per_process: 50, idle_timeout_seconds: 30 };
    expect(validOf(base({ runtime: { type: 'python', ...warm } })).runtime).toEqual({
      type: 'python',
      ...warm,
    });
    expectIssue(
      node({ entry: 'i.js', mode: 'warm' }),
      'runtime.mode',
      'must be one of one-shot, persistent, got "warm"',
    );
    for (const bad of [0, -1, 1.5, '10', 1_000_001])
      expectIssue(
        node({ entry: 'i.js', mode: 'persistent', max_tasks_per_process: bad }),
        'runtime.max_tasks_per_process',
        'must be an integer from 1 to 1000000',
      );
    expectIssue(
      node({ entry: 'i.js', mode: 'persistent', idle_timeout_seconds: 86_401 }),
      'runtime.idle_timeout_seconds',
      'must be an integer from 1 to 86400, got number 86401',
    );
    expectIssue(
      node({ entry: 'i.js', max_tasks_per_process: 5 }),
      'runtime.max_tasks_per_process',
      'applies to mode: persistent only',
    );
    expectIssue(
      base({ runtime: { type: 'llm', provider: 'p', model: 'm', mode: 'persistent' } }),
      'runtime.mode',
      'unknown property for the llm runtime',
    );
  });

  it('with a folder: the entry must exist there, be a file, and not leave it through a symlink', () => {
    const dir = folderWith({ 'index.js': '', 'lib/x.js': '' });
    expect(validOf(node({ entry: 'lib/x.js' }), dir).runtime).toEqual({ type: 'node', entry: 'lib/x.js' });
    expectIssue(
      node({ entry: 'main.js' }),
      'runtime.entry',
      `file not found: ${path.join(dir, 'main.js')}`,
      dir,
    );
    expectIssue(node({ entry: 'lib' }), 'runtime.entry', 'is not a regular file', dir);
    expectIssue(node({ entry: 'index.js/x' }), 'runtime.entry', 'cannot be read', dir);
    const outside = folderWith({ 'evil.js': '' });
    symlinkSync(path.join(outside, 'evil.js'), path.join(dir, 'link.js'));
    expectIssue(node({ entry: 'link.js' }), 'runtime.entry', 'resolves (through a symlink) outside', dir);
  });

  it('a binary must be executable', () => {
    const dir = folderWith({ run: '#!/bin/sh\n' });
    const binary = base({ runtime: { type: 'binary', entry: 'run' } });
    expectIssue(binary, 'runtime.entry', 'is not executable', dir);
    chmodSync(path.join(dir, 'run'), 0o755);
    expect(validOf(binary, dir).runtime.type).toBe('binary');
  });
});

describe('runtime: http', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const http = (runtime: Record<string, unknown>) =>
    base({
      runtime: { type: 'http', endpoint: 'https://agents.example.com/run', public_key: raw, ...runtime },
    });

  it('accepts an Ed25519 key as base64 of 32 bytes or as PEM', () => {
    expect(validOf(http({})).runtime).toEqual({
      type: 'http',
      endpoint: 'https://agents.example.com/run',
      public_key: raw,
    });
    expect(validOf(http({ public_key: pem, endpoint: 'http://10.0.0.5:8080/' })).runtime.type).toBe('http');
  });

  it('checks the endpoint', () => {
    expectIssue(http({ endpoint: undefined }), 'runtime.endpoint', 'is required');
    expectIssue(http({ endpoint: 'not a url' }), 'runtime.endpoint', 'is not a URL');
    expectIssue(
      http({ endpoint: 'ftp://x.example.com' }),
      'runtime.endpoint',
      'must be an http:// or https:// URL, got ftp:',
    );
    expectIssue(
      http({ endpoint: 'https://u:p@x.example.com' }),
      'runtime.endpoint',
      'must not contain credentials',
    );
  });

  it('checks the public key', () => {
    expectIssue(http({ public_key: undefined }), 'runtime.public_key', 'is required');
    expectIssue(http({ public_key: 'not base64!' }), 'runtime.public_key', 'base64 of 32 bytes or a PEM');
    expectIssue(http({ public_key: Buffer.alloc(16).toString('base64') }), 'runtime.public_key', 'got 16');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      format: 'pem',
      type: 'spki',
    });
    expectIssue(
      http({ public_key: rsa.toString() }),
      'runtime.public_key',
      'is a rsa key; an Ed25519 key is required',
    );
    expectIssue(
      http({ public_key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }),
      'runtime.public_key',
      'not a readable PEM',
    );
  });

  it('verifies a signature over the manifest without the signature', () => {
    const doc: Record<string, unknown> = { ...http({}), capabilities: ['remote:v1'] };
    const runtime = doc.runtime as Record<string, unknown>;
    const signature = sign(null, manifestSigningPayload(validOf(doc)), privateKey).toString('base64');
    const signed = validOf({ ...doc, runtime: { ...runtime, signature } });
    expect(signed.runtime).toMatchObject({ signature });
    expectIssue(
      { ...doc, capabilities: ['remote:v2'], runtime: { ...runtime, signature } },
      'runtime.signature',
      'does not verify against runtime.public_key',
    );
    expectIssue(
      http({ signature: 'abc' }),
      'runtime.signature',
      'must be a base64 Ed25519 signature (64 bytes)',
    );
  });
});

describe('runtime: llm', () => {
  const llm = (runtime: Record<string, unknown>) =>
    base({ runtime: { type: 'llm', provider: 'openai', model: 'gpt-4o-mini', ...runtime } });

  it('accepts provider, model, system prompt and parameters', () => {
    const runtime = {
      type: 'llm',
      provider: 'openai',
      model: 'gpt-4o-mini',
      system_prompt: 'Be brief.',
      parameters: { temperature: 0, max_tokens: 10, seed: 1 },
    };
    expect(validOf(base({ runtime })).runtime).toEqual(runtime);
  });

  it('checks each field', () => {
    expectIssue(llm({ provider: undefined }), 'runtime.provider', 'is required');
    expectIssue(llm({ provider: 'Open AI' }), 'runtime.provider', 'is not a provider name');
    expectIssue(llm({ model: '' }), 'runtime.model', 'must be a non-empty string');
    expectIssue(llm({ system_prompt: 5 }), 'runtime.system_prompt', 'must be a string');
    expectIssue(llm({ parameters: [] }), 'runtime.parameters', 'must be an object');
    expectIssue(
      llm({ parameters: { temperature: 2.5 } }),
      'runtime.parameters.temperature',
      'from 0 to 2, got number 2.5',
    );
    expectIssue(
      llm({ parameters: { max_tokens: 0 } }),
      'runtime.parameters.max_tokens',
      'must be a positive integer',
    );
    expectIssue(llm({ parameters: { top_p: 1.5 } }), 'runtime.parameters.top_p', 'from 0 to 1');
  });
});

describe('runtime: builtin', () => {
  it('must name a builtin agent, without the prefix', () => {
    expect(validOf(base({ runtime: { type: 'builtin', name: 'transform' } })).runtime).toEqual({
      type: 'builtin',
      name: 'transform',
    });
    expectIssue(
      base({ runtime: { type: 'builtin', name: 'teleport' } }),
      'runtime.name',
      '"teleport" is not a builtin agent; one of noop, transform',
    );
    expectIssue(
      base({ runtime: { type: 'builtin', name: 'builtin/noop' } }),
      'runtime.name',
      'write "noop", without the builtin/ prefix',
    );
    expectIssue(base({ runtime: { type: 'builtin' } }), 'runtime.name', 'is required');
  });

  it('reports several runtime problems together', () => {
    const issues = issuesOf(
      base({ runtime: { type: 'llm', provider: 'X', model: 3, parameters: { temperature: -1 } } }),
    );
    expect(issues.map((i) => i.field)).toEqual([
      'runtime.provider',
      'runtime.model',
      'runtime.parameters.temperature',
    ]);
  });
});
