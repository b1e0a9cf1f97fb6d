import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The package version, read once. */
export const SWARM_VERSION: string = (require('../../package.json') as { version: string }).version;
