import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { entrySize, MAX_ENTRY_BYTES, MAX_EVENT_BYTES } from '../../../shared/events/eventbridge-limits.ts';
import { EventBridgeResultSink, MAX_HOLD_MS } from '../../../shared/events/publisher.ts';
import {
  RESULT_DETAIL_TYPE,
  RESULT_SOURCE,
  type ResultDetail,
  replacementOf,
} from '../../../shared/events/result.ts';
import { TaniumError, VaultError } from '../../../shared/tanium/errors.ts';
import { type ResultStore, resultKey } from '../../../shared/vault/result-store.ts';
import { acceptAllEntries, publishedDetails } from './fixtures.ts';

const eventBridge = mockClient(EventBridgeClient);

function detail(overrides: Partial<ResultDetail> = {}): ResultDetail {
  return {
    requestId: 'req-1',
    action: 'get events',
    status: 'success',
    message: 'Fetched 1 events',
    parameter: { connection_id: 'c' },
    data: [{ id: 1 }],
    summary: { total_events: 1 },
    context: {},
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 12,
    ...overrides,
  };
}

/** The bytes EventBridge counts for `event` as an `Action Result` entry. */
function entryBytes(event: ResultDetail): number {
  return entrySize({ Source: RESULT_SOURCE, DetailType: RESULT_DETAIL_TYPE, Detail: JSON.stringify(event) });
}

/** `event` as JSON, in bytes: what Lambda counts against the 6 MB it returns. */
function jsonBytes(event: ResultDetail): number {
  return Buffer.byteLength(JSON.stringify(event));
}

/** The result `build` makes with filler of one-byte characters that brings it to `bytes` as `measure` counts. */
function sized(
  bytes: number,
  measure: (event: ResultDetail) => number,
  build: (filler: string) => ResultDetail,
): ResultDetail {
  return build('x'.repeat(bytes - measure(build(''))));
}

/** A sink that retries failed entries at once (no backoff wait). */
function retryingSink(): EventBridgeResultSink {
  return new EventBridgeResultSink({
    busName: 'bus',
    client: new EventBridgeClient({}),
    sleep: async () => undefined,
  });
}

/** 'published', or the message the publish failed with. */
function outcomeOf(sink: EventBridgeResultSink, requestId: string): Promise<string> {
  return sink.publish(detail({ requestId })).then(
    () => 'published',
    (error: Error) => error.message,
  );
}

/** A PutEvents answer taking every entry but the second, which is throttled. */
function throttleSecondEntry(input: { Entries: unknown[] }) {
  return {
    FailedEntryCount: 1,
    Entries: input.Entries.map((_, index) =>
      index === 1
        ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }
        : { EventId: `e-${index}` },
    ),
  };
}

function storeWith(
  put: ResultStore['putResult'],
): ResultStore & { keys: string[]; signals: Array<AbortSignal | undefined> } {
  const keys: string[] = [];
  const signals: Array<AbortSignal | undefined> = [];
  return {
    keys,
    signals,
    putResult: async (key, body, signal) => {
      keys.push(key);
      signals.push(signal);
      return put(key, body, signal);
    },
  };
}

/** A sink whose vault answers every oversized result with `put`. */
function sinkWithStore(put: ResultStore['putResult']) {
  const store = storeWith(put);
  const sink = new EventBridgeResultSink({
    busName: 'bus',
    client: new EventBridgeClient({}),
    store: () => store,
  });
  return { store, sink };
}

/** A sink whose vault stores every oversized result it is given. */
function storingSink() {
  return sinkWithStore(async (key, body) => ({ bucket: 'vault', key, bytes: Buffer.byteLength(body) }));
}

beforeEach(() => {
  acceptAllEntries(eventBridge);
});

afterEach(() => {
  eventBridge.reset();
});

