import { describe, expect, it } from 'vitest';
import {
  keyedBody,
  parseEventBridgeEvent,
  parseMessageBody,
  parseRequest,
} from '../../../shared/events/envelope.ts';
import { eventBridgeEvent, onFailureRecord } from '../../helpers/lambda.ts';

describe('Request envelope', () => {
  it('reads action, parameters, requestId and context', () => {
    // Act
    const parsed = parseRequest(
      {
        action: ' get process tree ',
        parameters: { connection_id: 'c' },
        requestId: 'r-1',
        context: [1, { a: 2 }],
      },
      'fallback',
    );

    // Assess
    expect(parsed).toEqual({
      ok: true,
      request: {
        action: 'get process tree',
        parameters: { connection_id: 'c' },
        requestId: 'r-1',
        context: [1, { a: 2 }],
      },
    });
  });

  it('uses the fallback id and empty parameters when they are absent', () => {
    // Act
    const parsed = parseRequest({ action: 'list connections', parameters: null, requestId: null }, 'msg-1');

    // Assess
    expect(parsed).toEqual({
      ok: true,
      request: { action: 'list connections', parameters: {}, requestId: 'msg-1' },
    });
  });

  it.each([
    ['empty', ''],
    ['blank', ' \t\n'],
  ])(
    'treats a requestId that is %s as none, so such requests are not all keyed on one id',
    (_, requestId) => {
      // Act
      const parsed = parseRequest({ action: 'close connection', parameters: {}, requestId }, 'msg-1');
      const bridged = parseMessageBody(
        JSON.stringify(eventBridgeEvent({ action: 'close connection', requestId }, { id: 'ev-1' })),
        'msg-2',
      );

      // Assess
      expect(parsed).toEqual({
        ok: true,
        request: { action: 'close connection', parameters: {}, requestId: 'msg-1' },
      });
      expect(bridged.ok && bridged.request.requestId).toBe('ev-1');
    },
  );

  it('keys a refused request with a blank requestId on the fallback id', () => {
    // Act
    const parsed = parseRequest({ action: 'close connection', parameters: [], requestId: '  ' }, 'msg-1');

    // Assess
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.rejected.requestId).toBe('msg-1');
  });

  it('unwraps an EventBridge event and keys it on the event id', () => {
    // Act
    const parsed = parseMessageBody(
      JSON.stringify(eventBridgeEvent({ action: 'list connections' }, { id: 'ev-1' })),
      'msg-1',
    );

    // Assess
    expect(parsed).toEqual({
      ok: true,
      request: { action: 'list connections', parameters: {}, requestId: 'ev-1' },
    });
  });

  it('unwraps the invocation record of a failed asynchronous invocation, keyed as that invocation was', () => {
    // Act
    const direct = parseMessageBody(
      JSON.stringify(onFailureRecord({ action: 'close connection' }, { requestId: 'lambda-req-1' })),
      'msg-1',
    );
    const fromRule = parseMessageBody(
      JSON.stringify(
        onFailureRecord(eventBridgeEvent({ action: 'list connections' }, { id: 'ev-2' }), {
          requestId: 'lambda-req-2',
        }),
      ),
      'msg-2',
    );

    // Assess
    expect(direct).toEqual({
      ok: true,
      request: { action: 'close connection', parameters: {}, requestId: 'lambda-req-1' },
    });
    expect(fromRule).toEqual({
      ok: true,
      request: { action: 'list connections', parameters: {}, requestId: 'ev-2' },
    });
  });

  it('unwraps the record of a redrive by invocation that failed again, keyed as the original was', () => {
    // Prepare: the DLQ body was invoked again asynchronously, failed again, and was recorded again
    const original = onFailureRecord({ action: 'close connection' }, { requestId: 'lambda-req-1' });
    const again = onFailureRecord(original, { requestId: 'lambda-req-2' });

    // Act
    const parsed = parseMessageBody(JSON.stringify(again), 'msg-1');

    // Assess
    expect(parsed).toEqual({
      ok: true,
      request: { action: 'close connection', parameters: {}, requestId: 'lambda-req-1' },
    });
  });

  it('rejects what is not a request object, keeping what it can for the failed result', () => {
    // Act
    const notJson = parseMessageBody('nope', 'msg-1');
    const array = parseRequest([1, 2], 'msg-2');
    const noAction = parseRequest({ parameters: { a: 1 }, requestId: 'r-3', context: 'c' }, 'msg-3');
    const badParameters = parseRequest({ action: 'get events', parameters: 'all' }, 'msg-4');

    // Assess
    expect(notJson).toEqual({
      ok: false,
      rejected: {
        action: '',
        parameters: {},
        requestId: 'msg-1',
        message: 'Invalid request: the message body is not valid JSON',
      },
    });
    expect(array).toMatchObject({
      ok: false,
      rejected: {
        message: "Invalid request: the request must be a JSON object with 'action' and 'parameters' fields",
      },
    });
    expect(noAction).toEqual({
      ok: false,
      rejected: {
        action: '',
        parameters: { a: 1 },
        requestId: 'r-3',
        context: 'c',
        message: "Invalid request: field 'action' is required",
      },
    });
    expect(badParameters).toMatchObject({
      ok: false,
      rejected: {
        action: 'get events',
        requestId: 'msg-4',
        message: "Invalid request: field 'parameters' must be an object",
      },
    });
  });

  it.each([
    ['empty', '', "Invalid request: field 'action' is empty"],
    ['blank', ' \t ', "Invalid request: field 'action' is blank"],
  ])('rejects an action that is %s as such, not as an unknown one', (_case, action, message) => {
    // Act
    const parsed = parseRequest({ action, parameters: {}, requestId: 'r-1', context: 'c' }, 'msg-1');

    // Assess
    expect(parsed).toEqual({
      ok: false,
      rejected: { action: '', parameters: {}, requestId: 'r-1', context: 'c', message },
    });
  });

  it('cuts an unknown field name it echoes, and lists at most ten of them', () => {
    // Prepare: a 200,000-character field name; then 25 unknown fields
    const long = 'k'.repeat(200_000);
    const many = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`extra${i}`, i]));

    // Act
    const oneLong = parseRequest({ action: 'list connections', [long]: 1 }, 'msg-1');
    const manyShort = parseRequest({ action: 'list connections', ...many }, 'msg-2');

    // Assess
    expect(oneLong).toMatchObject({
      ok: false,
      rejected: { message: `Invalid request: unknown field '${'k'.repeat(64)}…'` },
    });
    expect(manyShort).toMatchObject({
      ok: false,
      rejected: {
        message: `Invalid request: unknown fields ${Array.from({ length: 10 }, (_, i) => `'extra${i}'`).join(', ')} and 15 more`,
      },
    });
  });

  it('refuses a request id longer than 256 characters', () => {
    // Act
    const parsed = parseRequest({ action: 'list connections', requestId: 'x'.repeat(257) }, 'msg-1');

    // Assess
    expect(parsed).toMatchObject({
      ok: false,
      rejected: {
        requestId: 'msg-1',
        message: "Invalid request: field 'requestId' must be at most 256 characters long",
      },
    });
  });

  it.each([
    ['context', (deep: string) => `{"action":"close connection","requestId":"req-deep","context":${deep}}`],
    [
      'parameters',
      (deep: string) => `{"action":"close connection","requestId":"req-deep","parameters":{"x":${deep}}}`,
    ],
  ])(
    'refuses %s nested thousands deep and echoes none of it, since the result could not be serialised',
    (_field, body) => {
      // Prepare: a few KB of body
      const deep = `${'['.repeat(5_000)}1${']'.repeat(5_000)}`;

      // Act
      const parsed = parseMessageBody(body(deep), 'msg-1');

      // Assess
      expect(parsed).toEqual({
        ok: false,
        rejected: {
          action: 'close connection',
          parameters: {},
          requestId: 'req-deep',
          message: 'Invalid request: it nests objects or lists more than 100 levels deep',
        },
      });
      expect(() => JSON.stringify(parsed)).not.toThrow();
    },
  );

  it.each([
    ['parameters', 'context'],
    ['context', 'parameters'],
  ])(
    'refuses %s nested too deep but echoes the %s, which a playbook matches its result by',
    (deepField, kept) => {
      // Prepare: one field a level past the limit (the request itself is the first level), the other
      // exactly at it
      const nest = (levels: number) => {
        let value: unknown = 'leaf';
        for (let level = 0; level < levels; level++) value = { x: value };
        return value as Record<string, unknown>;
      };
      const request = {
        action: 'close connection',
        requestId: 'req-deep',
        [deepField]: nest(100),
        [kept]: nest(99),
      };

      // Act
      const parsed = parseRequest(request, 'msg-1');

      // Assess
      expect(parsed).toEqual({
        ok: false,
        rejected: {
          action: 'close connection',
          parameters: kept === 'parameters' ? nest(99) : {},
          ...(kept === 'context' ? { context: nest(99) } : {}),
          requestId: 'req-deep',
          message: 'Invalid request: it nests objects or lists more than 100 levels deep',
        },
      });
      expect(() => JSON.stringify(parsed)).not.toThrow();
    },
  );

  it('unwraps no more than an invocation record and an EventBridge event, however deep the wrappers nest', () => {
    // Prepare: 240 KB of event-shaped wrappers; unwrapping each in turn overflowed the call stack
    let body = '{"action":"list connections"}';
    for (let depth = 0; depth < 6_000; depth++) body = `{"detail-type":"","source":"","detail":${body}}`;

    // Act
    const parsed = parseMessageBody(body, 'msg-1');

    // Assess
    expect(parsed).toMatchObject({
      ok: false,
      rejected: {
        requestId: 'msg-1',
        message: 'Invalid request: it nests objects or lists more than 100 levels deep',
      },
    });
  });

  it('refuses a request id with a lone surrogate, and keys the request on an id it can use instead', () => {
    // Act: such a string has no UTF-8 form, so no S3 key or stored result could carry it
    const own = parseRequest({ action: 'list connections', requestId: '\ud800' }, 'msg-1');
    const fromEvent = parseRequest(
      eventBridgeEvent({ action: 'list connections' }, { id: '\udc00' }),
      'msg-2',
    );

    // Assess
    expect(own).toMatchObject({
      ok: false,
      rejected: {
        requestId: 'msg-1',
        message: "Invalid request: field 'requestId': must be well-formed text (no lone surrogate)",
      },
    });
    expect(fromEvent).toMatchObject({ ok: true, request: { requestId: 'msg-2' } });
  });

  it('accepts a context nested as deep as the limit allows', () => {
    // Prepare: the request is level 0, its context level 1
    let context: unknown = 'leaf';
    for (let depth = 1; depth < 100; depth++) context = { next: context };

    // Act
    const parsed = parseRequest({ action: 'list connections', context }, 'msg-1');

    // Assess
    expect(parsed.ok).toBe(true);
  });
});

