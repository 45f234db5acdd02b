import { inspect } from 'node:util';
import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { DeadlineError } from '../../../shared/tanium/errors.ts';
import {
  classifyTransportError,
  neverSent,
  type TransportFailure,
  transientFailure,
  transportError,
  UNKNOWN_OUTCOME_SUFFIX,
} from '../../../shared/tanium/transport-errors.ts';

const POST = {
  method: 'POST',
  path: '/plugin/products/threat-response/api/v1/intels',
  host: 'tanium.example.com',
  port: '443',
  timeoutSeconds: 60,
};

/** A connect() failure as undici reports it: the system error is the cause of a TypeError. */
function connectFailure(code: string): Error {
  const cause = Object.assign(new Error(`connect ${code} 192.0.2.1:443`), { code, syscall: 'connect' });
  return new TypeError('fetch failed', { cause });
}

/**
 * Node's happy-eyeballs connect to a host with several addresses: an AggregateError with the first
 * address's code and no syscall; each address's own error is in `errors`.
 */
function multiAddressConnectFailure(...codes: string[]): AggregateError {
  const errors = codes.map((code, i) =>
    Object.assign(new Error(`connect ${code} 192.0.2.${i + 1}:443`), { code, syscall: 'connect' }),
  );
  return Object.assign(new AggregateError(errors), { code: codes[0] });
}

/** Node's error for a server that closed the connection before the TLS handshake completed. */
function handshakeClosed(): Error {
  return Object.assign(
    new Error('Client network socket disconnected before secure TLS connection was established'),
    { code: 'ECONNRESET', host: 'tanium.example.com', port: 443 },
  );
}

