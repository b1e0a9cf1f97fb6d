import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { BuiltinRuntime, isTruthy, RuntimeError, Sleep } from '../../src/runtimes/index.js';
import {
  expectRuntimeError,
  expectValidOutput,
  invocation,
  LOOSE_POLICY,
  makeContext,
  MemoryEventSink,
  runtime,
} from './helpers.js';

describe('builtin/noop and builtin/transform', () => {
  it('noop outputs {} whatever its input', async () => {
    const output = await runtime().execute(invocation('noop', { anything: [1, 2] }), makeContext());
    expect(expectValidOutput('noop', output)).toEqual({});
  });

  it.each([[{ a: { b: [1, 'x', null] } }], [[1, 2, 3]], ['text'], [42], [null], [true]])(
    'transform outputs its input unchanged: %j',
    async (input) => {
      const output = await runtime().execute(invocation('transform', input), makeContext());
      expect(expectValidOutput('transform', output)).toEqual(input);
    },
  );
});

describe('builtin/delay', () => {
  it('answers Sleep until it is due, with the due time as state; a resumed attempt then completes', async () => {
    const started = Date.now();
    const context = makeContext();
    const first = await runtime().execute(invocation('delay', { ms: 60_000 }), context);
    // At once: the wait happens on the queue, not in the worker.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(first).toBeInstanceOf(Sleep);
    const sleep = first as Sleep;
    expect(sleep.until.getTime()).toBeGreaterThanOrEqual(started + 60_000);
    expect(sleep.state).toEqual({ delay_due: sleep.until.toISOString(), waited_ms: 60_000 });
    expect(context.logs.map((l) => l.message)).toEqual([`waiting until ${sleep.until.toISOString()}`]);

    // Resumed before it is due (a clock behind): sleeps again to the same moment.
    const early = await runtime().execute(
      invocation('delay', { ms: 60_000 }, { resumeState: sleep.state }),
      makeContext(),
    );
    expect((early as Sleep).until).toEqual(sleep.until);

    // Resumed once due: completes with the planned wait, whatever the input says now.
    const due = { delay_due: new Date(Date.now() - 10).toISOString(), waited_ms: 60_000 };
    const output = await runtime().execute(
      invocation('delay', { ms: 5 }, { resumeState: due }),
      makeContext(),
    );
    expect(expectValidOutput('delay', output)).toEqual({ waited_ms: 60_000, until: due.delay_due });
  });

  it('completes at once for ms 0 and for a sleep_until already past', async () => {
    const zero = await runtime().execute(invocation('delay', { ms: 0 }), makeContext());
    expect(expectValidOutput('delay', zero)).toMatchObject({ waited_ms: 0 });
    const past = await runtime().execute(
      invocation('delay', { sleep_until: '2001-02-03T04:05:06+01:00' }),
      makeContext(),
    );
    expect(expectValidOutput('delay', past)).toEqual({ waited_ms: 0, until: '2001-02-03T03:05:06.000Z' });
  });

  it.each([
    ['2100-01-01T00:00:00Z', '2100-01-01T00:00:00.000Z'],
    ['2100-01-01T09:30:00.250+02:00', '2100-01-01T07:30:00.250Z'],
    ['2100-01-01 09:30Z', '2100-01-01T09:30:00.000Z'],
    ['2100-01-01T09:30:00-0130', '2100-01-01T11:00:00.000Z'],
    ['2100-02-28', '2100-02-28T00:00:00.000Z'],
  ])('sleeps until sleep_until %s', async (text, iso) => {
    const result = await runtime().execute(invocation('delay', { sleep_until: text }), makeContext());
    expect(result).toBeInstanceOf(Sleep);
    expect((result as Sleep).until.toISOString()).toBe(iso);
  });

  it.each([
    [{ sleep_until: 'tomorrow' }, /input\.sleep_until: must be an ISO 8601 timestamp/],
    [{ sleep_until: '' }, /input\.sleep_until: must be an ISO 8601 timestamp/],
    [{ sleep_until: '2030-01-01T09:00:00' }, /input\.sleep_until: must give its time zone/],
    [{ sleep_until: '2030-02-30T09:00:00Z' }, /input\.sleep_until: is not a calendar date/],
    [{ sleep_until: '2030-01-01T24:00:00Z' }, /input\.sleep_until: is not a time of day/],
    [{ sleep_until: '2030-01-01T09:00:00+25:00' }, /input\.sleep_until: has no such time zone/],
    [{ sleep_until: '+275761-01-01T00:00:00Z' }, /input\.sleep_until/],
    [{ sleep_until: 1_900_000_000 }, /input\.sleep_until/],
    [{ ms: 10, sleep_until: '2030-01-01T00:00:00Z' }, /input\.sleep_until: give either ms or sleep_until/],
    [{ ms: -1 }, /input\.ms/],
    [{ ms: 1.5 }, /input\.ms/],
    [{}, /input\.ms: is required/],
    [{ ms: '10' }, /input\.ms/],
    [{ ms: 86_400_001 }, /input\.ms/],
  ])('refuses the input %j as invalid, not retryable', async (input, message) => {
    await expectRuntimeError(
      runtime().execute(invocation('delay', input), makeContext()),
      'INPUT_INVALID',
      false,
      message,
    );
  });
});