describe('Request envelope: what the stack published, and what only looks like it', () => {
  const request = { action: 'list connections', parameters: {}, requestId: 'r-1' };

  it('recognises an event the stack published by its source and detail type, naming the type', () => {
    // Act
    const parsed = parseRequest(
      eventBridgeEvent(request, { detailType: 'Alert', source: 'tanium.threat-response' }),
      'msg-1',
    );

    // Assess
    expect(parsed).toMatchObject({
      ok: false,
      rejected: {
        ownEvent: 'Alert',
        message: "Invalid request: an 'Alert' event the stack published is not a request",
      },
    });
  });

  it("runs an 'Action Result' or 'Alert' sent under another source: only the stack's own are dropped", () => {
    // Act
    const result = parseRequest(
      eventBridgeEvent(request, { detailType: 'Action Result', source: 'soar.pipeline' }),
      'msg-1',
    );
    const alert = parseRequest(
      eventBridgeEvent(request, { detailType: 'Alert', source: 'soar.pipeline' }),
      'msg-2',
    );

    // Assess
    expect(result).toMatchObject({ ok: true, request: { requestId: 'r-1' } });
    expect(alert).toMatchObject({ ok: true, request: { requestId: 'r-1' } });
  });

  it.each([
    [
      'with parameters (a request, however malformed)',
      { ...request, status: 'success', startedAt: 't', durationMs: 1 },
    ],
    ['without a status', { action: 'close connection', startedAt: 't', durationMs: 1 }],
    [
      'with a status that is not text',
      { action: 'close connection', status: 1, startedAt: 't', durationMs: 1 },
    ],
    ['without startedAt', { action: 'close connection', status: 'success', durationMs: 1 }],
    ['without durationMs', { action: 'close connection', status: 'success', startedAt: 't' }],
  ])('answers a body shaped like a bare result but %s, instead of dropping it', (_case, body) => {
    // Act
    const parsed = parseRequest(body, 'msg-1');

    // Assess: refused for its unknown fields, with a failed result, not taken for the stack's own result
    expect(parsed).toMatchObject({
      ok: false,
      rejected: { message: expect.stringContaining('unknown field') },
    });
    expect(parsed.ok ? 'ran' : parsed.rejected.ownEvent).toBeUndefined();
  });

  it("takes a bare result detail (status, startedAt, durationMs, no parameters) for the stack's own", () => {
    // Act
    const parsed = parseRequest(
      { action: 'close connection', status: 'success', startedAt: 't', durationMs: 1 },
      'msg-1',
    );

    // Assess
    expect(parsed).toMatchObject({ ok: false, rejected: { ownEvent: 'Action Result' } });
  });
});

