// The bench scripts' command-line flags: node's parseArgs, plus `--help` (the script's leading
// comment) and, for a flag that is unknown or badly given, one line naming it and exit code 2
// instead of a stack trace.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * `parseArgs(config)` for the script at `scriptUrl` (its `import.meta.url`), with `--help`/`-h`.
 * @template {import('node:util').ParseArgsConfig} T
 * @param {string} scriptUrl
 * @param {T} config
 */
export function parseFlags(scriptUrl, config) {
  const options = { ...config.options, help: { type: /** @type {const} */ ('boolean'), short: 'h' } };
  let parsed;
  try {
    parsed = parseArgs({ ...config, options });
  } catch (error) {
    const code = /** @type {{ code?: unknown }} */ (error).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
      usageError(scriptUrl, /** @type {Error} */ (error).message);
    throw error;
  }
  if (parsed.values.help) {
    process.stdout.write(usageOf(scriptUrl));
    process.exit(0);
  }
  return /** @type {ReturnType<typeof parseArgs<T>>} */ (/** @type {unknown} */ (parsed));
}

/**
 * Ends the script: `message` on one line, after the script's name; exit code 2.
 * @param {string} scriptUrl
 * @param {string} message
 * @returns {never}
 */
export function usageError(scriptUrl, message) {
  const file = fileURLToPath(scriptUrl);
  // bench/chaos/main.mjs is "chaos".
  const name = path.basename(file) === 'main.mjs' ? path.basename(path.dirname(file)) : path.basename(file);
  process.stderr.write(`${name}: ${message} (--help describes the flags)\n`);
  process.exit(2);
}

/**
 * The value of an integer flag from `min` to `max`, or a usage error naming it.
 * @param {string} scriptUrl
 * @param {string} flag without its dashes
 * @param {string | undefined} raw
 * @param {number} [min]
 * @param {number} [max]
 */
export function integerFlag(scriptUrl, flag, raw, min = 1, max = Number.MAX_SAFE_INTEGER) {
  const value = Number(raw);
  if (raw === undefined || !/^-?\d+$/.test(raw.trim()) || value < min || value > max)
    usageError(
      scriptUrl,
      `--${flag} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, got "${raw}"`,
    );
  return value;
}

/** The script's leading `//` comment, as text. @param {string} scriptUrl */
function usageOf(scriptUrl) {
  const lines = [];
  for (const line of readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return `${lines.join('\n')}\n`;
}
