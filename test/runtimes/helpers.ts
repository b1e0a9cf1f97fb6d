import { expect } from 'vitest';
import { BUILTIN_AGENTS } from '../../src/registry/index.js';
import { createSchemaAjv } from '../../src/registry/agent/index.js';
import {
  BuiltinRuntime,
  RuntimeError,
  type AgentInvocation,
  type EmittedEvent,
  type EventSink,
  type HttpPolicy,
  type RuntimeContext,
} from '../../src/runtimes/index.js';

/** Collects events in memory: for the builtins that do not need a database. */
export class MemoryEventSink implements EventSink {
  readonly events: (EmittedEvent & { id: string })[] = [];
  async publish(event: EmittedEvent): Promise<string> {
    const id = `evt-${this.events.length + 1}`;
    this.events.push({ ...event, id });
    return id;
  }
}

export interface TestContext extends RuntimeContext {
  readonly logs: { level: string; message: string; metadata?: Record<string, unknown> }[];
}

export function makeContext(options: { signal?: AbortSignal; events?: EventSink } = {}): TestContext {
  const logs: TestContext['logs'] = [];
  return {
    signal: options.signal ?? new AbortController().signal,
    events: options.events ?? new MemoryEventSink(),
    log: (level, message, metadata) => logs.push({ level, message, metadata }),
    logs,
  };
}

export function invocation(
  name: string,
  input: unknown,
  more: Partial<AgentInvocation> = {},
): AgentInvocation {
  return {
    taskId: 'task-1',
    runId: null,
    stepId: 'step',
    ownerId: 'owner-1',
    attempt: 1,
    idempotencyKey: 'swarm-test-key',
    agent: { name: `builtin/${name}`, version: '1.0.0', runtime: { type: 'builtin', name } },
    input,
    ...more,
  };
}

export const LOOSE_POLICY: HttpPolicy = {
  allowPrivateNetworks: true,
  timeoutMs: 5000,
  maxResponseBytes: 1 << 20,
};
export const STRICT_POLICY: HttpPolicy = {
  allowPrivateNetworks: false,
  timeoutMs: 5000,
  maxResponseBytes: 1 << 20,
};

export function runtime(http: HttpPolicy = LOOSE_POLICY): BuiltinRuntime {
  return new BuiltinRuntime({ http });
}

// The registry's own Ajv configuration (strict, with formats): what the rest of Swarm checks with.
const ajv = createSchemaAjv();

/** Asserts `output` is valid against builtin/<name>'s declared output_schema, and returns it. */
export function expectValidOutput<T = Record<string, unknown>>(name: string, output: unknown): T {
  const manifest = BUILTIN_AGENTS.find((a) => a.name === `builtin/${name}`);
  expect(manifest, name).toBeDefined();
  const validate = ajv.compile(manifest!.output_schema ?? true);
  expect(validate(output), JSON.stringify(validate.errors)).toBe(true);
  return output as T;
}

/** Runs the promise and asserts it fails with a RuntimeError of this code and retryability. */
export async function expectRuntimeError(
  promise: Promise<unknown>,
  code: string,
  retryable: boolean,
  message?: RegExp,
): Promise<RuntimeError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a RuntimeError, but it resolved');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RuntimeError);
  const runtimeError = error as RuntimeError;
  expect(runtimeError.code, runtimeError.message).toBe(code);
  expect(runtimeError.retryable, runtimeError.message).toBe(retryable);
  if (message !== undefined) expect(runtimeError.message).toMatch(message);
  return runtimeError;
}
