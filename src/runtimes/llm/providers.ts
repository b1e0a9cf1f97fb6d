/**
 * Checking an LLM provider as a user sets it (API and CLI): every field named when wrong. The
 * base URL passes the same address policy as builtin/http_request: a literal private address
 * (or localhost) is refused unless the worker's policy allows private networks; host names are
 * checked again, resolved, every time a call is made.
 */
import { InputError } from '../../errors/index.js';
import { LLM_PROVIDER_KINDS, type LlmProviderKind } from '../../storage/index.js';
import { refusedAddressReason } from '../address-policy.js';
import { bareHost } from '../host-guard.js';
import type { HttpPolicy } from '../types.js';
import { DEFAULT_BASE_URLS } from './wire.js';

/** Provider names: what an agent's `runtime.provider` can name. */
export const PROVIDER_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const PRICE_KEYS = ['input_cost_per_1k', 'output_cost_per_1k'] as const;
/** A provider's limits per minute, over every worker: a call past them waits, holding no slot. */
const RATE_KEYS = ['requests_per_minute', 'tokens_per_minute'] as const;

/** A provider as checked: the key is still a secret's name here. */
export interface ProviderInput {
  readonly name: string;
  readonly provider: LlmProviderKind;
  readonly model: string | null;
  readonly baseUrl: string | null;
  readonly apiKeySecret: string | null;
  readonly isDefault: boolean;
  readonly active: boolean;
  readonly configuration: Record<string, unknown>;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function optionalString(body: Record<string, unknown>, field: string): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '')
    throw new InputError(field, 'must be a non-empty string');
  return value.trim();
}

function optionalBoolean(body: Record<string, unknown>, field: string, fallback: boolean): boolean {
  const value = body[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InputError(field, 'must be true or false');
  return value;
}

export function checkProviderName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !PROVIDER_NAME_PATTERN.test(name)) {
    throw new InputError(
      field,
      'must be lower-case letters, digits, . _ - (starting with a letter or digit, at most 100 characters), e.g. openai',
    );
  }
  return name;
}

/** Where LLM providers may be reached: the worker's HTTP policy plus the allowed provider origins. */
export interface ProviderUrlPolicy extends Pick<HttpPolicy, 'allowPrivateNetworks' | 'allowedHosts'> {
  /** SWARM_LLM_ALLOWED_URLS: origins a provider may reach although they are private. */
  readonly allowedUrls?: readonly string[];
}

/** Whether the policy lets a provider at `url` reach a private or loopback address. */
export function providerUrlExempt(url: URL, policy: ProviderUrlPolicy): boolean {
  const host = bareHost(url.hostname).toLowerCase();
  return (
    policy.allowPrivateNetworks ||
    (policy.allowedUrls ?? []).includes(url.origin) ||
    (policy.allowedHosts ?? []).some((allowed) => bareHost(allowed.trim().toLowerCase()) === host)
  );
}

/** How to allow a provider's private origin: named in every refusal, at set-up and at run time. */
export function allowProviderHint(url: URL): string {
  return `LLM providers reach only public addresses unless SWARM_LLM_ALLOWED_URLS lists the origin (SWARM_LLM_ALLOWED_URLS=${url.origin}) or SWARM_ALLOW_PRIVATE_NETWORKS=true`;
}

export function checkBaseUrl(
  value: string,
  policy: ProviderUrlPolicy,
  field = 'base_url',
  what = '',
): string {
  if (!URL.canParse(value)) throw new InputError(field, `"${value}" is not a URL`);
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError(field, `must be an http:// or https:// URL, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw new InputError(
      field,
      'must not contain credentials (user:password@); keep the key in api_key_secret',
    );
  if (url.search !== '' || url.hash !== '') throw new InputError(field, 'must not have a query or fragment');
  const host = bareHost(url.hostname).toLowerCase();
  if (!providerUrlExempt(url, policy)) {
    const literal = host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : host;
    const reason = refusedAddressReason(literal);
    if (reason !== null && reason !== 'not an IP address') {
      throw new InputError(field, `${url.origin}${what} is a ${reason} address; ${allowProviderHint(url)}`);
    }
  }
  return url.toString().replace(/\/+$/, '');
}

/** The provider `name` as `body` describes it (the API's PUT body, snake_case). */
export function checkProviderInput(name: unknown, body: unknown, policy: ProviderUrlPolicy): ProviderInput {
  const checkedName = checkProviderName(name);
  if (!isPlainObject(body)) throw new InputError('body', 'must be a JSON object');
  const known = new Set([
    'provider',
    'model',
    'base_url',
    'api_key_secret',
    'is_default',
    'active',
    'configuration',
  ]);
  for (const key of Object.keys(body))
    if (!known.has(key)) throw new InputError(key, `unknown field; one of ${[...known].join(', ')}`);
  const provider = body.provider;
  if (typeof provider !== 'string' || !(LLM_PROVIDER_KINDS as readonly string[]).includes(provider))
    throw new InputError('provider', `must be one of ${LLM_PROVIDER_KINDS.join(', ')}`);
  const kind = provider as LlmProviderKind;
  const model = optionalString(body, 'model');
  const rawBase = optionalString(body, 'base_url');
  if (rawBase === null && DEFAULT_BASE_URLS[kind] === null)
    throw new InputError('base_url', `is required for a ${kind} provider (the server's root URL)`);
  const baseUrl = rawBase === null ? null : checkBaseUrl(rawBase, policy);
  const apiKeySecret = optionalString(body, 'api_key_secret');
  if (apiKeySecret !== null && !SECRET_NAME.test(apiKeySecret))
    throw new InputError(
      'api_key_secret',
      'must be the NAME of a secret (set with `swarm secrets set NAME`), not the key',
    );
  if (apiKeySecret === null && (kind === 'openai' || kind === 'anthropic'))
    throw new InputError(
      'api_key_secret',
      `is required for ${kind}: the name of the secret holding the API key`,
    );
  const configuration = body.configuration ?? {};
  if (!isPlainObject(configuration)) throw new InputError('configuration', 'must be an object');
  for (const key of PRICE_KEYS) {
    const price = configuration[key];
    if (price !== undefined && !(typeof price === 'number' && Number.isFinite(price) && price >= 0))
      throw new InputError(`configuration.${key}`, 'must be a number ≥ 0 (price per 1000 tokens)');
  }
  for (const key of RATE_KEYS) {
    const limit = configuration[key];
    if (
      limit !== undefined &&
      !(Number.isInteger(limit) && (limit as number) >= 1 && (limit as number) <= 1e9)
    )
      throw new InputError(
        `configuration.${key}`,
        'must be a whole number from 1 (a limit per minute, shared by every worker)',
      );
  }
  const isDefault = optionalBoolean(body, 'is_default', false);
  const active = optionalBoolean(body, 'active', true);
  // The default URL is checked too: a local ollama is refused now, naming the setting, rather
  // than accepted here and refused at its first run.
  const defaultBase = DEFAULT_BASE_URLS[kind];
  if (rawBase === null && defaultBase !== null)
    checkBaseUrl(defaultBase, policy, 'base_url', ` (the ${kind} default base_url)`);
  return {
    name: checkedName,
    provider: kind,
    model,
    baseUrl,
    apiKeySecret,
    isDefault,
    active,
    configuration,
  };
}
