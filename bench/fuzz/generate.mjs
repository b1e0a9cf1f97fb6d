// Requests from the OpenAPI document: for case i, a route (every route in turn), a request that
// is valid as far as the fuzzer can make it (real ids and names from the fixtures), then one to
// three mutations of one kind each. Case i depends only on the seed, i and the document: the
// same seed sends the same requests, whatever the server answers.
import { MUTATIONS, encodeSegment, frame, serialize } from './mutate.mjs';
import { createRng } from './rng.mjs';
import { validValue } from './schema.mjs';

/** @typedef {import('./rng.mjs').Rng} Rng */
/** @typedef {import('./http.mjs').FuzzRequest} FuzzRequest */

/**
 * @typedef {object} Route
 * @property {string} key        e.g. `GET /api/v1/runs/{id}`
 * @property {string} method
 * @property {string} template
 * @property {{ in: string, name: string, required: boolean, schema: Record<string, any> }[]} params
 * @property {Record<string, any> | null} bodySchema
 * @property {boolean} isPublic  no API key needed (/healthz, /hooks/*, …)
 * @property {string[]} pathMethods  every method the path has
 */

/**
 * @typedef {object} Fixtures  what exists on the server, so requests can name it
 * @property {string} apiKey
 * @property {string | null} revokedKey
 * @property {Record<string, string[]>} pools  `<section>.<param>` → values (`runs.id`, `workflows.name`)
 * @property {{ path: string, secret: string } | null} hook  a webhook trigger to deliver to, signed
 * @property {Record<string, unknown>[]} workflowDocs  definitions, bases for free-form bodies
 * @property {Record<string, unknown>[]} agentManifests
 * @property {Record<string, any>} components  the document's components.schemas
 */

/**
 * @typedef {object} Draft  a request while it is being built
 * @property {string} method
 * @property {string[]} segments   the path, segment by segment, already encoded
 * @property {Map<string, string>} query  name → encoded value ('' = the name alone)
 * @property {string | null} rawQuery  replaces `query` when set
 * @property {[string, string][]} headers
 * @property {unknown} json        the body as a value (undefined: none)
 * @property {Buffer | null} raw   the body as bytes, replacing json when set
 * @property {Map<string, string>} splices  JSON string placeholders → raw JSON text
 * @property {boolean} noHost
 * @property {'chunked' | 'bad-chunk' | 'te-and-cl' | 'cl-negative' | 'cl-garbage' | 'cl-twice' | null} framing
 * @property {{ secret: string, skew: number } | null} sign
 */

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options']);