describe('builtin/condition', () => {
  // JSONata's $boolean decides, so a `when` on the same value agrees with this step.
  const TABLE: [unknown, boolean][] = [
    [true, true],
    [false, false],
    [0, false],
    [1, true],
    [-0.5, true],
    ['', false],
    ['false', true],
    ['0', true],
    [null, false],
    [[], false],
    [[0], false],
    [[0, '', false], false],
    [[0, 1], true],
    [[[], [[0]]], false],
    [{}, false],
    [{ a: 0 }, true],
  ];

  it.each(TABLE)('%j is %s, as JSONata $boolean says', async (value, expected) => {
    const output = await runtime().execute(invocation('condition', { value }), makeContext());
    expect(expectValidOutput('condition', output)).toEqual({ result: expected });
    expect(await jsonata('$boolean(v)').evaluate({ v: value })).toBe(expected);
  });

  it('treats a missing value as false, and requires the property', async () => {
    expect(isTruthy(undefined)).toBe(false);
    await expectRuntimeError(
      runtime().execute(invocation('condition', {}), makeContext()),
      'INPUT_INVALID',
      false,
      /input\.value: is required/,
    );
  });
});

describe('builtin/emit_event (with a sink)', () => {
  it('publishes the event under the task owner and outputs its id', async () => {
    const sink = new MemoryEventSink();
    const output = await runtime().execute(
      invocation(
        'emit_event',
        { source: 'billing', type: 'invoice.paid', payload: { id: 7 } },
        { runId: 'run-1' },
      ),
      makeContext({ events: sink }),
    );
    expect(expectValidOutput('emit_event', output)).toEqual({ event_id: 'evt-1' });
    expect(sink.events).toEqual([
      {
        id: 'evt-1',
        ownerId: 'owner-1',
        source: 'billing',
        type: 'invoice.paid',
        payload: { id: 7 },
        runId: 'run-1',
        taskId: 'task-1',
        idempotencyKey: 'task:task-1',
      },
    ]);
  });

  it('refuses an empty source or type', async () => {
    await expectRuntimeError(
      runtime().execute(invocation('emit_event', { source: '', type: 't' }), makeContext()),
      'INPUT_INVALID',
      false,
      /input\.source/,
    );
  });
});

