import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store, toDbJson, type NewArtifact } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('artifacts and messages over the API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let otherKey: string;
  let ownerId: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = admin.key;
    ownerId = admin.user.id;
    otherKey = (await memberWithKey(store, { name: 'Other', email: 'other@example.com' }, 'k')).key;
    app = await buildApp({ store, engine: new Engine(store), home: testDb.dir });
    const workflow = {
      name: 'one',
      version: '1.0.0',
      steps: [{ id: 'a', agent: 'builtin/transform', input: { x: 1 } }],
    };
    expect((await call('POST', '/api/v1/workflows', workflow)).statusCode).toBe(201);
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  /** A run with a text, a binary and a file artifact, and two messages (as the worker writes them). */
  async function seeded() {
    const res = await call('POST', '/api/v1/workflows/one/runs', {});
    expect(res.statusCode).toBe(202);
    const runId = res.json().id as string;
    const task = await store.handle.db
      .selectFrom('tasks')
      .select('id')
      .where('run_id', '=', runId)
      .executeTakeFirstOrThrow();
    const base = { ownerId, runId, taskId: task.id, sha256: 'x' };
    const [textId, binaryId, fileId] = [newId(), newId(), newId()];
    const relative = path.join('artifacts', ownerId, runId, fileId);
    const big = Buffer.alloc(400_000, 'ab');
    fs.mkdirSync(path.dirname(path.join(testDb.dir, relative)), { recursive: true });
    fs.writeFileSync(path.join(testDb.dir, relative), big);
    const artifacts: NewArtifact[] = [
      {
        ...base,
        id: textId,
        artifactType: 'text',
        name: 'notes.md',
        contentType: 'text/markdown',
        content: '# Notes',
        contentBlob: null,
        storagePath: null,
        sizeBytes: 7,
      },
      {
        ...base,
        id: binaryId,
        artifactType: 'binary',
        name: 'b.bin',
        contentType: null,
        content: null,
        contentBlob: Buffer.from([0, 255, 7]),
        storagePath: null,
        sizeBytes: 3,
      },
      {
        ...base,
        id: fileId,
        artifactType: 'file',
        name: 'big.txt',
        contentType: 'text/plain',
        content: null,
        contentBlob: null,
        storagePath: relative,
        sizeBytes: big.length,
      },
    ];
    const message = (type: string, to: string | null, content: unknown) => ({
      id: newId(),
      ownerId,
      runId,
      taskId: task.id,
      sender: 'agent@1.0.0',
      recipient: to,
      messageType: type,
      content: toDbJson(content),
      metadata: toDbJson({ attempt: 1, step: 'a' }),
    });
    await store.system.insertReports({
      artifacts,
      messages: [message('request', 'reviewer', { text: 'check' }), message('broadcast', null, 'hi')],
      usage: [],
    });
    return { runId, artifacts, big };
  }

  it("lists a run's artifacts and messages, and serves each artifact's content with its type", async () => {
    const { runId, artifacts, big } = await seeded();
    const listed = await call('GET', `/api/v1/runs/${runId}/artifacts`);
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().items).toEqual(
      artifacts.map((a) => ({
        id: a.id,
        runId,
        taskId: a.taskId,
        name: a.name,
        contentType: a.contentType,
        storage: a.artifactType,
        sizeBytes: a.sizeBytes,
        sha256: 'x',
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      })),
    );
    const [text, binary, file] = artifacts as [NewArtifact, NewArtifact, NewArtifact];

    const one = await call('GET', `/api/v1/artifacts/${text.id}`);
    expect(one.json()).toMatchObject({ id: text.id, name: 'notes.md', content: '# Notes' });
    expect((await call('GET', `/api/v1/artifacts/${binary.id}`)).json()).toMatchObject({
      contentBase64: Buffer.from([0, 255, 7]).toString('base64'),
    });
    const fileMeta = (await call('GET', `/api/v1/artifacts/${file.id}`)).json();
    expect(fileMeta).toMatchObject({ storage: 'file', sizeBytes: big.length });
    expect(fileMeta.content).toBeUndefined();

    const textBody = await call('GET', `/api/v1/artifacts/${text.id}/content`);
    expect(textBody.statusCode).toBe(200);
    expect(textBody.headers['content-type']).toMatch(/^text\/markdown/);
    expect(textBody.headers['content-disposition']).toBe('attachment; filename="notes.md"');
    expect(textBody.headers['x-content-type-options']).toBe('nosniff');
    expect(textBody.body).toBe('# Notes');
    const binBody = await call('GET', `/api/v1/artifacts/${binary.id}/content`);
    expect(binBody.headers['content-type']).toBe('application/octet-stream');
    expect(binBody.rawPayload.equals(Buffer.from([0, 255, 7]))).toBe(true);
    const fileBody = await call('GET', `/api/v1/artifacts/${file.id}/content`);
    expect(fileBody.statusCode).toBe(200);
    expect(fileBody.headers['content-type']).toMatch(/^text\/plain/);
    expect(fileBody.rawPayload.equals(big)).toBe(true);

    const messages = await call('GET', `/api/v1/runs/${runId}/messages`);
    expect(messages.statusCode).toBe(200);
    expect(messages.json().items).toEqual([
      expect.objectContaining({
        sender: 'agent@1.0.0',
        recipient: 'reviewer',
        type: 'request',
        content: { text: 'check' },
        metadata: { attempt: 1, step: 'a' },
      }),
      expect.objectContaining({ recipient: null, type: 'broadcast', content: 'hi' }),
    ]);
  });

  it("answers 404 for another owner's run, artifacts and messages", async () => {
    const { runId, artifacts } = await seeded();
    for (const url of [
      `/api/v1/runs/${runId}/artifacts`,
      `/api/v1/runs/${runId}/messages`,
      ...artifacts.flatMap((a) => [`/api/v1/artifacts/${a.id}`, `/api/v1/artifacts/${a.id}/content`]),
    ]) {
      const res = await call('GET', url, undefined, otherKey);
      expect(res.statusCode, url).toBe(404);
      expect(res.body.includes('# Notes')).toBe(false);
    }
    expect((await call('GET', `/api/v1/runs/${newId()}/artifacts`)).statusCode).toBe(404);
    expect((await call('GET', `/api/v1/artifacts/${newId()}/content`)).statusCode).toBe(404);
    // The owner still sees them all.
    expect((await call('GET', `/api/v1/runs/${runId}/artifacts`)).json().items).toHaveLength(3);
  });
});
