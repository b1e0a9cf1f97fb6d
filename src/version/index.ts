import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * The package version, read once. A part of its own, so the CLI can print it without loading
 * the server.
 */
export const SWARM_VERSION: string = (require('../../package.json') as { version: string }).version;
