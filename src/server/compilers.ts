import { createHash } from 'node:crypto';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify';

/**
 * Fastify's schema compilers — Ajv for requests, fast-json-stringify for responses, as by
 * default — with what they compile kept per process. A validator or serializer is a pure
 * function of its schema, the shared schemas (`addSchema`) and the options, yet each build of
 * the app compiled all of them again (about 1,000: 500 of the 650 ms a build took, measured).
 * A process that builds the app once (a server) gains nothing and pays a digest per schema; one
 * that builds it many times (the test suite: one per test) compiles each schema once. Schemas
 * are told apart by content, not identity: Fastify copies the shared ones into each app, and
 * many routes write `{ $ref: … }` afresh.
 */
export const schemaCompilers = {
  buildValidator: cachedValidators as unknown as NonNullable<NonNullable<Compilers>['buildValidator']>,
  buildSerializer: cachedSerializers,
};
type Compilers = NonNullable<FastifyServerOptions['schemaController']>['compilersFactory'];

/** Each schema object's content digest, computed once per object. */
const digests = new WeakMap<object, string>();
function digestOf(schema: unknown): string {
  if (typeof schema !== 'object' || schema === null) return JSON.stringify(schema) ?? 'undefined';
  let digest = digests.get(schema);
  if (digest === undefined) {
    digest = createHash('sha256').update(JSON.stringify(schema)).digest('base64');
    digests.set(schema, digest);
  }
  return digest;
}

/** What a compiler factory was given: the options, and each shared schema's digest. */
function contextOf(externalSchemas: unknown, options: unknown): string {
  const shared = (externalSchemas ?? {}) as Record<string, unknown>;
  return [
    JSON.stringify(options ?? {}),
    ...Object.keys(shared)
      .sort()
      .map((id) => `${id}=${digestOf(shared[id])}`),
  ].join('\n');
}

type SerializerFactory = ReturnType<typeof SerializerSelector>;
type Serializer = ReturnType<ReturnType<SerializerFactory>>;
const serializers = new Map<string, Serializer>();

function cachedSerializers(...[externalSchemas, options]: Parameters<SerializerFactory>) {
  const context = contextOf(externalSchemas, options);
  let compile: ReturnType<SerializerFactory> | undefined;
  return (route: Parameters<ReturnType<SerializerFactory>>[0]): Serializer => {
    const key = `${digestOf(route.schema)}\n${context}`;
    let serializer = serializers.get(key);
    if (serializer === undefined) {
      compile ??= SerializerSelector()(externalSchemas, options);
      serializers.set(key, (serializer = compile(route)));
    }
    return serializer;
  };
}

/** What Fastify's validator factory is at run time (the package's typings say otherwise). */
type ValidatorFactory = (
  externalSchemas: Record<string, unknown>,
  options?: { readonly plugins?: readonly unknown[]; readonly onCreate?: unknown },
) => FastifySchemaCompiler<unknown>;
type Validator = ReturnType<FastifySchemaCompiler<unknown>>;
const validators = new Map<string, Validator>();
/** One pool of Ajv instances (one per shared schemas and options) for the process. */
const ajvPool = AjvCompiler() as unknown as ValidatorFactory;

function cachedValidators(...[externalSchemas, options]: Parameters<ValidatorFactory>) {
  // Plugins and hooks are functions, which a digest cannot tell apart: not cached.
  if ((options?.plugins?.length ?? 0) > 0 || options?.onCreate !== undefined)
    return (AjvCompiler() as unknown as ValidatorFactory)(externalSchemas, options);
  const context = contextOf(externalSchemas, options);
  let compile: FastifySchemaCompiler<unknown> | undefined;
  return (route: Parameters<FastifySchemaCompiler<unknown>>[0]): Validator => {
    const key = `${route.httpPart ?? ''}\n${digestOf(route.schema)}\n${context}`;
    let validator = validators.get(key);
    if (validator === undefined) {
      compile ??= ajvPool(externalSchemas, options);
      validators.set(key, (validator = compile(route)));
    }
    return validator;
  };
}
