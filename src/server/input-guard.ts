import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../errors/index.js';
import { depthMessage, findJsonProblem, jsonTextTooDeep, NUL_MESSAGE } from '../storage/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A route whose body is data a program produced rather than input a person typed (a pull
     * agent's result): NUL in its strings becomes U+FFFD, as for every other agent's output,
     * instead of refusing the request.
     */
    nulInBody?: 'reject' | 'replace';
    /** The setting that raises this route's body limit, named in its 413. @default SWARM_BODY_LIMIT */
    bodyLimitSetting?: string;
  }
}

export const BODY_DEPTH_SETTING = 'SWARM_BODY_MAX_DEPTH';

export interface InputLimits {
  /** Deepest nesting a request body may have (JSON or YAML). */
  readonly maxDepth: number;
}

/**
 * Input every route gets the same way, before any route code (and before authentication, which
 * records the user agent) sees it:
 *
 * - JSON bodies: nesting deeper than `maxDepth` is refused from the text, before parsing; NUL in
 *   any string or key is refused naming the field. PostgreSQL cannot store NUL and SQLite can:
 *   refusing it on both keeps the two the same.
 * - Path parameters, query parameters and headers: NUL is refused, naming which.
 * - Every response says `nosniff`, `no-referrer` and `no-store`: API answers are one caller's
 *   data (some carry keys and secrets) and have no business in a shared cache.
 */
export function registerInputGuard(app: FastifyInstance, limits: InputLimits): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    let text = body as string;
    if (jsonTextTooDeep(text, limits.maxDepth)) {
      done(new InputError('body', depthMessage(limits.maxDepth, BODY_DEPTH_SETTING)), undefined);
      return;
    }
    const replaceNul = request.routeOptions.config.nulInBody === 'replace';
    if (replaceNul) text = replaceNulEscapes(text);
    void parseJson(request, text, (error, value) => {
      if (error !== null) {
        done(error, undefined);
        return;
      }
      const problem = findJsonProblem(value, 'body', { maxDepth: limits.maxDepth, rejectNul: !replaceNul });
      done(
        problem === null ? null : new InputError(problem.field, problem.message),
        problem ? undefined : value,
      );
    });
  });

  app.addHook('onRequest', async (request, reply) => {
    setSecurityHeaders(reply);
    checkRequestText(request);
  });
}

/** The headers every response carries; also set on answers made outside the hooks (bad URLs). */
export function setSecurityHeaders(reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cache-control', 'no-store');
}

/** Refuses NUL in path parameters, query parameters and headers, naming the one. */
export function checkRequestText(request: FastifyRequest): void {
  const sources: [string, unknown][] = [
    ['params', request.params],
    ['querystring', request.query],
    ['headers', request.headers],
  ];
  for (const [context, values] of sources) {
    if (values === null || typeof values !== 'object') continue;
    for (const [name, value] of Object.entries(values)) {
      const texts = Array.isArray(value) ? value : [value];
      if (name.includes('\u0000') || texts.some((t) => typeof t === 'string' && t.includes('\u0000'))) {
        // A wildcard route's `*` is the rest of the path (a webhook's path).
        const field = name === '*' ? 'path' : name.replaceAll('\u0000', '\\u0000');
        throw new InputError(`${context}.${field}`, NUL_MESSAGE);
      }
    }
  }
}

/**
 * `\u0000` escapes inside JSON strings become `\ufffd`. In JSON text a NUL can only be written
 * as that escape (raw control characters are invalid), so this catches every one; an escaped
 * backslash followed by `u0000` is text, and is left alone.
 */
export function replaceNulEscapes(text: string): string {
  if (!text.includes('\\u0000')) return text;
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!inString) {
      if (c === 0x22) inString = true;
    } else if (c === 0x22) {
      inString = false;
    } else if (c === 0x5c) {
      if (text.startsWith('u0000', i + 1)) {
        out += text.slice(from, i) + '\\ufffd';
        from = i + 6;
      }
      i++;
    }
  }
  return out + text.slice(from);
}

/**
 * An upper bound on how deep YAML text nests, from the text alone. The YAML parser recurses and
 * is slow on deep input (100,000 nested `[` take it seconds before it reports a stack overflow),
 * so deep text must be turned away before it parses. Counted per line: the block levels open
 * (one per indentation deeper than the line that holds it, and one per compact `- ` entry), and
 * the flow `[`/`{` open across lines outside quotes and comments. It may count a level more than
 * there is (a scalar after `- `, a bracket in a block scalar), never one fewer.
 */
export function yamlTextTooDeep(text: string, maxDepth: number): boolean {
  const indents: number[] = [];
  let flow = 0;
  for (const line of text.split('\n')) {
    let i = 0;
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i === line.length || line[i] === '#' || line[i] === '\r') continue;
    if (flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= i) indents.pop();
      indents.push(i);
    }
    // `- - x`, `- a: 1`, `? k`: each entry's content is a level deeper, at its own column (so a
    // later line indented under it nests inside it).
    while ((line[i] === '-' || line[i] === '?') && (line[i + 1] === ' ' || line[i + 1] === undefined)) {
      i += 2;
      while (line[i] === ' ') i++;
      if (flow === 0) indents.push(i);
    }
    if (indents.length + flow > maxDepth) return true;
    let quote: string | null = null;
    for (; i < line.length; i++) {
      const ch = line[i];
      if (quote !== null) {
        if (ch === '\\' && quote === '"') i++;
        else if (ch === quote) quote = null;
      } else if ((ch === '"' || ch === "'") && (i === 0 || ' \t[{,:'.includes(line[i - 1]!))) {
        // Only where a quoted scalar can start: a quote inside a plain scalar (`it's`) is text.
        quote = ch;
      } else if (ch === '#' && (i === 0 || line[i - 1] === ' ')) {
        break;
      } else if (ch === '[' || ch === '{') {
        if (indents.length + ++flow > maxDepth) return true;
      } else if ((ch === ']' || ch === '}') && flow > 0) {
        flow--;
      }
    }
  }
  return false;
}
