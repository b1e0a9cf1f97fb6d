/**
 * A stored connector made usable: its config checked again (rows imported from seed 004, or
 * written by an older Swarm, may not fit) and its secret read — for the connector's owner only,
 * at the moment it is used, so a changed secret takes effect on the next step.
 */
import { isSwarmError } from '../errors/index.js';
import { RuntimeError, type HttpConnectors, type ResolvedHttpConnector } from '../runtimes/index.js';
import type { SecretsService } from '../secrets/index.js';
import type { ConnectorRecord, Store } from '../storage/index.js';
import {
  checkConnectorConfig,
  checkConnectorType,
  secretOf,
  type HttpConnectorConfig,
  type SmtpConnectorConfig,
} from './config.js';

export interface ResolvedSmtpConnector {
  readonly name: string;
  readonly config: SmtpConnectorConfig;
  readonly password: string | null;
  /** By secret name: redacted from errors. */
  readonly secrets: Readonly<Record<string, string>>;
}

export class ConnectorResolver implements HttpConnectors {
  constructor(
    private readonly store: Store,
    private readonly secrets: SecretsService | undefined,
  ) {}

  /** The owner's connector `name` of `type`, its config valid; a RuntimeError otherwise. */
  async find(ownerId: string, name: string, type: 'http' | 'smtp'): Promise<ConnectorRecord> {
    // Only the owner's rows: the storage layer filters by owner, so another's name is not found.
    const row = await this.store.as({ userId: ownerId, role: 'member' }).connectors.find(name);
    if (row === null || row.name !== name)
      throw new RuntimeError(
        'NOT_FOUND',
        `no connector named "${name}" (add one with \`swarm connectors add\`)`,
        {
          retryable: false,
          issues: [{ field: 'input.connector', message: `no connector named "${name}"` }],
          context: { what: 'connector', id: name },
        },
      );
    if (row.type !== type)
      throw RuntimeError.invalidInput(
        'input.connector',
        `connector "${name}" is a ${row.type} connector, not ${type}`,
      );
    if (!row.active) throw RuntimeError.invalidInput('input.connector', `connector "${name}" is not active`);
    return row;
  }

  async http(ownerId: string, name: string): Promise<ResolvedHttpConnector> {
    const row = await this.find(ownerId, name, 'http');
    const config = this.valid(row) as HttpConnectorConfig;
    const secrets = await this.secretValues(ownerId, row);
    const headers: Record<string, string> = {};
    for (const [header, value] of Object.entries(config.headers ?? {})) headers[header.toLowerCase()] = value;
    const authHeaders: Record<string, string> = {};
    const auth = config.auth;
    if (auth !== undefined) {
      const value = secrets[auth.secret]!;
      if (auth.type === 'bearer') authHeaders.authorization = `Bearer ${value}`;
      else if (auth.type === 'basic')
        authHeaders.authorization = `Basic ${Buffer.from(`${auth.username}:${value}`).toString('base64')}`;
      else authHeaders[auth.header.toLowerCase()] = value;
    }
    return { name, baseUrl: config.base_url, headers, authHeaders, secrets };
  }

  async smtp(ownerId: string, name: string): Promise<ResolvedSmtpConnector> {
    const row = await this.find(ownerId, name, 'smtp');
    const config = this.valid(row) as SmtpConnectorConfig;
    const secrets = await this.secretValues(ownerId, row);
    const password = config.password_secret === undefined ? null : secrets[config.password_secret]!;
    return { name, config, password, secrets };
  }

  /** The record's config, checked as it would be on creation. */
  valid(row: ConnectorRecord): HttpConnectorConfig | SmtpConnectorConfig {
    try {
      return checkConnectorConfig(checkConnectorType(row.type), row.config);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw RuntimeError.invalidInput(
        'input.connector',
        `connector "${row.name}" has an invalid config (${reason}): fix it with PATCH /api/v1/connectors/${row.name}`,
      );
    }
  }

  /** The value of the one secret the connector names, as a name → value map (empty when none). */
  private async secretValues(ownerId: string, row: ConnectorRecord): Promise<Record<string, string>> {
    const secret = secretOf(row.type, row.config);
    if (secret === null) return {};
    if (this.secrets === undefined)
      throw new RuntimeError(
        'INTERNAL',
        `connector "${row.name}" needs secret ${secret.name}, but secrets are not available here`,
        {
          retryable: false,
        },
      );
    try {
      // Global secrets only: a connector belongs to the owner, not to one workflow.
      return await this.secrets.resolve(ownerId, [secret.name]);
    } catch (error) {
      if (isSwarmError(error) && error.code === 'NOT_FOUND')
        throw new RuntimeError(
          'NOT_FOUND',
          `connector "${row.name}" names secret ${secret.name}, which is not set (set it with \`swarm secrets set ${secret.name}\`)`,
          { retryable: false },
        );
      throw error;
    }
  }
}