describe('Result publishing', () => {
  it('counts an entry the way EventBridge does: UTF-8 bytes of source, detail type and detail plus the time', () => {
    // Act
    const size = entrySize({ Source: 'abc', DetailType: 'de', Detail: '{"é":1}' });

    // Assess
    expect(size).toBe(14 + 3 + 2 + 8);
  });

  it.each([
    ['no source', { DetailType: 'de', Detail: '{}' }, 14 + 2 + 2],
    ['no detail type', { Source: 'abc', Detail: '{}' }, 14 + 3 + 2],
    ['no detail', { Source: 'abc', DetailType: 'de' }, 14 + 3 + 2],
  ])('counts a field an entry has %s for as no bytes', (_case, entry, expected) => {
    // Act
    const size = entrySize(entry);

    // Assess
    expect(size).toBe(expected);
  });

  it('escapes U+FFFE and U+FFFF in the event, which an SQS target would refuse, keeping their meaning', async () => {
    // Prepare: characters a request or Tanium can hold, echoed back in the result
    const sink = retryingSink();
    const sent = detail({ parameter: { file_path: 'C:\\a\uFFFFb\uFFFE' }, data: [{ name: 'x\uFFFF' }] });

    // Act
    await sink.publish(sent);

    // Assess
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry?.Detail).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(entry?.Detail).toContain('a\\uffffb\\ufffe');
    expect(JSON.parse(entry?.Detail ?? '')).toEqual(sent);
  });

  it('publishes an entry of exactly the limit as it is, and stores one a byte over it', async () => {
    // Prepare
    const store = storeWith(async () => ({ bucket: 'b', key: 'k', bytes: 0 }));
    const sink = new EventBridgeResultSink({
      busName: 'bus',
      client: new EventBridgeClient({}),
      store: () => store,
    });
    // The limit leaves 1 KiB of EventBridge's 256 KiB for the envelope a target receives
    expect(MAX_EVENT_BYTES).toBe(MAX_ENTRY_BYTES - 1024);
    const exact = sized(MAX_EVENT_BYTES, entryBytes, (filler) => detail({ data: [filler] }));
    const over = sized(MAX_EVENT_BYTES + 1, entryBytes, (filler) =>
      detail({ requestId: 'req-over', data: [filler] }),
    );

    // Act
    await sink.publish(exact);
    await sink.publish(over);

    // Assess
    expect(store.keys).toHaveLength(1);
    expect(publishedDetails(eventBridge)[0]).toEqual(exact);
    expect(publishedDetails(eventBridge)[1]).toMatchObject({
      requestId: 'req-over',
      dataRef: { bucket: 'b' },
    });
  });

  it.each([
    [
      "the request's parameter, when only the data is left out",
      (filler: string) => detail({ context: { note: filler }, data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
      (event: ResultDetail): ResultDetail => ({ ...event, data: undefined }),
      { parameter: { connection_id: 'c' } },
      { parameter: {} },
    ],
    [
      'the summary, when the parameter is left out',
      (filler: string) =>
        detail({ parameter: { intel_doc: 'p'.repeat(MAX_ENTRY_BYTES) }, context: { note: filler } }),
      (event: ResultDetail): ResultDetail => ({ ...event, parameter: {}, data: undefined }),
      { summary: { total_events: 1 } },
      { summary: {} },
    ],
  ])(
    'keeps %s, while the event is exactly the limit, not a byte over',
    async (_what, build, published, atLimit, overLimit) => {
      // Prepare: the context brings the event the result makes to the limit
      const dataRef = { bucket: 'vault', key: 'results/req-1', bytes: 0 };
      const { sink } = sinkWithStore(async () => dataRef);
      const measure = (result: ResultDetail) => entryBytes({ ...published(result), dataRef });

      // Act
      await sink.publish(sized(MAX_EVENT_BYTES, measure, build));
      await sink.publish(sized(MAX_EVENT_BYTES + 1, measure, build));

      // Assess
      const [exact, over] = publishedDetails(eventBridge);
      expect(exact).toMatchObject(atLimit);
      expect(over).toMatchObject(overLimit);
    },
  );

  it('keeps only what identifies the request when parameters or context alone exceed the limit', async () => {
    // Prepare
    const { sink } = storingSink();
    const huge = detail({
      context: { note: 'y'.repeat(MAX_ENTRY_BYTES) },
      error: { kind: 'tanium', retryable: false },
    });

    // Act
    await sink.publish(huge);

    // Assess: every field of the contract is there, parameter and context empty
    const [published] = publishedDetails(eventBridge);
    expect(published).toEqual({
      requestId: 'req-1',
      action: 'get events',
      status: 'success',
      message: 'Fetched 1 events',
      parameter: {},
      summary: { total_events: 1 },
      error: { kind: 'tanium', retryable: false },
      context: {},
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 12,
      dataRef: {
        bucket: 'vault',
        key: resultKey(huge.requestId, JSON.stringify(huge)),
        bytes: Buffer.byteLength(JSON.stringify(huge)),
      },
    });
  });

  it('keeps a small context in the stripped event when the parameter is what is huge', async () => {
    // Prepare: an intel doc's text in the parameter; the caller matches results by its context
    const { sink } = storingSink();
    const huge = detail({ parameter: { intel_doc: 'p'.repeat(MAX_ENTRY_BYTES) }, context: { ticket: 7 } });

    // Act
    await sink.publish(huge);

    // Assess
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      parameter: {},
      summary: { total_events: 1 },
      context: { ticket: 7 },
      dataRef: expect.objectContaining({ key: resultKey(huge.requestId, JSON.stringify(huge)) }),
    });
  });

  it('leaves the summary out of the stripped event too when it is what is huge', async () => {
    // Prepare
    const { sink } = storingSink();
    const huge = detail({ summary: { note: 's'.repeat(MAX_ENTRY_BYTES) }, context: { ticket: 7 } });

    // Act
    await sink.publish(huge);

    // Assess
    const [entry] = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entrySize(entry ?? {})).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      status: 'success',
      parameter: {},
      summary: {},
      context: { ticket: 7 },
      dataRef: expect.objectContaining({ key: resultKey(huge.requestId, JSON.stringify(huge)) }),
    });
  });

  it('keeps the stripped event within the limit when the action named is itself huge', async () => {
    // Prepare: an unknown action's name is whatever the sender wrote
    const { sink } = storingSink();
    const huge = detail({
      requestId: 'r'.repeat(1000),
      action: 'x'.repeat(MAX_ENTRY_BYTES),
      status: 'failed',
      message: `Unknown action '${'x'.repeat(MAX_ENTRY_BYTES)}'`,
    });

    // Act
    await sink.publish(huge);

    // Assess
    const [entry] = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entrySize(entry ?? {})).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    const [published] = publishedDetails(eventBridge);
    expect(published).toMatchObject({
      requestId: `${'r'.repeat(255)}…`,
      action: `${'x'.repeat(255)}…`,
      message: `Unknown action '${'x'.repeat(2047 - "Unknown action '".length)}…`,
      dataRef: { bucket: 'vault', key: resultKey(huge.requestId, JSON.stringify(huge)) },
    });
  });

  /** A sink whose vault store fails with `error`. */
  function sinkWhoseVaultFails(error: VaultError): EventBridgeResultSink {
    const store = storeWith(async () => {
      throw error;
    });
    return new EventBridgeResultSink({
      busName: 'bus',
      client: new EventBridgeClient({}),
      store: () => store,
    });
  }
  const refused = () =>
    new VaultError('Error occurred while storing the result in the vault. AccessDenied: denied (HTTP 403)');
  const throttled = () =>
    new VaultError('Error occurred while storing the result in the vault. SlowDown (HTTP 503)', {
      retryable: true,
    });

  it.each([
    ['refuses the oversized result for good', refused, false],
    ['fails transiently on the last attempt, as no redelivery follows', throttled, true],
  ])('publishes a failed result when the vault %s', async (_when, error, lastAttempt) => {
    // Prepare
    const failure = error();

    // Act
    const returned = await sinkWhoseVaultFails(failure).publish(
      detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
      { lastAttempt },
    );

    // Assess: marked as the failed result standing in for the action's own, which the handler logs
    expect(replacementOf(returned)).toBe('failed');
    const [published] = publishedDetails(eventBridge);
    expect(published).toMatchObject({
      requestId: 'req-1',
      status: 'failed',
      message: `The result is larger than an EventBridge event allows and could not be stored: ${failure.message}. The action itself succeeded: send the request again, with the same parameters and "requestId": "req-1", for its result (a mutating action is not run again within 21 days)`,
      error: failure.info,
      data: [],
      summary: {},
    });
    expect(published?.dataRef).toBeUndefined();
  });

  it.each([
    [
      'the parameter alone',
      { parameter: { intel_doc: 'p'.repeat(MAX_ENTRY_BYTES) } },
      { ticket: 7 },
      'parameter is',
    ],
    [
      'the parameter and the context',
      { parameter: { intel_doc: 'p'.repeat(1000) }, context: { note: 'c'.repeat(MAX_ENTRY_BYTES) } },
      {},
      'parameter and context are',
    ],
  ])(
    "publishes the action's own result without %s when the vault refuses it and they are what is too big",
    async (_what, overrides, context, left) => {
      // Prepare: an uploaded intel doc's text, echoed in `parameter`, is what makes the result too big
      const failure = refused();
      const own = detail({ action: 'upload intel doc', context: { ticket: 7 }, ...overrides });

      // Act
      const returned = await sinkWhoseVaultFails(failure).publish(own);

      // Assess: a mutation that ran is not reported as failed
      const [published] = publishedDetails(eventBridge);
      expect(published).toEqual({
        ...own,
        message: `Fetched 1 events. Its ${left} left out: the result is larger than an EventBridge event allows and could not be stored: ${failure.message}`,
        parameter: {},
        context,
      });
      expect(returned).toEqual(published);
      expect(replacementOf(returned)).toBe('reduced');
    },
  );

  it('adds its sentences with one full stop after a message that ends with its own', async () => {
    // Prepare: an upload whose outcome is unknown, its 300 KB intel doc echoed in `parameter`; then a
    // successful result whose vault error ends with a full stop
    const unknown = detail({
      action: 'upload intel doc',
      status: 'failed',
      message:
        'Error connecting to server: connection reset by tanium.example (POST /plugin/products/threat-response/api/v1/intels). The request may have been processed by Tanium; check before running it again.',
      parameter: { intel_doc: 'p'.repeat(300_000) },
      data: [],
      summary: {},
      error: { kind: 'unknown_outcome', retryable: false },
    });
    const failure = new VaultError('Error occurred while storing the result in the vault. Access Denied.');

    // Act
    const reduced = await sinkWhoseVaultFails(refused()).publish(unknown);
    const failed = await sinkWhoseVaultFails(failure).publish(
      detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
    );

    // Assess
    expect(reduced.message).toBe(
      `${unknown.message} Its parameter is left out: the result is larger than an EventBridge event allows and could not be stored: ${refused().message}`,
    );
    expect(failed.message).toMatch(/ Access Denied\. The action itself succeeded: send the request again/);
  });

  it('fits the failed result in one event when the vault refuses a result whose request is itself huge', async () => {
    // Prepare
    const failure = refused();
    const huge = detail({
      action: 'a'.repeat(MAX_ENTRY_BYTES),
      parameter: { intel_doc: 'p'.repeat(MAX_ENTRY_BYTES) },
      context: { note: 'c'.repeat(MAX_ENTRY_BYTES) },
      data: ['z'.repeat(MAX_ENTRY_BYTES)],
    });

    // Act
    await sinkWhoseVaultFails(failure).publish(huge);

    // Assess
    const [entry] = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entrySize(entry ?? {})).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    const [published] = publishedDetails(eventBridge);
    expect(published).toMatchObject({
      requestId: 'req-1',
      action: `${'a'.repeat(255)}…`,
      status: 'failed',
      message: `The result is larger than an EventBridge event allows and could not be stored: ${failure.message}. The action itself succeeded: send the request again, with the same parameters and "requestId": "req-1", for its result (a mutating action is not run again within 21 days). Its parameter and context are left out: too large for an EventBridge event`,
      parameter: {},
      context: {},
      error: failure.info,
    });
  });

  it('keeps the context of the failed result when the vault refuses and the data and parameter are huge', async () => {
    // Act
    await sinkWhoseVaultFails(refused()).publish(
      detail({
        parameter: { intel_doc: 'p'.repeat(MAX_ENTRY_BYTES) },
        context: { ticket: 7 },
        data: ['z'.repeat(MAX_ENTRY_BYTES)],
      }),
    );

    // Assess
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(
        /could not be stored: .*\. Its parameter is left out: too large for an EventBridge event$/,
      ),
      parameter: {},
      context: { ticket: 7 },
      data: [],
    });
  });

  it.each([
    ['refuses the result for good', refused],
    ['fails transiently', throttled],
  ])(
    'does not promise a replay, nor call retryable, a successful mutation no record keeps, when the vault %s',
    async (_what, error) => {
      // Prepare: its idempotency record could not be completed, so a resend would run it again
      const failure = error();

      // Act
      const returned = await sinkWhoseVaultFails(failure).publish(
        detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
        {
          replayable: false,
        },
      );

      // Assess: published at once, even for a transient failure a redelivery could cure
      expect(returned).toMatchObject({ status: 'failed', error: { kind: 'vault', retryable: false } });
      expect(returned.message).toBe(
        `The result is larger than an EventBridge event allows and could not be stored: ${failure.message}. The action itself succeeded, but its result could not be recorded: sending the request again may run it again`,
      );
      expect(publishedDetails(eventBridge)).toEqual([returned]);
    },
  );

  it('keeps the reason a result failed, and says why it was left out, when the vault refuses it too large', async () => {
    // Prepare: a failed result whose data alone is too big for an event
    const failure = refused();
    const big = detail({
      status: 'failed',
      message: 'Connection created but not active',
      error: { kind: 'connection', retryable: false },
      data: ['z'.repeat(MAX_ENTRY_BYTES)],
    });

    // Act
    const returned = await sinkWhoseVaultFails(failure).publish(big);

    // Assess: the action's own error kind, which a playbook branches on, not the vault's
    expect(returned).toMatchObject({
      status: 'failed',
      data: [],
      error: { kind: 'connection', retryable: false },
    });
    expect(returned.message).toBe(
      `Connection created but not active. The result is larger than an EventBridge event allows and could not be stored: ${failure.message}`,
    );
    expect(publishedDetails(eventBridge)).toEqual([returned]);
  });

  it('keeps the message of a failed result the vault refuses within the stripped limit, its reason first', async () => {
    // Prepare: a long failure message and data too big for an event
    const failure = refused();
    const big = detail({
      status: 'failed',
      message: `Permission denied (HTTP 403): ${'w'.repeat(3000)}`,
      error: { kind: 'permission', retryable: false },
      data: ['z'.repeat(MAX_ENTRY_BYTES)],
    });

    // Act
    const returned = await sinkWhoseVaultFails(failure).publish(big);

    // Assess
    expect(returned.message.length).toBeLessThanOrEqual(2048);
    expect(returned.message).toMatch(/^Permission denied \(HTTP 403\): w+… The result is larger than/);
    expect(returned.error).toEqual({ kind: 'permission', retryable: false });
  });

  it.each([
    [
      'a failed result, the vault saying much',
      detail({
        status: 'failed',
        message: 'Permission denied (HTTP 403)',
        error: { kind: 'permission', retryable: false },
        data: ['z'.repeat(MAX_ENTRY_BYTES)],
      }),
      new VaultError(`AccessDenied: ${'v'.repeat(3000)}`),
      true,
      /^Permission denied \(HTTP 403\)\. The result is larger than/,
    ],
    [
      'a successful mutation no record keeps, the vault saying much',
      detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
      new VaultError(`AccessDenied: ${'v'.repeat(3000)}`),
      false,
      /The action itself succeeded, but its result could not be recorded: sending the request again may run it again$/,
    ],
    [
      'a long failure with a huge parameter',
      detail({
        status: 'failed',
        message: `Connection not active: ${'w'.repeat(2100)}`,
        error: { kind: 'connection', retryable: false },
        parameter: { connection_id: 'p'.repeat(MAX_ENTRY_BYTES) },
      }),
      refused(),
      true,
      /^Connection not active: w+… Its parameter is left out: the result is larger than/,
    ],
  ])(
    'keeps the message of %s within the stripped limit, with its own words and why it is not whole',
    async (_what, big, failure, replayable, shape) => {
      // Act
      const returned = await sinkWhoseVaultFails(failure).publish(big, { replayable });

      // Assess
      expect(returned.message.length).toBeLessThanOrEqual(2048);
      expect(returned.message).toMatch(shape);
    },
  );

  it('does not call a failed, unrecorded request retryable, whichever part of it was too large', async () => {
    // Prepare: a transient failure of a mutation whose record could not be completed
    const failedWith = (overrides: Partial<ResultDetail>) =>
      detail({
        status: 'failed',
        message: 'Tanium answered 503',
        error: { kind: 'transient', retryable: true },
        ...overrides,
      });

    // Act
    const hugeData = await sinkWhoseVaultFails(refused()).publish(
      failedWith({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
      {
        replayable: false,
      },
    );
    const hugeParameter = await sinkWhoseVaultFails(refused()).publish(
      failedWith({ parameter: { connection_id: 'p'.repeat(MAX_ENTRY_BYTES) } }),
      { replayable: false },
    );

    // Assess
    expect(hugeData.error).toEqual({ kind: 'transient', retryable: false });
    expect(hugeParameter.error).toEqual({ kind: 'transient', retryable: false });
  });

  it('keeps a failed stand-in for an unserialisable result marked as failed when it is reduced too', async () => {
    // Prepare: Tanium's answer nests too deep to serialise, and the request's parameter is huge
    let deep: unknown = 1;
    for (let depth = 0; depth < 20_000; depth++) deep = [deep];

    // Act
    const returned = await sinkWhoseVaultFails(refused()).publish(
      detail({ parameter: { intel_doc: 'p'.repeat(MAX_ENTRY_BYTES) }, data: [deep] }),
    );

    // Assess
    expect(returned).toMatchObject({ status: 'failed', parameter: {} });
    expect(returned.message).toMatch(/^Unable to serialise the result/);
    expect(replacementOf(returned)).toBe('failed');
  });

  it('keeps the failed result whole when the vault refuses and only the data was too big', async () => {
    // Act
    await sinkWhoseVaultFails(refused()).publish(
      detail({ context: { case: 7 }, data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
    );

    // Assess
    expect(publishedDetails(eventBridge)[0]).toMatchObject({
      action: 'get events',
      parameter: { connection_id: 'c' },
      context: { case: 7 },
    });
  });

  it('publishes a failed result when an oversized result has no key its request id can make', async () => {
    // Prepare: a lone surrogate has no percent-encoding (encodeURIComponent throws)
    const { store, sink } = storingSink();

    // Act
    await sink.publish(detail({ requestId: 'req-\ud800', data: ['z'.repeat(MAX_ENTRY_BYTES)] }));

    // Assess
    expect(store.keys).toEqual([]);
    expect(publishedDetails(eventBridge)).toEqual([
      expect.objectContaining({
        status: 'failed',
        message: expect.stringMatching(
          /^The result is larger than an EventBridge event allows and could not be stored: .*URI malformed/,
        ),
      }),
    ]);
  });

  it('keeps the stand-in for an unserialisable result within the limit when the request is near it', async () => {
    // Prepare: the failed stand-in adds a message to a request whose context nearly fills an event
    let deep: unknown = 1;
    for (let depth = 0; depth < 20_000; depth++) deep = [deep];
    const { store, sink } = storingSink();

    // Act
    const published = await sink.publish(
      detail({ data: [deep], context: { note: 'x'.repeat(MAX_ENTRY_BYTES - 300) } }),
    );

    // Assess: stored whole and referenced, as any result too large for an event
    const [entry] = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entrySize(entry ?? {})).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(store.keys).toHaveLength(1);
    expect(published).toMatchObject({ status: 'failed', data: [] });
    expect(publishedDetails(eventBridge)[0]).toMatchObject({ status: 'failed', dataRef: expect.any(Object) });
  });

  it.each([
    ['whole, under the 6 MB Lambda can return', 1024 * 1024, true],
    ['whole, of exactly the 6 MB Lambda can return', 6 * 1024 * 1024, true],
    ['as its reference, a byte over the 6 MB Lambda can return', 6 * 1024 * 1024 + 1, false],
  ])('gives a caller an oversized result %s', async (_case, bytes, whole) => {
    // Prepare
    const { sink } = storingSink();
    const large = sized(bytes, jsonBytes, (filler) => detail({ data: [filler] }));

    // Act
    const returned = await sink.publish(large);

    // Assess
    const [event] = publishedDetails(eventBridge);
    expect(event?.dataRef).toBeDefined();
    if (whole) expect(returned).toBe(large);
    else expect(returned).toEqual({ ...large, data: undefined, dataRef: event?.dataRef });
  });

  it.each([
    ['the result without its data, when that is exactly the 6 MB Lambda can return', 0, true],
    ['what the event has, when the result without its data is a byte over', 1, false],
  ])('gives a caller %s, the request itself being near its 6 MB', async (_what, extra, contextKept) => {
    // Prepare: a direct invocation may carry up to 6 MB; the result adds a message, timings and more
    const dataRef = { bucket: 'vault', key: 'results/req-1', bytes: 0 };
    const { sink } = sinkWithStore(async () => dataRef);
    const large = sized(
      6 * 1024 * 1024 + extra,
      (event) => jsonBytes({ ...event, data: undefined, dataRef }),
      (filler) => detail({ data: ['z'.repeat(1024)], context: { note: filler } }),
    );

    // Act
    const returned = await sink.publish(large);

    // Assess: dataRef included, the data never
    expect(jsonBytes(returned)).toBeLessThanOrEqual(6 * 1024 * 1024);
    expect(returned).toMatchObject({ requestId: 'req-1', status: 'success', dataRef });
    expect(returned.data).toBeUndefined();
    expect(returned.context).toEqual(contextKept ? large.context : {});
  });

  it('throws when the vault fails transiently, so the delivery is retried', async () => {
    // Act
    const publishing = sinkWhoseVaultFails(throttled()).publish(
      detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }),
    );

    // Assess
    await expect(publishing).rejects.toMatchObject({ kind: 'vault', retryable: true });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('sends results that are ready together in one PutEvents call and resends only the failed entry', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .callsFakeOnce(throttleSecondEntry)
      .callsFake((input: { Entries: unknown[] }) => ({
        FailedEntryCount: 0,
        Entries: input.Entries.map((_, index) => ({ EventId: `retry-${index}` })),
      }));
    const sink = retryingSink();

    // Act
    await Promise.all([
      sink.publish(detail({ requestId: 'a' })),
      sink.publish(detail({ requestId: 'b' })),
      sink.publish(detail({ requestId: 'c' })),
    ]);

    // Assess
    const calls = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) =>
        (call.args[0].input.Entries ?? []).map(
          (entry) => (JSON.parse(entry.Detail ?? '{}') as ResultDetail).requestId,
        ),
      );
    expect(calls).toEqual([['a', 'b', 'c'], ['b']]);
  });

  it('does not resend an entry EventBridge refuses for its content, and says why it failed', async () => {
    // Prepare: 'a' is refused for good, 'b' is throttled on every call
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: Array<{ Detail?: string }> }) => ({
      FailedEntryCount: input.Entries.length,
      Entries: input.Entries.map((entry) =>
        (JSON.parse(entry.Detail ?? '{}') as ResultDetail).requestId === 'a'
          ? { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed' }
          : { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' },
      ),
    }));
    const sink = retryingSink();

    // Act
    const [a, b] = await Promise.all([outcomeOf(sink, 'a'), outcomeOf(sink, 'b')]);

    // Assess
    expect(a).toBe('Unable to publish the result to EventBridge: MalformedDetail: Detail is malformed');
    expect(b).toBe(
      'Unable to publish the result to EventBridge: ThrottlingException: Rate exceeded (after 4 attempts)',
    );
    const sent = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => (call.args[0].input.Entries ?? []).length);
    expect(sent).toEqual([2, 1, 1, 1]);
  });

  it('fails the results of a batch whose sending throws, instead of leaving them waiting', async () => {
    // Prepare: the first call reports a failed entry, and waiting before the retry throws
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
    });
    const sink = new EventBridgeResultSink({
      busName: 'bus',
      client: new EventBridgeClient({}),
      sleep: async () => {
        throw new Error('timer broke');
      },
    });

    // Act
    const outcome = await sink.publish(detail({ requestId: 'a' })).then(
      () => 'published',
      (error: Error) => error.message,
    );

    // Assess
    expect(outcome).toBe('Unable to publish the result to EventBridge: timer broke');
  });

  it('keeps a result an earlier call published when the retry for another one throws', async () => {
    // Prepare: 'b' is throttled on the first call, and the call resending it fails outright
    eventBridge
      .on(PutEventsCommand)
      .callsFakeOnce(throttleSecondEntry)
      .rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    const sink = retryingSink();

    // Act
    const [a, b] = await Promise.all([outcomeOf(sink, 'a'), outcomeOf(sink, 'b')]);

    // Assess: 'a' went out with the first call; failing it would have it redelivered and sent twice
    expect(a).toBe('published');
    expect(b).toBe(
      'Unable to publish the result to EventBridge: CallFailed: TimeoutError: socket hang up (after 2 attempts)',
    );
  });

  it('keeps a ready result for the results still held, then sends them together at once', async () => {
    // Prepare: three records of one batch finishing apart. The hold timer never fires here, so the call
    // can only go out because the last record released its hold.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
    const releases = [sink.hold(), sink.hold(), sink.hold()];
    const finish = (index: number) => {
      const published = sink.publish(detail({ requestId: `r-${index}` }));
      releases[index]?.();
      return published;
    };
    const turns = async (count: number) => {
      for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
    };

    try {
      // Act
      const first = finish(0);
      await turns(5);
      const callsWhileHeld = eventBridge.commandCalls(PutEventsCommand).length;
      const second = finish(1);
      await turns(5);
      const callsWhileOneHeld = eventBridge.commandCalls(PutEventsCommand).length;
      await Promise.all([first, second, finish(2)]);

      // Assess
      expect([callsWhileHeld, callsWhileOneHeld]).toEqual([0, 0]);
      const calls = eventBridge.commandCalls(PutEventsCommand);
      expect(calls.map((call) => call.args[0].input.Entries?.length)).toEqual([3]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends a held result after MAX_HOLD_MS when another record is still running', async () => {
    // Prepare: a record still running for longer than the test; only the hold timer can send
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
    const release = sink.hold();
    sink.hold();
    const turns = async (count: number) => {
      for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
    };

    try {
      // Act
      const published = sink.publish(detail({ requestId: 'fast' }));
      release();
      await turns(5);
      vi.advanceTimersByTime(MAX_HOLD_MS - 1);
      await turns(5);
      const callsJustBefore = eventBridge.commandCalls(PutEventsCommand).length;
      vi.advanceTimersByTime(1);
      await published;

      // Assess
      expect(callsJustBefore).toBe(0);
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never puts more than 10 entries in one call', async () => {
    // Prepare
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });

    // Act
    await Promise.all(Array.from({ length: 23 }, (_, i) => sink.publish(detail({ requestId: `r-${i}` }))));

    // Assess
    const sizes = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => call.args[0].input.Entries?.length);
    expect(sizes).toEqual([10, 10, 3]);
  });

  it.each([
    ['three results of 100 KB', [100_000, 100_000, 100_000], [2, 1]],
    ['two results of exactly 256 KiB together', [MAX_ENTRY_BYTES / 2, MAX_ENTRY_BYTES / 2], [2]],
    ['two results a byte over 256 KiB together', [MAX_ENTRY_BYTES / 2, MAX_ENTRY_BYTES / 2 + 1], [1, 1]],
  ])('keeps each PutEvents call within 256 KB in total: %s', async (_results, bytes, entriesPerCall) => {
    // Prepare
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
    const results = bytes.map((size, i) =>
      sized(size, entryBytes, (filler) => detail({ requestId: `r-${i}`, data: [filler] })),
    );

    // Act
    await Promise.all(results.map((result) => sink.publish(result)));

    // Assess
    const sizes = eventBridge
      .commandCalls(PutEventsCommand)
      .map((call) => call.args[0].input.Entries?.length);
    expect(sizes).toEqual(entriesPerCall);
  });

  it.each([
    ['the deadline they share', false],
    ["the throttled result's own deadline, the other's still running", true],
  ])(
    'stops retrying at %s: the accepted result is published, the throttled one fails',
    async (_deadline, ownDeadlines) => {
      // Prepare: the first call throttles 'b'; its time runs out during the backoff, which would outlast it
      const forB = new AbortController();
      const forA = ownDeadlines ? new AbortController() : forB;
      eventBridge.on(PutEventsCommand).callsFakeOnce((input: { Entries: unknown[] }) => {
        setTimeout(() => forB.abort(new Error('the invocation is about to end')), 10);
        return {
          FailedEntryCount: 1,
          Entries: input.Entries.map((_, index) =>
            index === 1
              ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }
              : { EventId: 'e' },
          ),
        };
      });
      const sink = new EventBridgeResultSink({
        busName: 'bus',
        client: new EventBridgeClient({}),
        sleep: () => new Promise((resolve) => setTimeout(resolve, 1000)),
      });
      const outcome = (requestId: string, signal: AbortSignal) =>
        sink.publish(detail({ requestId }), { signal }).then(
          () => 'published',
          (error: Error) => error.message,
        );

      // Act
      const [a, b] = await Promise.all([outcome('a', forA.signal), outcome('b', forB.signal)]);

      // Assess
      expect(a).toBe('published');
      expect(b).toBe('Unable to publish the result to EventBridge: Aborted: the invocation is about to end');
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    },
  );

  it('stops waiting for the vault to store an oversized result when its time is up', async () => {
    // Prepare: the vault never answers
    const { store, sink } = sinkWithStore(() => new Promise(() => undefined));

    // Act
    const publishing = sink.publish(detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }), {
      lastAttempt: true,
      signal: AbortSignal.timeout(20),
    });

    // Assess
    await expect(publishing).rejects.toMatchObject({ kind: 'transient', retryable: true });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
    // The write itself is told to stop, not only left behind.
    expect(store.signals[0]?.aborted).toBe(true);
  });

  it('turns a PutEvents call failure into a retryable error', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .rejects(Object.assign(new Error('Bus not found'), { name: 'ResourceNotFoundException' }));
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });

    // Act
    const publishing = sink.publish(detail());

    // Assess
    await expect(publishing).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
      message: 'Unable to publish the result to EventBridge: Bus not found',
    });
  });
});