describe('Request envelope: wrappers', () => {
  const request = { action: 'list connections', parameters: {} };

  it.each([
    ['a whole EventBridge event', eventBridgeEvent(request, { id: 'inner-1' })],
    ['an invocation record', onFailureRecord(request, { requestId: 'lambda-1' })],
    [
      'what looks like a result',
      { action: 'list connections', status: 'success', startedAt: 't', durationMs: 1 },
    ],
  ])('reads an event delivered to the function whose detail is %s as its queue would', (_case, detail) => {
    // Prepare: the same event, targeted at the function and carried in a queue message
    const event = eventBridgeEvent(detail, { id: 'outer-1' });

    // Act
    const direct = parseEventBridgeEvent(event, 'fallback');
    const queued = parseMessageBody(JSON.stringify(event), 'msg-1');

    // Assess: one wrapper taken off either way, the detail refused as a request, keyed on the event
    expect(direct).toEqual(queued);
    expect(direct).toMatchObject({ ok: false, rejected: { requestId: 'outer-1' } });
  });

  it.each([
    ['without a detail type', { source: 'soar.pipeline', detail: request }],
    ['without a source', { 'detail-type': 'Action Request', detail: request }],
  ])('does not unwrap an event %s, which is no EventBridge event', (_case, body) => {
    // Act
    const parsed = parseRequest(body, 'msg-1');

    // Assess
    expect(parsed.ok).toBe(false);
  });

  it('does not unwrap an invocation record without its version or its function ARN', () => {
    // Prepare
    const record = onFailureRecord(request, { requestId: 'lambda-1' });
    const { version: _version, ...withoutVersion } = record;
    const withoutArn = { ...record, requestContext: { requestId: 'lambda-1' } };

    // Act
    const parsed = [parseRequest(withoutVersion, 'msg-1'), parseRequest(withoutArn, 'msg-2')];

    // Assess
    expect(parsed.map((one) => one.ok)).toEqual([false, false]);
  });

  it('unwraps two invocation records, keyed on the inner one, and refuses a third', () => {
    // Prepare: a redrive by invocation that failed again, and one more wrapping
    const two = onFailureRecord(onFailureRecord(request, { requestId: 'lambda-inner' }), {
      requestId: 'lambda-outer',
    });
    const three = onFailureRecord(two, { requestId: 'lambda-third' });

    // Act
    const parsedTwo = parseRequest(two, 'msg-1');
    const parsedThree = parseRequest(three, 'msg-2');

    // Assess
    expect(parsedTwo).toMatchObject({ ok: true, request: { requestId: 'lambda-inner' } });
    expect(parsedThree.ok).toBe(false);
  });

  it('keys a request on an event id of exactly 256 characters', () => {
    // Act
    const id = 'e'.repeat(256);
    const parsed = parseRequest(eventBridgeEvent(request, { id }), 'msg-1');

    // Assess
    expect(parsed).toMatchObject({ ok: true, request: { requestId: id } });
  });
});

