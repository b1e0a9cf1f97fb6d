/**
 * A connector as a user declares it, checked before anything is stored. Two types run:
 * - `http`: `{base_url, headers?, auth?}` — auth is bearer, basic or an API-key header, its
 *   credential one of the owner's secrets, by NAME;
 * - `smtp`: `{host, port, tls, username?, password_secret?, from}`.
 * Values of secrets never pass through here.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { InputError, type FieldIssue } from '../errors/index.js';
import { SECRET_NAME_PATTERN } from '../secrets/index.js';

export const CONNECTOR_TYPES = ['http', 'smtp'] as const;
export type ConnectorType = (typeof CONNECTOR_TYPES)[number];

/** Connector names: what a step's `connector:` and the URL path carry. */
export const CONNECTOR_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export type HttpAuth =
  | { readonly type: 'bearer'; readonly secret: string }
  | { readonly type: 'basic'; readonly username: string; readonly secret: string }
  | { readonly type: 'api_key'; readonly header: string; readonly secret: string };

export interface HttpConnectorConfig {
  readonly base_url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly auth?: HttpAuth;
}

export interface SmtpConnectorConfig {
  readonly host: string;
  readonly port: number;
  /** implicit: TLS from the first byte (465); starttls: upgrade required (587); none: plain text. */
  readonly tls: 'implicit' | 'starttls' | 'none';
  readonly username?: string;
  readonly password_secret?: string;
  readonly from: string;
}

export type ConnectorConfig = HttpConnectorConfig | SmtpConnectorConfig;

const secretName = { type: 'string', pattern: SECRET_NAME_PATTERN.source };
/** An HTTP header name (RFC 9110 token). */
const headerName = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$";
const headerValue = { type: 'string', maxLength: 4096, pattern: '^[^\\r\\n\\x00]*$' };

const httpSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['base_url'],
  properties: {
    base_url: { type: 'string', minLength: 1, maxLength: 2048 },
    headers: {
      type: 'object',
      maxProperties: 50,
      propertyNames: { pattern: headerName },
      additionalProperties: headerValue,
    },
    auth: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: ['bearer', 'basic', 'api_key'] } },
      allOf: [
        {
          if: { properties: { type: { const: 'bearer' } } },
          then: {
            additionalProperties: false,
            required: ['secret'],
            properties: { type: {}, secret: secretName },
          },
        },
        {
          if: { properties: { type: { const: 'basic' } } },
          then: {
            additionalProperties: false,
            required: ['username', 'secret'],
            properties: {
              type: {},
              username: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^:\\r\\n]*$' },
              secret: secretName,
            },
          },
        },
        {
          if: { properties: { type: { const: 'api_key' } } },
          then: {
            additionalProperties: false,
            required: ['header', 'secret'],
            properties: { type: {}, header: { type: 'string', pattern: headerName }, secret: secretName },
          },
        },
      ],
    },
  },
} as const;

const smtpSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port', 'tls', 'from'],
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    tls: { enum: ['implicit', 'starttls', 'none'] },
    username: { type: 'string', minLength: 1, maxLength: 320, pattern: '^[^\\r\\n]*$' },
    password_secret: secretName,
    from: { type: 'string', minLength: 3, maxLength: 320, pattern: '^[^\\r\\n]*@[^\\r\\n]*$' },
  },
  dependencies: { password_secret: ['username'] },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = { http: ajv.compile(httpSchema), smtp: ajv.compile(smtpSchema) };

/** Ajv's errors as field issues under `config`: `config.auth.secret: is required`. */
function issuesOf(errors: readonly ErrorObject[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const error of errors) {
    if (error.keyword === 'if') continue; // the `then` branch's own error says what is wrong
    const path = error.instancePath.split('/').slice(1);
    const params = error.params as {
      missingProperty?: string;
      additionalProperty?: string;
      allowedValues?: unknown[];
      propertyName?: string;
    };
    let field = ['config', ...path].join('.');
    let message = error.message ?? error.keyword;
    if (error.keyword === 'required' || error.keyword === 'dependencies') {
      field = `${field}.${params.missingProperty}`;
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      field = `${field}.${params.additionalProperty}`;
      message = 'unknown property';
    } else if (error.keyword === 'enum') message = `must be one of ${params.allowedValues?.join(', ')}`;
    else if (error.keyword === 'propertyNames' || error.propertyName !== undefined) {
      field = `${field}.${error.propertyName ?? params.propertyName ?? ''}`;
      message = 'is not a valid header name';
    } else if (error.keyword === 'pattern' && path.at(-1)?.endsWith('secret'))
      message = 'must be a secret name (a letter or _, then letters, digits and _)';
    if (!issues.some((i) => i.field === field)) issues.push({ field, message });
  }
  return issues;
}

export function checkConnectorName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !CONNECTOR_NAME.test(name))
    throw new InputError(
      field,
      'must be lower-case letters, digits, . _ - (starting with a letter or digit, at most 100 characters), e.g. mail',
    );
  return name;
}

export function checkConnectorType(type: unknown, field = 'type'): ConnectorType {
  if (typeof type !== 'string' || !(CONNECTOR_TYPES as readonly string[]).includes(type))
    throw new InputError(field, `must be one of ${CONNECTOR_TYPES.join(', ')}`);
  return type as ConnectorType;
}

/** `config` as the type wants it, or an InputError naming each wrong field (`config.port`…). */
export function checkConnectorConfig(type: ConnectorType, config: unknown): ConnectorConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new InputError('config', 'must be an object');
  const validate = validators[type];
  if (!validate(config)) {
    const [first, ...more] = issuesOf(validate.errors ?? []);
    throw new InputError(first?.field ?? 'config', first?.message ?? 'is not valid', more);
  }
  if (type === 'http') {
    const http = config as HttpConnectorConfig;
    let url: URL;
    try {
      url = new URL(http.base_url);
    } catch {
      throw new InputError('config.base_url', 'must be an absolute http:// or https:// URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new InputError('config.base_url', 'must be an absolute http:// or https:// URL');
    if (url.username !== '' || url.password !== '')
      throw new InputError('config.base_url', 'must not hold credentials: use auth with a secret');
    if (url.search !== '' || url.hash !== '')
      throw new InputError('config.base_url', 'must not have a query or fragment');
    return { ...http, base_url: `${url.origin}${url.pathname}`.replace(/\/+$/, '') };
  }
  return config as SmtpConnectorConfig;
}

/** The secret a config names, with the field that names it (each type names at most one). */
export function secretOf(
  type: string,
  config: Readonly<Record<string, unknown>>,
): { name: string; field: string } | null {
  if (type === 'http') {
    const auth = (config as Partial<HttpConnectorConfig>).auth;
    return auth?.secret === undefined ? null : { name: auth.secret, field: 'config.auth.secret' };
  }
  if (type === 'smtp') {
    const secret = (config as Partial<SmtpConnectorConfig>).password_secret;
    return secret === undefined ? null : { name: secret, field: 'config.password_secret' };
  }
  return null;
}
