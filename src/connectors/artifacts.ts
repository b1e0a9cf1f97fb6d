/**
 * A run's artifacts as email attachments (builtin/send_email's `{artifact: NAME}`): the newest
 * artifact of that name in the owner's run, read wherever it is kept — the database, or a file
 * under SWARM_HOME/artifacts for larger ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError, type ArtifactSource, type EmailAttachment } from '../runtimes/index.js';
import type { Store } from '../storage/index.js';

/** Attachments larger than this are refused: most servers take about 25 MB per message. */
export const MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024;

export class StoreArtifactSource implements ArtifactSource {
  constructor(
    private readonly store: Store,
    /** SWARM_HOME, where file artifacts are; null: only artifacts kept in the database can be read. */
    private readonly home: string | null,
  ) {}

  async read(ownerId: string, runId: string, name: string): Promise<EmailAttachment | null> {
    const records = this.store.as({ userId: ownerId, role: 'member' }).records;
    const named = (await records.runArtifacts(runId)).filter((a) => a.name === name);
    const newest = named.at(-1);
    if (newest === undefined) return null;
    const artifact = await records.artifact(newest.id);
    if (artifact === null) return null;
    let bytes: Buffer;
    if (artifact.content !== null) bytes = Buffer.from(artifact.content, 'utf8');
    else if (artifact.contentBlob !== null) bytes = artifact.contentBlob;
    else if (artifact.storagePath !== null && this.home !== null) {
      const root = path.resolve(this.home, 'artifacts');
      const file = path.resolve(this.home, artifact.storagePath);
      if (!file.startsWith(`${root}${path.sep}`) || !fs.existsSync(file)) return null;
      bytes = await fs.promises.readFile(file);
    } else return null;
    if (bytes.length > MAX_ATTACHMENT_BYTES)
      throw RuntimeError.forbidden(
        `artifact "${name}" is ${bytes.length} bytes: attachments are limited to ${MAX_ATTACHMENT_BYTES}`,
        { artifact: name },
      );
    return {
      filename: name,
      ...(artifact.contentType === null ? {} : { contentType: artifact.contentType }),
      contentBase64: bytes.toString('base64'),
    };
  }
}