describe('what the builtin runtime refuses', () => {
  it('refuses builtin/send_email and http_request with a connector when built without a mailer or connectors, not retryable', async () => {
    await expectRuntimeError(
      runtime().execute(
        invocation('send_email', { connector: 'mail', to: 'a@example.com', subject: 's', text: 't' }),
        makeContext(),
      ),
      'INTERNAL',
      false,
      /needs a mailer/,
    );
    await expectRuntimeError(
      runtime().execute(invocation('http_request', { connector: 'api', url: '/x' }), makeContext()),
      'INTERNAL',
      false,
      /without them/,
    );
  });

  it('refuses an unknown builtin and a non-builtin agent', async () => {
    await expectRuntimeError(
      runtime().execute(invocation('nope', {}), makeContext()),
      'INPUT_INVALID',
      false,
    );
    await expectRuntimeError(
      runtime().execute(invocation('toString', {}), makeContext()),
      'INPUT_INVALID',
      false,
    );
    const llm = invocation('noop', {});
    llm.agent.runtime = { type: 'llm' };
    await expectRuntimeError(runtime().execute(llm, makeContext()), 'INTERNAL', false);
  });

  it('finds the builtin by agent name when the runtime omits it', async () => {
    const inv = invocation('transform', { x: 1 });
    inv.agent.runtime = { type: 'builtin' };
    expect(await runtime().execute(inv, makeContext())).toEqual({ x: 1 });
  });

  it('refuses a policy without limits', () => {
    expect(() => new BuiltinRuntime({ http: { ...LOOSE_POLICY, timeoutMs: 0 } })).toThrow(RuntimeError);
  });
});

describe('builtin/consensus (voting)', () => {
  const run = (input: unknown) => runtime().execute(invocation('consensus', input), makeContext());

  it('decides by majority and reports every vote', async () => {
    const output = expectValidOutput(
      'consensus',
      await run({ strategy: 'voting', results: ['yes', 'no', 'yes'] }),
    );
    expect(output).toEqual({
      decision: 'yes',
      reached: true,
      agreement: 2 / 3,
      votes: [
        { value: 'yes', count: 2 },
        { value: 'no', count: 1 },
      ],
    });
  });

  it('compares objects canonically, whatever their key order', async () => {
    const output = expectValidOutput(
      'consensus',
      await run({
        strategy: 'voting',
        results: [
          { label: 'spam', score: { a: 1, b: 2 } },
          { score: { b: 2, a: 1 }, label: 'spam' },
          { label: 'ham' },
        ],
      }),
    );
    expect(output.decision).toEqual({ label: 'spam', score: { a: 1, b: 2 } });
    expect(output.votes).toHaveLength(2);
    expect(output.reached).toBe(true);
  });

  it('on a tie, decides for the earliest member but does not reach a majority', async () => {
    const output = expectValidOutput(
      'consensus',
      await run({ strategy: 'voting', results: ['b', 'a', 'a', 'b'] }),
    );
    expect(output).toMatchObject({ decision: 'b', reached: false, agreement: 0.5 });
  });

  it('reports a quorum that is not reached, and one that is', async () => {
    const input = { strategy: 'voting', results: [1, 1, 1, 2, 3] };
    expect(expectValidOutput('consensus', await run({ ...input, quorum: 4 }))).toMatchObject({
      decision: 1,
      reached: false,
      agreement: 0.6,
    });
    expect(await run({ ...input, quorum: 3 })).toMatchObject({ reached: true });
    expect(await run(input)).toMatchObject({ reached: true }); // strict majority of 5 is 3
  });

  it('a single member is unanimous', async () => {
    expect(expectValidOutput('consensus', await run({ strategy: 'voting', results: [null] }))).toEqual({
      decision: null,
      reached: true,
      agreement: 1,
      votes: [{ value: null, count: 1 }],
    });
  });

  it.each(['judge_based', 'mixture_of_agents'])(
    'refuses %s: the judge agent decides those',
    async (strategy) => {
      await expectRuntimeError(run({ strategy, results: ['a'] }), 'INPUT_INVALID', false, /judge agent/);
    },
  );

  it('refuses no results and an unknown strategy', async () => {
    await expectRuntimeError(
      run({ strategy: 'voting', results: [] }),
      'INPUT_INVALID',
      false,
      /input\.results/,
    );
    await expectRuntimeError(
      run({ strategy: 'loudest', results: [1] }),
      'INPUT_INVALID',
      false,
      /input\.strategy/,
    );
  });
});