describe('Transport errors', () => {
  it.each([
    ...[
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'CERT_HAS_EXPIRED',
      'CERT_NOT_YET_VALID',
      'CERT_UNTRUSTED',
      'CERT_REJECTED',
      'CERT_SIGNATURE_FAILURE',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'HOSTNAME_MISMATCH',
      // Codes OpenSSL and Node may add later, by their prefix
      'ERR_TLS_INVALID_STATE',
      'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
    ].map((code) => [code, 'tls'] as const),
    ...[
      'ERR_SSL_WRONG_VERSION_NUMBER',
      'ERR_SSL_PACKET_LENGTH_TOO_LONG',
      'ERR_SSL_HTTP_REQUEST',
      'ERR_SSL_UNKNOWN_PROTOCOL',
    ].map((code) => [code, 'not_tls'] as const),
    ['ECONNREFUSED', 'refused'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect_timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'response_timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'body_stalled'],
    ...[
      'ECONNRESET',
      'EPIPE',
      'UND_ERR_SOCKET',
      'UND_ERR_CLOSED',
      'ECONNABORTED',
      'ERR_STREAM_PREMATURE_CLOSE',
    ].map((code) => [code, 'reset'] as const),
    ['EPROTO', 'other'],
  ] as const)('classifies a failure with code %s as %s', (code, failure) => {
    // Act
    const classified = classifyTransportError(Object.assign(new Error(`${code} happened`), { code }), false);

    // Assess
    expect(classified).toEqual({ failure, code });
  });

  it('classifies a failure whose causes loop or end in null, looking no further than five down', () => {
    // Prepare: no code anywhere in a loop; a null cause; a code six levels down
    const looping: Error = new Error('looping');
    looping.cause = looping;
    const nullCause = Object.assign(new Error('closed', { cause: null }), { code: 'ECONNRESET' });
    const deep = Array.from({ length: 5 }).reduce<Error>(
      (cause) => new Error('wrapped', { cause }),
      Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    );

    // Act
    const classified = [looping, nullCause, deep].map((error) => classifyTransportError(error, false));

    // Assess
    expect(classified).toEqual([
      { failure: 'other', code: '' },
      { failure: 'reset', code: 'ECONNRESET' },
      { failure: 'other', code: '' },
    ]);
  });

  it('classifies any failure once the deadline passed as the deadline, keeping its code', () => {
    // Act
    const classified = classifyTransportError(connectFailure('ECONNREFUSED'), true);

    // Assess
    expect(classified).toEqual({ failure: 'deadline', code: 'ECONNREFUSED' });
  });

  it.each([
    // Only a failure before any byte left may be retried for a POST
    ['tls', false, false],
    ['not_tls', false, false],
    ['dns', true, false],
    ['refused', true, false],
    ['unreachable', true, false],
    ['connect_timeout', true, true],
    ['handshake_closed', true, true],
    ['response_timeout', false, true],
    ['body_stalled', false, true],
    ['reset', false, true],
    ['deadline', false, false],
    ['no_time', true, false],
    ['other', false, false],
  ] as const)(
    'takes %s as never sent: %s, and as transient: %s',
    (failure: TransportFailure, sent, transient) => {
      // Assess
      expect(neverSent(failure)).toBe(sent);
      expect(transientFailure(failure)).toBe(transient);
    },
  );

  it.each([
    [
      'tls',
      'POST',
      'CERT_HAS_EXPIRED',
      'transport',
      false,
      'TLS certificate verification failed (CERT_HAS_EXPIRED). Check ca_bundle or the server certificate.',
    ],
    [
      'not_tls',
      'GET',
      'ERR_SSL_WRONG_VERSION_NUMBER',
      'transport',
      false,
      "tanium.example.com:443 did not answer with TLS (ERR_SSL_WRONG_VERSION_NUMBER). Check that base_url names Tanium's HTTPS address and port.",
    ],
    ['dns', 'GET', 'ENOTFOUND', 'transport', true, 'DNS lookup failed for tanium.example.com (ENOTFOUND)'],
    ['refused', 'POST', 'ECONNREFUSED', 'transport', true, 'connection refused by tanium.example.com:443'],
    [
      'handshake_closed',
      'GET',
      'ECONNRESET',
      'transient',
      true,
      'tanium.example.com:443 closed the connection during the TLS handshake',
    ],
    [
      'response_timeout',
      'POST',
      'UND_ERR_HEADERS_TIMEOUT',
      'unknown_outcome',
      false,
      `no response from tanium.example.com within 60 s (POST ${POST.path})${UNKNOWN_OUTCOME_SUFFIX}`,
    ],
    [
      'response_timeout',
      'GET',
      'UND_ERR_HEADERS_TIMEOUT',
      'transient',
      true,
      `no response from tanium.example.com within 60 s (GET ${POST.path})`,
    ],
    [
      'body_stalled',
      'POST',
      'UND_ERR_BODY_TIMEOUT',
      'unknown_outcome',
      false,
      `tanium.example.com stopped sending the answer: nothing for 60 s (POST ${POST.path})${UNKNOWN_OUTCOME_SUFFIX}`,
    ],
    [
      'reset',
      'POST',
      'ECONNRESET',
      'unknown_outcome',
      false,
      `connection reset by tanium.example.com (POST ${POST.path})${UNKNOWN_OUTCOME_SUFFIX}`,
    ],
    [
      'reset',
      'GET',
      'ECONNRESET',
      'transient',
      true,
      `connection reset by tanium.example.com (GET ${POST.path})`,
    ],
    // A failure without a code names none
    ['other', 'POST', '', 'unknown_outcome', false, ` happened (POST ${POST.path})${UNKNOWN_OUTCOME_SUFFIX}`],
    ['other', 'GET', '', 'transport', false, ' happened'],
    [
      'deadline',
      'PUT',
      'ECONNRESET',
      'unknown_outcome',
      false,
      `the invocation ran out of time during PUT ${POST.path}${UNKNOWN_OUTCOME_SUFFIX}`,
    ],
    [
      'deadline',
      'GET',
      'ECONNRESET',
      'transient',
      true,
      `the invocation ran out of time during GET ${POST.path}`,
    ],
    [
      'no_time',
      'POST',
      '',
      'transient',
      true,
      `the invocation ran out of time during POST ${POST.path} (nothing was sent)`,
    ],
  ] as const)(
    'reports %s for a %s (%s) as %s, retryable: %s',
    (failure: TransportFailure, method, code, kind, retryable, message) => {
      // Prepare
      const cause = Object.assign(new Error(`${code} happened`), { code });

      // Act
      const error = transportError(failure, code, { ...POST, method }, cause);

      // Assess: the time limits' failures are DeadlineErrors, which the handler tells from the rest
      expect(error).toMatchObject({ kind, retryable, message: `Error connecting to server: ${message}` });
      expect(error instanceof DeadlineError).toBe(failure === 'deadline' || failure === 'no_time');
      expect(error.cause).toMatchObject({ message: cause.message, code });
    },
  );

  it.each(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])(
    'treats %s as a connection never made: a POST may run again',
    (code) => {
      // Act
      const { failure } = classifyTransportError(connectFailure(code), false);
      const error = transportError(failure, code, POST, undefined);

      // Assess
      expect(failure).toBe('unreachable');
      expect(neverSent(failure)).toBe(true);
      expect(error).toMatchObject({ kind: 'transport', retryable: true });
      expect(error.message).toBe(
        `Error connecting to server: tanium.example.com:443 is unreachable (${code})`,
      );
    },
  );

  it('treats EHOSTUNREACH on a socket already open as a reset: the POST may have reached Tanium', () => {
    // Prepare: the route to Tanium died while the request was being read
    const cause = Object.assign(new Error('read EHOSTUNREACH'), { code: 'EHOSTUNREACH', syscall: 'read' });

    // Act
    const { failure } = classifyTransportError(new TypeError('fetch failed', { cause }), false);

    // Assess
    expect(failure).toBe('reset');
    expect(neverSent(failure)).toBe(false);
  });

  it('tells a connection closed during the TLS handshake from a reset mid-request', () => {
    // Prepare: Node's two ECONNRESETs, told apart only by the message
    const duringHandshake = handshakeClosed();
    const midRequest = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });

    // Act
    const [handshake, reset] = [duringHandshake, midRequest].map(
      (cause) => classifyTransportError(new TypeError('fetch failed', { cause }), false).failure,
    );

    // Assess: only the first proves the POST never left
    expect(handshake).toBe('handshake_closed');
    expect(neverSent(handshake!)).toBe(true);
    expect(transportError(handshake!, 'ECONNRESET', POST, duringHandshake)).toMatchObject({
      kind: 'transport',
      retryable: true,
    });
    expect(reset).toBe('reset');
    expect(neverSent(reset!)).toBe(false);
  });

  it('treats ETIMEDOUT as a connect timeout only when the connect timed out', () => {
    // Prepare: TCP keep-alive giving up on a socket that already carried the request
    const cause = Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', syscall: 'read' });

    // Act
    const onOpenSocket = classifyTransportError(new TypeError('fetch failed', { cause }), false);
    const onConnect = classifyTransportError(connectFailure('ETIMEDOUT'), false);

    // Assess: the POST is not sent again, and says its outcome is unknown
    expect(onOpenSocket.failure).toBe('reset');
    expect(neverSent(onOpenSocket.failure)).toBe(false);
    expect(transportError(onOpenSocket.failure, 'ETIMEDOUT', POST, cause)).toMatchObject({
      kind: 'unknown_outcome',
      retryable: false,
      message: `Error connecting to server: connection reset by tanium.example.com (POST ${POST.path}) The request may have been processed by Tanium; check before running it again.`,
    });
    expect(onConnect.failure).toBe('connect_timeout');
    expect(neverSent(onConnect.failure)).toBe(true);
  });

  it('reports a connect timeout as transient for a GET and as a connection failure for a POST', () => {
    // Act
    const get = transportError('connect_timeout', 'ETIMEDOUT', { ...POST, method: 'GET' }, undefined);
    const post = transportError('connect_timeout', 'ETIMEDOUT', POST, undefined);

    // Assess: both may run again; the message is the contract's
    const message = 'Error connecting to server: connection to tanium.example.com:443 timed out after 10 s';
    expect(get).toMatchObject({ kind: 'transient', retryable: true, message });
    expect(post).toMatchObject({ kind: 'transport', retryable: true, message });
  });

  it.each([
    // A refusal anywhere is reported, else the last address's outcome: the aggregate's own code is the
    // first address's, often a 250 ms attempt timing out, which the 10 s timeout message would misname.
    { codes: ['ETIMEDOUT', 'ECONNREFUSED'], failure: 'refused', code: 'ECONNREFUSED' },
    { codes: ['ENETUNREACH', 'ETIMEDOUT'], failure: 'connect_timeout', code: 'ETIMEDOUT' },
    { codes: ['ECONNREFUSED', 'EHOSTUNREACH'], failure: 'refused', code: 'ECONNREFUSED' },
    { codes: ['ETIMEDOUT', 'EHOSTUNREACH'], failure: 'unreachable', code: 'EHOSTUNREACH' },
    { codes: ['ETIMEDOUT', 'ETIMEDOUT', 'EHOSTUNREACH'], failure: 'unreachable', code: 'EHOSTUNREACH' },
  ])(
    'treats a connect to several addresses that all failed ($codes) as never sent',
    ({ codes, failure: expected, code: expectedCode }) => {
      // Prepare: as the request API rejects, and as fetch wraps it
      const bare = multiAddressConnectFailure(...codes);
      const wrapped = new TypeError('fetch failed', { cause: bare });

      // Act
      const results = [bare, wrapped].map((error) => classifyTransportError(error, false));

      // Assess: a POST may run again
      for (const { failure, code } of results) {
        expect(failure).toBe(expected);
        expect(code).toBe(expectedCode);
        expect(neverSent(failure)).toBe(true);
        expect(transportError(failure, code, POST, undefined)).toMatchObject({
          kind: 'transport',
          retryable: true,
        });
      }
    },
  );

  it.each([
    {
      case: 'an address failed after connecting',
      errors: [
        connectFailure('ETIMEDOUT').cause,
        Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' }),
      ],
    },
    // Nothing shows that every address failed in connect: a POST may have left
    { case: 'it names no address', errors: [] },
    { case: 'an entry is not an error', errors: [null, connectFailure('ETIMEDOUT').cause] },
  ])('keeps a timeout of a several-address failure a reset when $case', ({ errors }) => {
    // Prepare
    const error = Object.assign(new AggregateError(errors), { code: 'ETIMEDOUT' });

    // Act
    const classified = classifyTransportError(error, false);

    // Assess
    expect(classified).toEqual({ failure: 'reset', code: 'ETIMEDOUT' });
  });

  it.each([
    // A throw without an error still gets the contract's message, not a TypeError of its own
    { case: 'nothing', thrown: undefined, failure: 'other', code: '' },
    { case: 'null', thrown: null, failure: 'other', code: '' },
    {
      case: 'several addresses naming no code',
      thrown: Object.assign(new AggregateError([{ syscall: 'connect' }, { syscall: 'connect' }]), {
        code: 'ETIMEDOUT',
      }),
      failure: 'connect_timeout',
      code: 'ETIMEDOUT',
    },
    // undici's socket error says less than the system error under it
    {
      case: "undici's socket error over a close during the TLS handshake",
      thrown: Object.assign(new Error('other side closed', { cause: handshakeClosed() }), {
        code: 'UND_ERR_SOCKET',
      }),
      failure: 'handshake_closed',
      code: 'ECONNRESET',
    },
    // A handshake close makes even a POST run again: only Node's own error, its code and its message
    // together, proves that no byte left
    {
      case: 'a reset under a wrapper quoting the handshake text',
      thrown: new Error(`request failed: ${handshakeClosed().message}`, {
        cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' }),
      }),
      failure: 'reset',
      code: 'ECONNRESET',
    },
    {
      case: 'a handshake close under an error naming its own code',
      thrown: Object.assign(new Error('write EPIPE', { cause: handshakeClosed() }), { code: 'EPIPE' }),
      failure: 'reset',
      code: 'EPIPE',
    },
    {
      case: 'a reset without a message',
      thrown: new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }),
      failure: 'reset',
      code: 'ECONNRESET',
    },
    // A Connection: close answer cut short: undici reports the connection's end as the answer's end
    {
      case: "undici's length mismatch on a body cut short",
      thrown: new errors.ResponseContentLengthMismatchError(),
      failure: 'reset',
      code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
    },
    {
      case: "undici's parser error at the end of a chunked body cut short",
      thrown: new errors.HTTPParserError('Response does not match the HTTP/1.1 protocol (Invalid EOF state)'),
      failure: 'reset',
      code: '',
    },
    {
      case: 'a parser error at the end of the answer naming its code',
      thrown: new TypeError('fetch failed', {
        cause: Object.assign(new errors.HTTPParserError('Response does not match the HTTP/1.1 protocol'), {
          code: 'HPE_INVALID_EOF_STATE',
        }),
      }),
      failure: 'reset',
      code: 'HPE_INVALID_EOF_STATE',
    },
    {
      case: 'any other parser error',
      thrown: new errors.HTTPParserError(
        'Response does not match the HTTP/1.1 protocol (Invalid header value char)',
      ),
      failure: 'other',
      code: '',
    },
  ])('classifies a throw of $case as $failure', ({ thrown, failure, code }) => {
    // Act
    const classified = classifyTransportError(thrown, false);

    // Assess
    expect(classified).toEqual({ failure, code });
  });

  it('reports a GET whose connect to several addresses timed out with the connect-timeout text', () => {
    // Act
    const { failure, code } = classifyTransportError(
      multiAddressConnectFailure('ETIMEDOUT', 'ETIMEDOUT'),
      false,
    );

    // Assess
    expect(transportError(failure, code, { ...POST, method: 'GET' }, undefined)).toMatchObject({
      kind: 'transient',
      retryable: true,
      message: 'Error connecting to server: connection to tanium.example.com:443 timed out after 10 s',
    });
  });

  it.each(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL'])(
    'treats %s as a failed DNS lookup',
    (code) => {
      // Act
      const { failure } = classifyTransportError(connectFailure(code), false);

      // Assess
      expect(failure).toBe('dns');
      expect(neverSent(failure)).toBe(true);
      expect(transportError(failure, code, POST, undefined)).toMatchObject({
        kind: 'transport',
        retryable: true,
      });
    },
  );

  it('reports a malformed answer to a POST as an uncertain outcome, and to a GET as a connection error', () => {
    // Arrange: undici's parser failing on the response, after the request was written
    const parserError = Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), {
      code: 'HPE_INVALID_CONTENT_LENGTH',
    });

    // Act
    const { failure, code } = classifyTransportError(parserError, false);
    const post = transportError(failure, code, POST, parserError);
    const get = transportError(failure, code, { ...POST, method: 'GET' }, parserError);

    // Assess
    expect(failure).toBe('other');
    expect(post).toMatchObject({ kind: 'unknown_outcome', retryable: false });
    expect(post.message).toBe(
      'Error connecting to server: Response does not match the HTTP/1.1 protocol (HPE_INVALID_CONTENT_LENGTH) (POST /plugin/products/threat-response/api/v1/intels) The request may have been processed by Tanium; check before running it again.',
    );
    expect(get).toMatchObject({ kind: 'transport', retryable: false });
    expect(get.message).not.toContain('may have been processed');
  });

  it("keeps a failure's name, message and code as the cause, not the raw answer a parser error holds", () => {
    // Prepare: undici's HTTPParserError keeps the bytes it could not parse in an enumerable `data`, here a
    // header echoing the token, under a wrapper as fetch adds one
    const parserError = Object.assign(
      new Error('Response does not match the HTTP/1.1 protocol (Unexpected space after start line)'),
      {
        name: 'HTTPParserError',
        code: 'HPE_INVALID_HEADER_TOKEN',
        data: ' Header: TOKEN-canary-7f3a\r\n\r\n',
      },
    );
    const wrapped = new TypeError('fetch failed', { cause: parserError });

    // Act
    const { failure, code } = classifyTransportError(wrapped, false);
    const error = transportError(failure, code, { ...POST, method: 'GET' }, wrapped);

    // Assess: the same failure, described as before, without the answer's bytes anywhere
    expect(error.message).toBe('Error connecting to server: fetch failed (HPE_INVALID_HEADER_TOKEN)');
    expect(error.cause).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect((error.cause as Error).cause).toMatchObject({
      name: 'HTTPParserError',
      message: parserError.message,
      code: 'HPE_INVALID_HEADER_TOKEN',
    });
    expect(inspect(error, { depth: null })).not.toContain('canary');
    expect(JSON.stringify((error.cause as Error).cause)).not.toContain('canary');
    // Where it failed stays readable
    expect((error.cause as Error).stack).toBe(wrapped.stack);
  });

  it.each([
    ['nothing', undefined, undefined],
    ['null', null, undefined],
    ['a string', 'socket gone', 'socket gone'],
    ['an object holding raw bytes', { data: 'Header: TOKEN-canary-7f3a' }, 'a thrown object'],
  ])('keeps as the cause of a failure that threw %s only what says what it was', (_case, thrown, message) => {
    // Act
    const error = transportError('other', '', { ...POST, method: 'GET' }, thrown);

    // Assess
    if (message === undefined) expect(error.cause).toBeUndefined();
    else expect(error.cause).toEqual(new Error(message));
    expect(inspect(error, { depth: null })).not.toContain('canary');
  });

  it.each([
    { case: 'a string', code: 'HPE_INVALID_CONSTANT', kept: true },
    { case: 'a number', code: 35, kept: true },
    // Anything else may hold what a message must not: only a string or a number says what happened
    { case: 'an object', code: { data: 'Header: TOKEN-canary-7f3a' }, kept: false },
    { case: 'absent', code: undefined, kept: false },
  ])(
    'keeps the code of a cause when it is $case: $kept, adding nothing its error lacked',
    ({ code, kept }) => {
      // Prepare
      const thrown = Object.assign(new Error('socket gone'), code === undefined ? {} : { code });

      // Act
      const { cause } = transportError('other', '', { ...POST, method: 'GET' }, thrown);

      // Assess
      expect(Object.hasOwn(cause as Error, 'code')).toBe(kept);
      if (kept) expect(cause).toMatchObject({ code });
      expect(Object.hasOwn(cause as Error, 'cause')).toBe(false);
      expect(inspect(cause, { depth: null })).not.toContain('canary');
    },
  );

  it('keeps five causes of a longer chain, and ends a chain that loops', () => {
    // Prepare
    const looping: Error = new Error('looping');
    looping.cause = looping;
    const long = Array.from({ length: 10 }, (_, i) => i).reduce<Error | undefined>(
      (cause, i) => new Error(`level ${9 - i}`, { cause }),
      undefined,
    );

    // Act
    const kept = [looping, long].map((thrown) => {
      const messages: string[] = [];
      for (let at: unknown = transportError('other', '', POST, thrown).cause; at; at = (at as Error).cause) {
        messages.push((at as Error).message);
      }
      return messages;
    });

    // Assess
    expect(kept).toEqual([Array(6).fill('looping'), Array.from({ length: 6 }, (_, i) => `level ${i}`)]);
  });

  it('keeps a request the client refused to send (an invalid argument) a plain failure, even a POST', () => {
    // Arrange
    const invalid = Object.assign(new Error('invalid content-length header'), {
      code: 'UND_ERR_INVALID_ARG',
    });

    // Act
    const { failure, code } = classifyTransportError(invalid, false);

    // Assess
    expect(transportError(failure, code, POST, invalid)).toMatchObject({
      kind: 'transport',
      retryable: false,
      message: 'Error connecting to server: invalid content-length header (UND_ERR_INVALID_ARG)',
    });
  });

  it('keeps an unknown failure final, since it may have happened after the request left', () => {
    // Act
    const error = connectFailure('EPROTO');
    const { failure } = classifyTransportError(error, false);

    // Assess
    expect(failure).toBe('other');
    expect(neverSent(failure)).toBe(false);
    expect(transportError(failure, 'EPROTO', POST, error)).toMatchObject({
      kind: 'transport',
      retryable: false,
    });
  });

  it('tells an answer that stopped part-way from no answer at all, and says how much came', () => {
    // Prepare: undici's two timeouts, before the headers and between body chunks
    const noHeaders = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    const stalled = Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' });
    const get = {
      ...POST,
      method: 'GET',
      path: '/plugin/products/threat-response/api/v1/filedownload/data/f1',
    };

    // Act
    const [waited, stopped] = [noHeaders, stalled].map((error) => classifyTransportError(error, false));
    const counted = transportError(
      stopped!.failure,
      stopped!.code,
      { ...get, bytesReceived: 1_048_576 },
      stalled,
    );
    const uncounted = transportError(stopped!.failure, stopped!.code, POST, stalled);

    // Assess: a stalled GET is retried like a timeout; a stalled POST may have been carried out
    expect(waited?.failure).toBe('response_timeout');
    expect(stopped?.failure).toBe('body_stalled');
    expect(neverSent(stopped!.failure)).toBe(false);
    expect(transientFailure(stopped!.failure)).toBe(true);
    expect(counted).toMatchObject({
      kind: 'transient',
      retryable: true,
      message: `Error connecting to server: tanium.example.com stopped sending the answer after 1,048,576 bytes: nothing for 60 s (GET ${get.path})`,
    });
    expect(uncounted).toMatchObject({
      kind: 'unknown_outcome',
      retryable: false,
      message: `Error connecting to server: tanium.example.com stopped sending the answer: nothing for 60 s (POST ${POST.path}) The request may have been processed by Tanium; check before running it again.`,
    });
  });

  it('says a body that stalled before its first byte came after 0 bytes: the headers came, nothing else', () => {
    // Prepare: the download's headers arrived, then not one byte of the body
    const stalled = Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' });
    const get = {
      ...POST,
      method: 'GET',
      path: '/plugin/products/threat-response/api/v1/filedownload/data/f1',
    };

    // Act
    const error = transportError('body_stalled', stalled.code, { ...get, bytesReceived: 0 }, stalled);

    // Assess
    expect(error.message).toBe(
      `Error connecting to server: tanium.example.com stopped sending the answer after 0 bytes: nothing for 60 s (GET ${get.path})`,
    );
  });
});
