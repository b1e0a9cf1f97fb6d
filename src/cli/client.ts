import { readCredentials } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { ERROR_CODES, SwarmError, type ErrorCode, type FieldIssue } from '../errors/index.js';

/** The CLI's view of the HTTP API: JSON in, JSON out, problem+json turned back into SwarmErrors. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  /** The server and key from SWARM_URL / SWARM_API_KEY, else $SWARM_HOME/credentials. */
  static fromConfig(config: Config): ApiClient {
    const saved = readCredentials(config.home);
    const apiKey = config.apiKey ?? saved?.apiKey;
    if (apiKey === undefined) {
      throw new SwarmError(
        'UNAUTHENTICATED',
        `no API key: set SWARM_API_KEY, or run \`swarm start\` once to create ${config.home}/credentials`,
      );
    }
    return new ApiClient(config.serverUrl, apiKey);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new SwarmError(
        'SERVER_UNREACHABLE',
        `no Swarm server answers at ${this.baseUrl} (${causeOf(error)}); start one with \`swarm start\` or set SWARM_URL`,
        { cause: error },
      );
    }
    const text = await response.text();
    const payload = text === '' ? null : (JSON.parse(text) as unknown);
    if (response.ok) return payload as T;
    const problem = (payload ?? {}) as { code?: string; detail?: string; errors?: FieldIssue[] };
    const code = (
      problem.code !== undefined && problem.code in ERROR_CODES ? problem.code : 'INTERNAL'
    ) as ErrorCode;
    throw new SwarmError(code, problem.detail ?? `HTTP ${response.status}`, {
      status: response.status,
      ...(problem.errors === undefined ? {} : { issues: problem.errors }),
    });
  }
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