describe('Request envelope: request ids and messages', () => {
  it('takes a requestId holding a surrogate pair, and refuses one with a lone surrogate inside', () => {
    // Act
    const paired = parseRequest({ action: 'list connections', requestId: 'r-\u{1F600}-1' }, 'msg-1');
    const loneHigh = parseRequest({ action: 'list connections', requestId: 'a\uD800b' }, 'msg-2');
    const loneLow = parseRequest({ action: 'list connections', requestId: 'a\uDC00' }, 'msg-3');

    // Assess
    expect(paired).toMatchObject({ ok: true, request: { requestId: 'r-\u{1F600}-1' } });
    expect(loneHigh).toMatchObject({ ok: false, rejected: { requestId: 'msg-2' } });
    expect(loneLow).toMatchObject({ ok: false, rejected: { requestId: 'msg-3' } });
  });

  it('names each problem of a request once, joined', () => {
    // Act
    const parsed = parseRequest({ parameters: 5 }, 'msg-1');

    // Assess
    expect(parsed).toMatchObject({
      ok: false,
      rejected: {
        message: "Invalid request: field 'action' is required; field 'parameters' must be an object",
      },
    });
  });
});

describe('Request envelope: the key a moved message keeps (keyedBody)', () => {
  /** The key the family handler gives `body` arriving under `messageId`. */
  const keyOf = (body: string, messageId: string) => {
    const parsed = parseMessageBody(body, messageId);
    return parsed.ok ? parsed.request.requestId : parsed.rejected.requestId;
  };
  const request = { action: 'close connection', parameters: { connection_id: 'remote:web-02:1:1' } };

  it.each([
    ['a request without requestId', request],
    ['a request whose requestId is null', { ...request, requestId: null }],
    ['a request whose requestId is blank', { ...request, requestId: ' ' }],
    ['a bus event whose id cannot be a key', eventBridgeEvent(request, { id: '' })],
  ])('gives %s the message id it ran under, so a new message id does not change its key', (_, body) => {
    const moved = keyedBody(JSON.stringify(body), 'dlq-message-1');
    expect(keyOf(JSON.stringify(body), 'dlq-message-1')).toBe('dlq-message-1');
    expect(keyOf(moved ?? '', 'new-message-2')).toBe('dlq-message-1');
  });

  it.each([
    ['a request with its own requestId', { ...request, requestId: 'soar-1' }],
    ['a bus event, keyed on its event id', eventBridgeEvent(request, { id: 'event-1' })],
    ['a failed asynchronous invocation, keyed on its Lambda request id', onFailureRecord(request)],
  ])('leaves %s as it is', (_, body) => {
    const text = JSON.stringify(body);
    expect(keyedBody(text, 'dlq-message-1')).toBe(text);
  });

  it('leaves a request nested too deep to run (or to serialise again) as it is', () => {
    const deep = `{"action":"list connections","parameters":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    expect(keyedBody(deep, 'm')).toBe(deep);
  });

  it('refuses to key a request whose body cannot be written again (beside it, something nests too deep)', () => {
    const deep = `{"version":"0","id":"","detail-type":"Action Request","source":"s","detail":{"action":"list connections"},"extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    expect(keyedBody(deep, 'm')).toBeUndefined();
  });

  it('keeps U+FFFE and U+FFFF escaped when it writes a body again: SQS refuses them raw', () => {
    const body = '{"action":"list connections","parameters":{"note":"a\\uffffb\\ufffe"}}';
    const moved = keyedBody(body, 'm') ?? '';
    expect(moved).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(JSON.parse(moved)).toEqual({ ...JSON.parse(body), requestId: 'm' });
  });

  it('leaves a body that is not JSON, or holds no request object, as it is', () => {
    expect(keyedBody('not json', 'm')).toBe('not json');
    expect(keyedBody('[1,2]', 'm')).toBe('[1,2]');
    expect(keyedBody('"text"', 'm')).toBe('"text"');
  });
});

describe('Request envelope: malformed fields answered, not thrown on', () => {
  it.each([
    ['a number', 5],
    ['a boolean', true],
    ['an object', { id: 'r-1' }],
  ])('refuses a requestId that is %s with a failed result keyed on the fallback id', (_case, requestId) => {
    // Act: reading the id as text would throw, and the record would be retried instead of answered
    const parsed = parseRequest({ action: 'close connection', parameters: {}, requestId }, 'msg-1');
    const moved = keyedBody(JSON.stringify({ action: 'close connection', requestId }), 'msg-2');

    // Assess
    expect(parsed).toMatchObject({
      ok: false,
      rejected: {
        action: 'close connection',
        requestId: 'msg-1',
        message: expect.stringContaining('requestId'),
      },
    });
    expect(moved).toBe(JSON.stringify({ action: 'close connection', requestId }));
  });

  it.each([
    ['text, with an unknown field', { action: 'close connection', requestId: 'r-1', extra: 1 }],
    ['a number', { action: 42, requestId: 'r-1' }],
  ])(
    'names no answering family for a malformed Action Request event whose action is %s: the family that got it answers',
    (_case, detail) => {
      // Act
      const parsed = parseMessageBody(JSON.stringify(eventBridgeEvent(detail, { id: 'ev-1' })), 'msg-1');

      // Assess
      expect(parsed).toMatchObject({ ok: false, rejected: { requestId: 'r-1' } });
      expect(parsed.ok ? 'ran' : parsed.rejected.answeredBy).toBeUndefined();
    },
  );
});
