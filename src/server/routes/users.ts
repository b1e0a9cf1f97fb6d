import type { FastifyInstance } from 'fastify';
import {
  generatePassword,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  type ScryptParams,
} from '../../auth/index.js';
import { USER_ROLES, type Role, type Store, type UserChange } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

/** Scopes an admin may grant a user beyond its role (see roleAllows in src/auth/scopes.ts). */
export const GRANTABLE_SCOPES = ['agents:publish'] as const;

const passwordProperty = {
  type: 'string',
  minLength: MIN_PASSWORD_LENGTH,
  maxLength: MAX_PASSWORD_LENGTH,
  description: `At least ${MIN_PASSWORD_LENGTH} characters; when absent, one is generated and returned once`,
} as const;

const grantsProperty = {
  type: 'array',
  maxItems: GRANTABLE_SCOPES.length,
  items: { type: 'string', enum: GRANTABLE_SCOPES },
} as const;

const refParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 320, description: 'A user id or email' } },
} as const;

const withPassword = {
  type: 'object',
  required: ['user'],
  properties: {
    user: { $ref: 'User#' },
    password: { type: 'string', description: 'The generated password: in this response only' },
  },
} as const;

const problems = {
  400: { $ref: 'Problem#' },
  401: { $ref: 'Problem#' },
  403: { $ref: 'Problem#' },
} as const;

interface CreateUserBody {
  email: string;
  name: string;
  role?: Role;
  password?: string;
  grants?: string[];
}

/** Users (admins only: `users:admin`). Passwords are hashed here; hashes never leave the server. */
export function userRoutes(app: FastifyInstance, store: Store, passwordParams?: ScryptParams): void {
  app.get(
    '/api/v1/users',
    {
      config: { scope: 'users:admin' },
      schema: {
        tags: ['users'],
        summary: 'Every user',
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'User#' } } },
          },
          ...problems,
        },
      },
    },
    async (request) => ({ items: await store.as(callerOf(request)).users.list() }),
  );

  app.post<{ Body: CreateUserBody }>(
    '/api/v1/users',
    {
      config: { scope: 'users:admin' },
      schema: {
        tags: ['users'],
        summary: 'Create a user; a generated password is in this response only',
        body: {
          type: 'object',
          required: ['email', 'name'],
          additionalProperties: false,
          properties: {
            email: { type: 'string', minLength: 3, maxLength: 320, pattern: '^[^\\s@]+@[^\\s@]+$' },
            name: { type: 'string', minLength: 1, maxLength: 255 },
            role: { type: 'string', enum: USER_ROLES, default: 'member' },
            password: passwordProperty,
            grants: grantsProperty,
          },
        },
        response: { 201: withPassword, ...problems, 409: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const { email, name, role = 'member', grants = [] } = request.body;
      const generated = request.body.password === undefined ? generatePassword() : undefined;
      const user = await store.as(callerOf(request)).users.create({
        email,
        name,
        role,
        grants,
        passwordHash: await hashPassword(request.body.password ?? generated!, passwordParams),
      });
      return reply.code(201).send({ user, ...(generated === undefined ? {} : { password: generated }) });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/users/:id',
    {
      config: { scope: 'users:admin' },
      schema: {
        tags: ['users'],
        summary: 'One user, by id or email',
        params: refParams,
        response: { 200: { $ref: 'User#' }, ...problems, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => store.as(callerOf(request)).users.find(request.params.id),
  );

  app.patch<{ Params: { id: string }; Body: UserChange }>(
    '/api/v1/users/:id',
    {
      config: { scope: 'users:admin' },
      schema: {
        tags: ['users'],
        summary:
          "Change a user's name, role, status (disabling ends its sessions and stops its keys) or grants",
        params: refParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 255 },
            role: { type: 'string', enum: USER_ROLES },
            status: { type: 'string', enum: ['active', 'disabled'] },
            grants: grantsProperty,
          },
        },
        response: {
          200: { $ref: 'User#' },
          ...problems,
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => store.as(callerOf(request)).users.update(request.params.id, request.body),
  );

  app.post<{ Params: { id: string }; Body: { password?: string } }>(
    '/api/v1/users/:id/password',
    {
      config: { scope: 'users:admin' },
      // No body at all means "generate one", like `{}`.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['users'],
        summary:
          "Set a user's password (generated when not given, then in this response only); its sessions end",
        params: refParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { password: passwordProperty },
        },
        response: { 200: withPassword, ...problems, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const scoped = store.as(callerOf(request));
      // Found first: no hashing (a tenth of a second) for a user that does not exist.
      const target = await scoped.users.find(request.params.id);
      const given = request.body.password;
      const generated = given === undefined ? generatePassword() : undefined;
      const user = await scoped.users.setPassword(
        target.id,
        await hashPassword(given ?? generated!, passwordParams),
      );
      return { user, ...(generated === undefined ? {} : { password: generated }) };
    },
  );
}