describe('Result publishing: holds', () => {
  const turns = async (count: number) => {
    for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const calls = () => eventBridge.commandCalls(PutEventsCommand).length;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts a hold released twice once, so a result still held elsewhere keeps waiting', async () => {
    // Prepare: the family handler may release a record's hold on two paths
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
    const first = sink.hold();
    const second = sink.hold();

    // Act
    first();
    first();
    const published = sink.publish(detail());
    await turns(5);
    const callsWhileSecondHolds = calls();
    second();
    await published;

    // Assess
    expect(callsWhileSecondHolds).toBe(0);
    expect(calls()).toBe(1);
  });

  it('sends a waiting result as soon as the last hold is released, not at MAX_HOLD_MS', async () => {
    // Prepare: the result is queued while held (the hold timer never fires here)
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
    const release = sink.hold();
    const published = sink.publish(detail());
    await turns(5);
    const callsWhileHeld = calls();

    // Act
    release();
    await turns(5);

    // Assess
    expect(callsWhileHeld).toBe(0);
    expect(calls()).toBe(1);
    await published;
  });

  it('sends a held result MAX_HOLD_MS after it was queued, however many results follow it', async () => {
    // Prepare: a record that never finishes keeps its hold
    const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
    sink.hold();

    // Act: a second result queued just before the first one's time is up
    const first = sink.publish(detail({ requestId: 'a' }));
    await turns(5);
    vi.advanceTimersByTime(MAX_HOLD_MS - 10);
    const second = sink.publish(detail({ requestId: 'b' }));
    await turns(5);
    vi.advanceTimersByTime(10);
    await Promise.all([first, second]);

    // Assess: both in the one call the first result's timer made
    expect(
      eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.length),
    ).toEqual([2]);
  });

  it.each([
    [
      'results sent by their release',
      1,
      async (sink: EventBridgeResultSink) => {
        const release = sink.hold();
        const first = sink.publish(detail({ requestId: 'a' }));
        await turns(5);
        release();
        await first;
        sink.hold();
      },
    ],
    [
      'results sent as a full call of ten',
      1,
      async (sink: EventBridgeResultSink) => {
        sink.hold();
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => sink.publish(detail({ requestId: `a-${i}` }))),
        );
      },
    ],
    [
      'results sent as a full call of ten once their hold was released',
      1,
      async (sink: EventBridgeResultSink) => {
        const release = sink.hold();
        const first = Array.from({ length: 9 }, (_, i) => sink.publish(detail({ requestId: `a-${i}` })));
        await turns(5);
        // The release sets an immediate send; the tenth result sends the call before it comes
        release();
        first.push(sink.publish(detail({ requestId: 'a-9' })));
        sink.hold();
      },
    ],
    [
      'a record released with no result waiting',
      0,
      async (sink: EventBridgeResultSink) => {
        const release = sink.hold();
        sink.hold();
        release();
      },
    ],
  ])(
    'does not let an earlier timer, of %s, send a later held result early',
    async (_earlier, earlierCalls, prepare) => {
      // Prepare: a timer started (and cancelled, or never needed) before the held result is queued
      const sink = new EventBridgeResultSink({ busName: 'bus', client: new EventBridgeClient({}) });
      await prepare(sink);
      vi.advanceTimersByTime(MAX_HOLD_MS - 5);

      // Act: a held result queued just before the earlier timer's time
      const second = sink.publish(detail({ requestId: 'b' }));
      await turns(5);
      vi.advanceTimersByTime(10);
      await turns(5);
      const callsPastTheEarlierTimer = calls();
      vi.advanceTimersByTime(MAX_HOLD_MS);
      await second;

      // Assess
      expect(callsPastTheEarlierTimer).toBe(earlierCalls);
      expect(calls()).toBe(earlierCalls + 1);
    },
  );
});