/** @param {Record<string, any>} doc an OpenAPI 3 document @returns {Route[]} */
export function routesOf(doc) {
  /** @type {Route[]} */
  const routes = [];
  for (const [template, operations] of Object.entries(doc.paths ?? {})) {
    const pathMethods = Object.keys(operations)
      .filter((m) => METHODS.has(m))
      .map((m) => m.toUpperCase());
    for (const [method, op] of Object.entries(operations)) {
      if (!METHODS.has(method)) continue;
      const content = op.requestBody?.content ?? {};
      const media = content['application/json'] ?? Object.values(content)[0];
      routes.push({
        key: `${method.toUpperCase()} ${template}`,
        method: method.toUpperCase(),
        template,
        params: (op.parameters ?? []).map((/** @type {any} */ p) => ({
          in: p.in,
          name: p.name,
          required: Boolean(p.required),
          schema: p.schema ?? {},
        })),
        bodySchema: media?.schema ?? null,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
        pathMethods,
      });
    }
  }
  return routes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The fixture value for path parameter `name` of `route`: `<section>.<name>` from the pools,
 * `section` being the first segment after /api/v1 (`/api/v1/runs/{id}/logs` → `runs.id`).
 * @param {Route} route @param {string} name @param {Fixtures} fixtures @param {Rng} rng
 */
export function fixtureValue(route, name, fixtures, rng) {
  if (name === '*') return fixtures.hook?.path ?? 'fuzz/none';
  const section = route.template.split('/')[3] ?? '';
  const pool = fixtures.pools[`${section}.${name}`] ?? fixtures.pools[name] ?? [];
  if (pool.length > 0) return rng.pick(pool);
  // A well-formed id of nothing: the route's "not found" path.
  return `0189${rng.int(0xffff).toString(16).padStart(4, '0')}-0000-7000-8000-000000000000`;
}

/**
 * A body for `route` that the fuzzer expects the server to accept.
 * @param {Route} route @param {Fixtures} fixtures @param {Rng} rng @param {number} index
 */
function baseBody(route, fixtures, rng, index) {
  const schema = route.bodySchema ?? {};
  const freeForm =
    !schema.properties && !schema.required && (schema.type === 'object' || schema.type === undefined);
  if (route.template === '/hooks/{*}') return { fuzz: index, text: 'hello' };
  if (freeForm) {
    const docs = route.template.startsWith('/api/v1/agents')
      ? fixtures.agentManifests
      : fixtures.workflowDocs;
    if (
      docs.length > 0 &&
      (route.template.startsWith('/api/v1/agents') || route.template.startsWith('/api/v1/workflows'))
    ) {
      const doc = structuredClone(rng.pick(docs));
      // A new name half the time: registered, rather than a conflict with what exists.
      if (rng.chance(0.5)) doc.name = `fuzz-${index}`;
      return doc;
    }
  }
  return validValue(schema, rng, 'body', fixtures.components);
}

/**
 * The request of case `index`: deterministic from (seed, index, routes, fixtures).
 * @param {string | number} seed @param {number} index @param {Route[]} routes @param {Fixtures} fixtures
 * @returns {{ route: Route, mutations: string[], request: FuzzRequest }}
 */
export function generateCase(seed, index, routes, fixtures) {
  const rng = createRng(`${seed}/case/${index}`);
  // Every route in turn, in an order of the seed's, so a run of N ≥ routes covers them all.
  const order = shuffled(routes.length, createRng(`${seed}/order/${Math.floor(index / routes.length)}`));
  const route = /** @type {Route} */ (routes[order[index % routes.length] ?? 0]);
  /** @type {Draft} */
  const draft = {
    method: route.method,
    segments: [],
    query: new Map(),
    rawQuery: null,
    headers: [
      ['user-agent', 'swarm-fuzz'],
      ['accept', 'application/json'],
    ],
    json: undefined,
    raw: null,
    splices: new Map(),
    noHost: false,
    framing: null,
    sign: null,
  };
  for (const part of route.template.split('/').slice(1)) {
    const param = /^\{(.+)\}$/.exec(part)?.[1];
    if (param === undefined) draft.segments.push(part);
    else if (param === '*')
      draft.segments.push(...fixtureValue(route, param, fixtures, rng).split('/').map(encodeSegment));
    else draft.segments.push(encodeSegment(fixtureValue(route, param, fixtures, rng)));
  }
  for (const param of route.params.filter((p) => p.in === 'query'))
    if (param.required || rng.chance(0.3))
      draft.query.set(
        param.name,
        encodeSegment(String(validValue(param.schema, rng, param.name, fixtures.components))),
      );
  for (const param of route.params.filter((p) => p.in === 'header'))
    if (param.required || rng.chance(0.3))
      draft.headers.push([
        param.name,
        String(validValue(param.schema, rng, param.name, fixtures.components)),
      ]);
  if (!route.isPublic) draft.headers.push(['authorization', `Bearer ${fixtures.apiKey}`]);
  if (route.bodySchema !== null || route.template === '/hooks/{*}') {
    draft.json = baseBody(route, fixtures, rng, index);
    draft.headers.push(['content-type', 'application/json']);
  }
  if (route.template === '/hooks/{*}' && fixtures.hook !== null) {
    draft.sign = { secret: fixtures.hook.secret, skew: 0 };
    draft.headers.push(['idempotency-key', `fuzz-${seed}-${index}`]);
  }

  /** @type {string[]} */
  const mutations = [];
  const count = rng.weighted([
    [8, 0],
    [64, 1],
    [20, 2],
    [8, 3],
  ]);
  const ctx = { route, fixtures, rng, index };
  for (let i = 0; i < count; i++) {
    const applicable = MUTATIONS.filter((m) => m.applies(draft, route));
    const mutation = rng.weighted(applicable.map((m) => /** @type {const} */ ([m.weight, m])));
    mutations.push(mutation.apply(draft, ctx));
  }
  return { route, mutations, request: finish(draft) };
}

/** @param {Draft} draft @returns {FuzzRequest} */
function finish(draft) {
  const query =
    draft.rawQuery ??
    [...draft.query].map(([name, value]) => (value === '' ? name : `${name}=${value}`)).join('&');
  let body = draft.raw;
  if (body === null && draft.json !== undefined) body = Buffer.from(serialize(draft), 'utf8');
  const framed = draft.framing === null ? null : frame(draft.framing, body ?? Buffer.alloc(0));
  return {
    method: draft.method,
    path: '/' + draft.segments.join('/') + (query === '' ? '' : `?${query}`),
    headers: framed === null ? draft.headers : [...draft.headers, ...framed.headers],
    body: framed?.wire ?? body,
    noHost: draft.noHost,
    ownLength: framed !== null,
    sign: draft.sign,
    // A signature is over the body itself, not its framing.
    ...(framed === null ? {} : { signedBody: body ?? Buffer.alloc(0) }),
  };
}

/** A permutation of 0..n-1. @param {number} n @param {Rng} rng */
function shuffled(n, rng) {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [/** @type {number} */ (out[j]), /** @type {number} */ (out[i])];
  }
  return out;
}
