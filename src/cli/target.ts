import {
  credentialsPath,
  databaseIdentity,
  latest,
  listCredentials,
  type SavedCredential,
} from '../auth/index.js';
import type { Config } from '../config/index.js';
import { InputError, SwarmError } from '../errors/index.js';

/** The server the CLI talks to and the key it sends, with where each came from. */
export interface Target {
  readonly url: string;
  readonly apiKey: string;
  /** The saved credential used (for its key, its URL or both), if any. */
  readonly credential: SavedCredential | null;
  /** Why that credential, as a phrase: `named by --credential …`, `the only one saved`, … */
  readonly chosenBy: string | null;
  /** Where the URL came from, for messages: `SWARM_URL`, `SWARM_PORT`, `credential "sqlite"`, `the default`. */
  readonly urlFrom: string;
  /** Where the key came from: `SWARM_API_KEY` or the credentials file. */
  readonly keyFrom: string;
  /** Every credential saved in SWARM_HOME. */
  readonly saved: readonly SavedCredential[];
  /** Set when the choice was a guess among several: say so (on stderr) and how to choose. */
  readonly note: string | null;
}

/**
 * Picks the saved credential the CLI uses and the server URL:
 * 1. `--credential` / `SWARM_CREDENTIAL` (a name, database or server URL), else
 * 2. the one saved for the server at SWARM_URL / SWARM_PORT, when given, else
 * 3. the one of the database this environment points at (DATABASE_URL, else SWARM_HOME's SQLite file), else
 * 4. the only one, else the one whose server started last — with a note naming it.
 * The URL is SWARM_URL / SWARM_PORT when given, else the credential's (where its server last
 * listened), else the default. SWARM_API_KEY, when set, is the key whatever the credential.
 */
export function resolveTarget(config: Config, cwd: string): Target {
  const saved = listCredentials(config.home);
  const { credential, chosenBy, guessed } = choose(config, cwd, saved);
  const apiKey = config.apiKey ?? credential?.apiKey;
  if (apiKey === undefined) {
    throw new SwarmError(
      'UNAUTHENTICATED',
      `no API key: set SWARM_API_KEY, or start a server once (\`npm start\`, \`swarm start\`) to create ${credentialsPath(config.home)}`,
    );
  }
  const given = config.serverUrlFrom !== 'default';
  const useSaved = !given && credential?.url !== undefined;
  const url = useSaved ? credential!.url! : config.serverUrl;
  const urlFrom = given
    ? config.serverUrlFrom
    : useSaved
      ? `credential "${credential!.name}"`
      : 'the default';
  const note =
    guessed && config.apiKey === undefined
      ? `swarm: using credential "${credential!.name}" (${credential!.database ?? 'database unknown'}, server ${url}), the one started last of ${saved.length} in ${credentialsPath(config.home)}; choose with --credential NAME or SWARM_CREDENTIAL (see \`swarm credentials list\`)`
      : null;
  return {
    url,
    apiKey,
    credential,
    chosenBy,
    urlFrom,
    keyFrom: config.apiKey !== undefined ? 'SWARM_API_KEY' : credentialsPath(config.home),
    saved,
    note,
  };
}

function choose(
  config: Config,
  cwd: string,
  saved: readonly SavedCredential[],
): { credential: SavedCredential | null; chosenBy: string | null; guessed: boolean } {
  const found = (credential: SavedCredential | undefined, chosenBy: string) =>
    credential === undefined ? null : { credential, chosenBy, guessed: false };
  if (config.credential !== undefined) {
    const wanted = config.credential;
    const match =
      saved.find((c) => c.name === wanted) ??
      latest(saved.filter((c) => c.database === wanted || c.url === wanted.replace(/\/+$/, '')));
    if (match === undefined) {
      throw new InputError(
        'credential',
        saved.length === 0
          ? `no saved credential "${wanted}": ${credentialsPath(config.home)} has none`
          : `no saved credential "${wanted}"; saved: ${saved.map((c) => c.name).join(', ')}`,
      );
    }
    return { credential: match, chosenBy: 'named by --credential or SWARM_CREDENTIAL', guessed: false };
  }
  if (saved.length === 0) return { credential: null, chosenBy: null, guessed: false };
  const byUrl =
    config.serverUrlFrom !== 'default'
      ? found(
          latest(saved.filter((c) => c.url === config.serverUrl)),
          `the one whose server is at ${config.serverUrl} (${config.serverUrlFrom})`,
        )
      : null;
  if (byUrl !== null) return byUrl;
  let database: string | null = null;
  try {
    database = databaseIdentity(config.databaseUrl, cwd);
  } catch {
    // A DATABASE_URL the server would refuse decides nothing here.
  }
  const byDatabase =
    database === null
      ? null
      : found(
          latest(saved.filter((c) => c.database === database)),
          `the one of the database this environment points at (${database})`,
        );
  if (byDatabase !== null) return byDatabase;
  if (saved.length === 1) return { credential: saved[0]!, chosenBy: 'the only one saved', guessed: false };
  return { credential: latest(saved)!, chosenBy: 'the one whose server started last', guessed: true };
}