describe('Result publishing: the client, aborts and stand-ins', () => {
  it('sends through the client it was given', async () => {
    // Prepare: a client of its own, not the mocked prototype
    const send = vi.fn(async (command: PutEventsCommand) => ({
      FailedEntryCount: 0,
      Entries: (command.input.Entries ?? []).map(() => ({ EventId: 'e' })),
    }));
    const sink = new EventBridgeResultSink({
      busName: 'bus',
      client: { send } as unknown as EventBridgeClient,
    });

    // Act
    await sink.publish(detail());

    // Assess
    expect(send).toHaveBeenCalledTimes(1);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it.each([
    ['an error', new Error('late')],
    ['a string', 'late'],
  ])(
    'sends nothing for a result whose publishing was stopped before it began, and says only why, the reason being %s',
    async (_reason, reason) => {
      // Prepare
      const sink = retryingSink();

      // Act
      const publishing = sink.publish(detail(), { signal: AbortSignal.abort(reason) });

      // Assess
      await expect(publishing).rejects.toThrow(/^Unable to publish the result to EventBridge: late$/);
      await new Promise((resolve) => setImmediate(resolve));
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
    },
  );

  it('says why publishing stopped when it stops while the vault is storing the result', async () => {
    // Prepare: a vault that never answers, and the invocation's deadline as the reason to stop
    const controller = new AbortController();
    const { sink } = sinkWithStore(() => new Promise(() => undefined));

    // Act
    const publishing = sink.publish(detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }), {
      signal: controller.signal,
    });
    controller.abort(new TaniumError('transient', 'about to time out', { retryable: true }));

    // Assess
    await expect(publishing).rejects.toThrow(
      /^Unable to publish the result to EventBridge: about to time out$/,
    );
  });

  it("keeps the request's parameter in the event of a result stored for its data alone", async () => {
    // Prepare
    const { sink } = storingSink();

    // Act
    await sink.publish(detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }));

    // Assess
    const published = publishedDetails(eventBridge)[0];
    expect(published).toMatchObject({ parameter: { connection_id: 'c' }, summary: { total_events: 1 } });
    expect(published?.dataRef).toBeDefined();
    expect(published?.data).toBeUndefined();
  });

  it('keeps what identifies the request when its summary and its context are both too big', async () => {
    // Prepare
    const { sink } = storingSink();

    // Act
    await sink.publish(
      detail({ summary: { s: 'y'.repeat(MAX_ENTRY_BYTES) }, context: { c: 'x'.repeat(MAX_ENTRY_BYTES) } }),
    );

    // Assess
    const published = publishedDetails(eventBridge)[0];
    expect(published).toMatchObject({
      requestId: 'req-1',
      action: 'get events',
      status: 'success',
      parameter: {},
      summary: {},
      context: {},
    });
    expect(published?.dataRef).toBeDefined();
  });

  it('gives a caller the result without its data, parameter kept, when the whole would exceed what Lambda returns', async () => {
    // Prepare: a parameter too big for an event, data past Lambda's 6 MB response
    const { sink } = storingSink();
    const parameter = { p: 'p'.repeat(MAX_ENTRY_BYTES) };

    // Act
    const returned = await sink.publish(detail({ parameter, data: ['z'.repeat(7 * 1024 * 1024)] }));

    // Assess
    expect(returned.data).toBeUndefined();
    expect(returned.dataRef).toBeDefined();
    expect(returned.parameter).toEqual(parameter);
  });

  it('says why a result could not be serialised in the failed result that stands in for it', async () => {
    // Prepare: data nested deeper than JSON.stringify's stack allows
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const sink = retryingSink();

    // Act
    const returned = await sink.publish(detail({ data: [deep] }));

    // Assess
    expect(returned.status).toBe('failed');
    expect(returned.message).toMatch(/Unable to serialise the result.*call stack/i);
  });

  it("ends a long failed result's message with the whole reason the vault did not store it", async () => {
    // Prepare
    const { sink } = sinkWithStore(async () => {
      throw new VaultError('Access Denied');
    });

    // Act
    const returned = await sink.publish(
      detail({
        status: 'failed',
        message: 'm'.repeat(3000),
        error: { kind: 'tanium', retryable: false },
        data: ['z'.repeat(MAX_ENTRY_BYTES)],
      }),
    );

    // Assess
    expect(returned.message).toMatch(/Access Denied$/);
    expect(returned.message.startsWith('mmm')).toBe(true);
  });

  it('answers a result too big for an event, with no vault given, as a function without VAULT_BUCKET does', async () => {
    // Prepare
    const sink = retryingSink();

    // Act
    const returned = await sink.publish(detail({ data: ['z'.repeat(MAX_ENTRY_BYTES)] }));

    // Assess: a failed result, published, saying what is missing
    expect(returned).toMatchObject({ status: 'failed', error: { kind: 'config', retryable: false } });
    expect(returned.message).toContain(
      'VAULT_BUCKET is not set: results too big for an EventBridge event are stored there',
    );
    expect(publishedDetails(eventBridge)[0]).toMatchObject({ status: 'failed', requestId: 'req-1' });
  });
});
