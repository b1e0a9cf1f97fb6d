import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { NotFoundError, SwarmError } from '../../errors/index.js';
import type { ArtifactRecord, Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const artifactSchema = {
  $id: 'Artifact',
  type: 'object',
  required: ['id', 'runId', 'taskId', 'name', 'contentType', 'storage', 'sizeBytes', 'sha256', 'createdAt'],
  properties: {
    id: { type: 'string' },
    runId: { type: ['string', 'null'] },
    taskId: { type: ['string', 'null'] },
    name: { type: ['string', 'null'] },
    contentType: { type: ['string', 'null'] },
    storage: {
      type: ['string', 'null'],
      description:
        '`text` or `binary`: kept in the database; `file`: kept in a file under SWARM_HOME (larger ones)',
    },
    sizeBytes: { type: ['integer', 'null'] },
    sha256: { type: ['string', 'null'], description: 'Of the content as stored (after redaction)' },
    createdAt: { type: 'string' },
  },
} as const;

export const messageSchema = {
  $id: 'Message',
  type: 'object',
  required: ['id', 'runId', 'taskId', 'sender', 'recipient', 'type', 'content', 'metadata', 'createdAt'],
  properties: {
    id: { type: 'string' },
    runId: { type: ['string', 'null'] },
    taskId: { type: ['string', 'null'] },
    sender: { type: ['string', 'null'], description: 'The agent, as name@version' },
    recipient: { type: ['string', 'null'] },
    type: { type: 'string', enum: ['request', 'response', 'status_update', 'error', 'broadcast'] },
    content: {},
    metadata: { type: 'object', additionalProperties: true },
    createdAt: { type: 'string' },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const view = (a: ArtifactRecord) => ({
  id: a.id,
  runId: a.runId,
  taskId: a.taskId,
  name: a.name,
  contentType: a.contentType,
  storage: a.artifactType,
  sizeBytes: a.sizeBytes,
  sha256: a.sha256,
  createdAt: a.createdAt,
});

/** A header-safe file name for Content-Disposition. */
function dispositionName(name: string | null, id: string): string {
  const plain = (name ?? id).replace(/[^\w.\- ]+/g, '_').slice(0, 200);
  return plain === '' ? id : plain;
}

/**
 * What agents report besides their output: a run's artifacts and messages, and an artifact's
 * content. Everything is the caller's own; another owner's run or artifact is a 404. `home` is
 * SWARM_HOME, where larger artifacts are kept in files.
 */
export function artifactRoutes(app: FastifyInstance, store: Store, home: string | null): void {
  app.addSchema(artifactSchema);
  app.addSchema(messageSchema);

  app.get<{ Params: { id: string } }>(
    '/api/v1/runs/:id/artifacts',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['artifacts'],
        summary: "A run's artifacts (metadata), oldest first",
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Artifact#' } } },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const records = store.as(callerOf(request)).records;
      if (!(await records.ownsRun(request.params.id))) throw new NotFoundError('run', request.params.id);
      return { items: (await records.runArtifacts(request.params.id)).map(view) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/runs/:id/messages',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['artifacts'],
        summary: "Messages the run's agents sent, oldest first",
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Message#' } } },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const records = store.as(callerOf(request)).records;
      if (!(await records.ownsRun(request.params.id))) throw new NotFoundError('run', request.params.id);
      const messages = await records.runMessages(request.params.id);
      return {
        items: messages.map((m) => ({
          id: m.id,
          runId: m.runId,
          taskId: m.taskId,
          sender: m.sender,
          recipient: m.recipient,
          type: m.messageType,
          content: m.content,
          metadata: m.metadata,
          createdAt: m.createdAt,
        })),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/artifacts/:id',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['artifacts'],
        summary: 'An artifact, with its content when it is kept in the database',
        description:
          '`content` is the text of a `text` artifact, `contentBase64` the bytes of a `binary` one; a `file` artifact has neither: read `/api/v1/artifacts/{id}/content`.',
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: [...artifactSchema.required],
            properties: {
              ...artifactSchema.properties,
              content: { type: 'string' },
              contentBase64: { type: 'string' },
            },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const artifact = await store.as(callerOf(request)).records.artifact(request.params.id);
      if (artifact === null) throw new NotFoundError('artifact', request.params.id);
      return {
        ...view(artifact),
        ...(artifact.content === null ? {} : { content: artifact.content }),
        ...(artifact.contentBlob === null ? {} : { contentBase64: artifact.contentBlob.toString('base64') }),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/artifacts/:id/content',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['artifacts'],
        summary: "An artifact's content, as a download with its content type",
        params: idParams,
        response: {
          200: { description: 'The content, as the agent reported it (redacted)' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const artifact = await store.as(callerOf(request)).records.artifact(request.params.id);
      if (artifact === null) throw new NotFoundError('artifact', request.params.id);
      let body: string | Buffer | fs.ReadStream;
      let textual = false;
      if (artifact.content !== null) {
        body = artifact.content;
        textual = true;
      } else if (artifact.contentBlob !== null) body = artifact.contentBlob;
      else if (artifact.storagePath !== null && home !== null) {
        const root = path.resolve(home, 'artifacts');
        const file = path.resolve(home, artifact.storagePath);
        if (!file.startsWith(`${root}${path.sep}`) || !fs.existsSync(file))
          throw new SwarmError('NOT_FOUND', `the content of artifact ${artifact.id} is not available`);
        body = fs.createReadStream(file);
      } else throw new SwarmError('NOT_FOUND', `the content of artifact ${artifact.id} is not available`);
      // The agent's content type, when it is one a header can carry.
      const given = artifact.contentType;
      const type =
        given !== null && /^[\w.+-]+\/[\w.+-]+(;[\x20-\x7e]*)?$/.test(given)
          ? given
          : textual
            ? 'text/plain; charset=utf-8'
            : 'application/octet-stream';
      // What an agent produced is data: downloaded, never rendered on the API's origin.
      return reply
        .header('content-type', type)
        .header('x-content-type-options', 'nosniff')
        .header(
          'content-disposition',
          `attachment; filename="${dispositionName(artifact.name, artifact.id)}"`,
        )
        .send(body);
    },
  );
}
