import { parseDocument as parseYamlDocument } from 'yaml';
import { InputError } from '../errors/index.js';

export type DocumentFormat = 'yaml' | 'json';

/** The format a file name implies: `.json` is JSON, `.yaml`/`.yml` YAML. */
export function formatOf(fileName: string): DocumentFormat | null {
  if (/\.json$/i.test(fileName)) return 'json';
  if (/\.ya?ml$/i.test(fileName)) return 'yaml';
  return null;
}

/**
 * Parses a YAML or JSON document into plain data. A syntax error becomes an InputError naming
 * `source` and the line; YAML aliases, tags and duplicate keys are refused so a document means
 * one thing.
 */
export function parseDocument(text: string, format: DocumentFormat, source = 'document'): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new InputError(source, `invalid JSON: ${(error as Error).message}`);
    }
  }
  const doc = parseYamlDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line;
    throw new InputError(
      source,
      `invalid YAML${line === undefined ? '' : ` at line ${line}`}: ${first.message.split('\n')[0]}`,
    );
  }
  // maxAliasCount bounds "billion laughs" expansion; a definition has no use for aliases.
  return doc.toJS({ maxAliasCount: 0 }) as unknown;
}
