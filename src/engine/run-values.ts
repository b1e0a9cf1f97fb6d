/**
 * A run's own values (its input, trigger data, step outputs and result) as stored in its row:
 * each over SWARM_PAYLOAD_INLINE_MAX goes to the blob store and the row holds a reference, so a
 * 50 MB step output is not rewritten with the run's row at every later completion
 * (docs/payloads.md). Every reader gets the whole value back.
 */
import {
  blobSettings,
  isBlobReference,
  keepReference,
  needsEscape,
  parseOutputs,
  resolveStored,
  storeJson,
  storeValue,
  viewStored,
  viewValue,
  type BlobHandle,
  type BlobReference,
} from '../blobs/index.js';
import type { Kysely } from 'kysely';
import { toDbJson, type SwarmDatabase } from '../storage/index.js';
import type { RunSteps, StepState } from './plan.js';

/** The run whose row holds the values: blobs are referenced by it, for its owner. */
export interface RunValueOwner {
  readonly runId: string;
  readonly ownerId: string;
}

const blobOwner = (run: RunValueOwner) =>
  ({ ownerId: run.ownerId, source: 'workflow_runs', sourceId: run.runId }) as const;

/** The text of a run's value column (`input`, `trigger_data`, `result`). */
export function storeRunValue(
  handle: BlobHandle,
  run: RunValueOwner,
  value: unknown,
  field: string,
): Promise<string> {
  return storeJson(handle, value, blobOwner(run), field);
}

/**
 * The reference each output read whole from a blob was read from (loadSteps): written back
 * unchanged, it is referenced again instead of being serialised and hashed again at each of the
 * run's later completions. Outputs are never changed in place once read.
 */
const readFrom = new WeakMap<object, BlobReference>();

/**
 * The text of a run's `step_results`: each step's output stored as storeValue stores it. Most
 * runs' steps fit whole under the threshold and need no escape: their text is the plain JSON.
 */
export async function storeSteps(handle: BlobHandle, run: RunValueOwner, steps: RunSteps): Promise<string> {
  const entries = Object.entries(steps);
  const kept: RunSteps = {};
  let keeps = false;
  for (const [id, step] of entries) {
    const ref = isObject(step.output) ? readFrom.get(step.output) : undefined;
    if (ref !== undefined && (await keepReference(handle, ref, blobOwner(run)))) {
      kept[id] = { ...step, output: ref };
      keeps = true;
    } else kept[id] = step;
  }
  const text = toDbJson(keeps ? kept : steps, 'step_results');
  const max = blobSettings().inlineMax;
  // A UTF-16 unit is at most 3 UTF-8 bytes: most runs are ruled out without counting.
  const small = text.length * 3 <= max || Buffer.byteLength(text, 'utf8') <= max;
  if (small && !entries.some(([, s]) => needsEscape(s.output))) return text;
  const stored: RunSteps = {};
  for (const [id, step] of Object.entries(kept)) {
    stored[id] =
      step.output === undefined || step.output !== steps[id]?.output
        ? step
        : { ...step, output: await storeValue(handle, step.output, blobOwner(run), `steps.${id}.output`) };
  }
  return toDbJson(stored, 'step_results');
}

/** A run's step states as parsed, and those whose output may be stored (parseOutputs). */
function parsedSteps(text: string | null): [RunSteps, StepState[]] {
  const [steps, keys] = parseOutputs<StepState>(text);
  return [steps, keys.map((key) => steps[key]!)];
}

/** A run's step states with every output whole. */
export async function loadSteps(db: Kysely<SwarmDatabase>, text: string | null): Promise<RunSteps> {
  const [steps, stored] = parsedSteps(text);
  for (const step of stored) {
    const ref = step.output;
    step.output = await resolveStored(db, ref);
    if (isBlobReference(ref) && isObject(step.output)) readFrom.set(step.output, ref);
  }
  return steps;
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** A run's step states for a list: a large output stays a reference, with the URL to fetch it. */
export function listedSteps(text: string | null): RunSteps {
  const [steps, stored] = parsedSteps(text);
  for (const step of stored) step.output = viewStored(step.output);
  return steps;
}

/** A run's step states for a view of the run: outputs whole up to VIEW_WHOLE_MAX, else a link. */
export async function viewedSteps(db: Kysely<SwarmDatabase>, text: string | null): Promise<RunSteps> {
  const [steps, stored] = parsedSteps(text);
  for (const step of stored) step.output = await viewValue(db, step.output);
  return steps;
}
