import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '../errors/index.js';

export interface Credentials {
  readonly apiKey: string;
  readonly url?: string;
}

export function credentialsPath(home: string): string {
  return path.join(home, 'credentials');
}

/** Writes the local CLI's credentials, readable by the owner only. */
export function writeCredentials(home: string, credentials: Credentials): string {
  const file = credentialsPath(home);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  // The mode given to writeFileSync is masked by umask; make sure.
  fs.chmodSync(temp, 0o600);
  fs.renameSync(temp, file);
  return file;
}

export function readCredentials(home: string): Credentials | null {
  const file = credentialsPath(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Credentials>;
    if (typeof parsed.apiKey !== 'string' || parsed.apiKey === '') throw new Error('no apiKey');
    return { apiKey: parsed.apiKey, ...(typeof parsed.url === 'string' ? { url: parsed.url } : {}) };
  } catch {
    throw new SwarmError(
      'CONFIG_INVALID',
      `credentials file ${file} is not valid: expected JSON with "apiKey"`,
    );
  }
}
