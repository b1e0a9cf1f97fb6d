// Judging answers and reporting them: the status table per route, and for every failure what
// was sent, as a curl command (when a shell can say it) and as a raw request file to replay.

/** @typedef {import('./http.mjs').FuzzResponse} FuzzResponse */

/**
 * @typedef {object} CaseResult
 * @property {number} index
 * @property {string} route
 * @property {string[]} mutations
 * @property {number} status   0 when there was no answer
 * @property {'ok' | '5xx' | 'no-answer' | 'not-problem'} verdict
 * @property {string} detail
 * @property {number} ms
 * @property {Buffer} [sent]   the bytes sent, kept for failures only
 */

/**
 * What is wrong with an answer, if anything: a 5xx, no answer at all (a crash, a hang, a dropped
 * connection), or a 4xx that is not RFC 9457 problem+json with its own status.
 * @param {string} method @param {FuzzResponse | null} response @param {string | null} error
 * @returns {{ verdict: CaseResult['verdict'], detail: string }}
 */
export function judge(method, response, error) {
  if (response === null) return { verdict: 'no-answer', detail: error ?? 'no answer' };
  const { status } = response;
  const text = response.body.toString('utf8');
  if (status >= 500) return { verdict: '5xx', detail: `${status} ${text.slice(0, 300)}` };
  if (status < 400 || status >= 500) return { verdict: 'ok', detail: '' };
  const type = response.headers['content-type'] ?? '';
  if (!/^application\/problem\+json\b/i.test(type))
    return {
      verdict: 'not-problem',
      detail: `${status} with content-type ${JSON.stringify(type)}: ${text.slice(0, 200)}`,
    };
  if (method === 'HEAD') return { verdict: 'ok', detail: '' };
  let problem;
  try {
    problem = JSON.parse(text);
  } catch {
    return {
      verdict: 'not-problem',
      detail: `${status} problem+json that is not JSON: ${text.slice(0, 200)}`,
    };
  }
  if (problem?.status !== status || typeof problem.code !== 'string' || typeof problem.title !== 'string')
    return {
      verdict: 'not-problem',
      detail: `${status} problem without matching status, code, title: ${text.slice(0, 200)}`,
    };
  return { verdict: 'ok', detail: '' };
}

/** @param {number} status */
const statusClass = (status) => (status === 0 ? 'none' : `${Math.floor(status / 100)}xx`);

/**
 * The table: per route, how many requests, per status class, and the statuses seen.
 * @param {CaseResult[]} results
 */
export function statusTable(results) {
  /** @type {Map<string, Map<number, number>>} */
  const byRoute = new Map();
  for (const r of results) {
    const counts = byRoute.get(r.route) ?? new Map();
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    byRoute.set(r.route, counts);
  }
  const classes = ['2xx', '3xx', '4xx', '5xx', 'none'];
  const header = ['route', 'sent', ...classes, 'statuses'];
  /** @param {Map<number, number>} counts */
  const row = (name, counts) => {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const perClass = classes.map((c) =>
      String([...counts].filter(([s]) => statusClass(s) === c).reduce((a, [, n]) => a + n, 0) || ''),
    );
    const statuses = [...counts]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s === 0 ? 'none' : s}×${n}`)
      .join(' ');
    return [name, String(total), ...perClass, statuses];
  };
  const rows = [...byRoute].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, counts]) => row(name, counts));
  /** @type {Map<number, number>} */
  const all = new Map();
  for (const r of results) all.set(r.status, (all.get(r.status) ?? 0) + 1);
  const totals = row('total', all);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...[...rows, totals].map((r) => (r[i] ?? '').length)),
  );
  /** @param {string[]} cells */
  const line = (cells) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line), rule, line(totals)].join('\n');
}

/** Bash ANSI-C quoting of a string of bytes (one char each). @param {string} text */
function shellQuote(text) {
  if (/^[\w@%+=:,./-]*$/.test(text) && text !== '') return text;
  let out = "$'";
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (char === "'" || char === '\\') out += `\\${char}`;
    else if (code < 0x20 || code >= 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += char;
  }
  return `${out}'`;
}

/** The head of a raw request, split: method, target, headers. @param {Buffer} sent */
export function parseSent(sent) {
  const headEnd = sent.indexOf('\r\n\r\n');
  const [requestLine = '', ...lines] = sent.subarray(0, headEnd).toString('latin1').split('\r\n');
  const [method = '', target = ''] = requestLine.split(' ');
  const headers = lines.map(
    (l) => /** @type {[string, string]} */ ([l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { method, target, headers, body: sent.subarray(headEnd + 4) };
}

/**
 * A curl command that sends the same request, or null when curl cannot (a NUL byte, a broken
 * header, framing of its own). The API key is read from $SWARM_API_KEY rather than printed.
 * @param {Buffer} sent @param {string} baseUrl @param {string} apiKey @param {string | null} bodyFile
 */
export function curlCommand(sent, baseUrl, apiKey, bodyFile) {
  const { method, target, headers, body } = parseSent(sent);
  const head = sent.subarray(0, sent.indexOf('\r\n\r\n')).toString('latin1');
  if (head.includes('\u0000') || !/^[A-Z]+$/.test(method)) return null;
  // curl frames the body itself: only a request framed as curl would frame it can be said so.
  const framing = headers.filter(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
  if (framing.length > 1 || framing.some(([n, v]) => /transfer/i.test(n) || Number(v) !== body.length))
    return null;
  if (headers.some(([n]) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n))) return null;
  if (!headers.some(([n]) => n.toLowerCase() === 'host')) return null;
  const words = ['curl', '-sS', '-i', '--path-as-is', '-X', method, shellQuote(baseUrl + target)];
  for (const [name, value] of headers) {
    if (/^(host|content-length|connection)$/i.test(name)) continue;
    const line = `${name}: ${value}`;
    const quoted =
      apiKey === '' ? shellQuote(line) : line.split(apiKey).map(shellQuote).join('"$SWARM_API_KEY"');
    words.push('-H', quoted);
  }
  if (body.length > 0)
    words.push('--data-binary', bodyFile === null ? shellQuote(body.toString('latin1')) : `@${bodyFile}`);
  return words.join(' ');
}
