import { describe, expect, it } from 'vitest';
import { errorText } from '../../../shared/tanium/error-text.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import { CARRIED_OUT_CAVEAT, httpError, parseBody } from '../../../shared/tanium/responses.ts';
import { UNKNOWN_OUTCOME_SUFFIX } from '../../../shared/tanium/transport-errors.ts';

const keep = (text: string) => text;

function parseFailure(text: string): TaniumError {
  try {
    parseBody(keep, 200, text, 'application/json');
  } catch (error) {
    if (error instanceof TaniumError) return error;
    throw error;
  }
  throw new Error('the body parsed');
}

describe('Tanium answers: JSON that does not parse', () => {
  it('does not quote the body, which may be a session or token, in the message', () => {
    // Act: a login answered with the bare session under a JSON content type
    const error = parseFailure('sess-TOPSECRET-0123456789');

    // Assess
    expect(error.message).toBe(
      "Unable to parse JSON response. Error: Unexpected token 's' (the body is not valid JSON)",
    );
    expect(error.message).not.toContain('TOPSE');
    expect(error.kind).toBe('tanium');
    expect(error.status).toBe(200);
  });

  it('says only that the input was unexpected when the parser quotes the whole body', () => {
    // Act: V8 writes `"undefined" is not valid JSON`, naming no token
    const error = parseFailure('undefined');

    // Assess
    expect(error.message).toBe(
      'Unable to parse JSON response. Error: Unexpected input (the body is not valid JSON)',
    );
  });

  it.each([
    '{"ok":1,"session":sess-TOPSECRETabcdefgh}',
    '{"session":"sess-TOPSECRET-abcdefgh", "x": oops-and-more-text-here}',
  ])('does not quote a piece from the middle of the body either: %s', (body) => {
    // Act
    const error = parseFailure(body);

    // Assess
    expect(error.message).toMatch(
      /^Unable to parse JSON response\. Error: Unexpected token '.' \(the body is not valid JSON\)$/,
    );
    expect(error.message).not.toMatch(/TOPSE|abcdefgh|sess-/);
  });

  it("keeps the parser's position when it gives one", () => {
    // Act
    const error = parseFailure('{"a":1');

    // Assess
    // Newer V8 appends the line and column.
    expect(error.message).toMatch(
      /^Unable to parse JSON response\. Error: Expected ',' or '}' after property value in JSON at position 6/,
    );
  });
});

describe('Tanium answers: 2xx bodies', () => {
  it('reads a body of only whitespace as no payload', () => {
    expect(parseBody(keep, 200, ' \r\n', 'application/json')).toEqual({ payload: null });
  });

  it.each([
    ['without meta', '{"data":[1]}', { payload: [1], wrapped: true }],
    ['with meta', '{"data":[1],"meta":{"n":1}}', { payload: [1], meta: { n: 1 }, wrapped: true }],
  ])('unwraps a body in data, %s, and says it was wrapped', (_case, text, expected) => {
    // Assess: no meta key at all without meta
    expect(parseBody(keep, 200, text, 'application/json')).toStrictEqual(expected);
  });

  it.each([
    ['an object without data', '{"id":1}', 'application/json', { id: 1 }],
    ['JSON null', 'null', 'application/json', null],
    ['a JSON string', '"data"', 'application/json', 'data'],
    ['JSON served as text/plain', '{"id":1}', 'text/plain', { id: 1 }],
    ['text that is neither JSON nor HTML', 'session-token-value', 'text/plain', 'session-token-value'],
  ])('passes on %s as the payload, not wrapped', (_case, text, contentType, payload) => {
    expect(parseBody(keep, 200, text, contentType)).toStrictEqual({ payload });
  });

  it('refuses an HTML page served as text/html, quoting its visible text', () => {
    // Prepare: a fragment, which only its content type shows to be HTML
    const read = (body: string, contentType: string) => errorText(body, contentType, []);

    // Act
    let error: unknown;
    try {
      parseBody(read, 200, '<h1>Down for maintenance</h1>', 'text/html');
    } catch (thrown) {
      error = thrown;
    }

    // Assess
    expect(error).toBeInstanceOf(TaniumError);
    expect(error).toMatchObject({
      kind: 'tanium',
      status: 200,
      message:
        'Unexpected HTML response from server. Status Code: 200 Data from server: Down for maintenance',
    });
  });
});

describe('Tanium answers: final HTTP errors', () => {
  it.each([
    [
      'a 403 lacks a Threat Response permission, needed by this request, when neither route nor action is named',
      403,
      'Forbidden',
      'token',
      'permission',
      'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by this request. Tanium said: Forbidden',
    ],
    [
      "a 401 on a session rejected the session, not an API token's trusted addresses",
      401,
      'Session expired',
      'session',
      'auth',
      'Authentication failed (HTTP 401): Tanium rejected the session. Tanium said: Session expired',
    ],
    [
      'a 401 on an API token rejected the token, and points at its expiry and trusted addresses',
      401,
      'Unauthorized',
      'token',
      'auth',
      "Authentication failed (HTTP 401): Tanium rejected the API token. Tanium said: Unauthorized Check that the token has not expired and that this service's egress IP is in the token's trusted IP addresses (api_token_trusted_ip_address_list).",
    ],
  ] as const)('says %s', (_case, status, text, auth, kind, message) => {
    // Act
    const error = httpError(keep, { method: 'GET' }, status, text, 'text/plain', auth, {
      afterLostAnswer: true,
    });

    // Assess
    expect(error).toMatchObject({ kind, status, afterLostAnswer: true, message });
  });

  it("adds no caveat to a DELETE's 404 when no earlier attempt went unanswered", () => {
    // Act
    const error = httpError(keep, { method: 'DELETE' }, 404, 'Connection not found', 'text/plain', 'token');

    // Assess
    expect(error).toMatchObject({ kind: 'not_found', status: 404 });
    expect(error.message).toBe('Error from server. Status Code: 404 Data from server: Connection not found');
  });

  it("adds no caveat to another method's 404, even after an attempt that got no answer", () => {
    // Act
    const error = httpError(keep, { method: 'GET' }, 404, 'Intel doc not found', 'text/plain', 'token', {
      afterLostAnswer: true,
    });

    // Assess
    expect(error).toMatchObject({ kind: 'not_found', status: 404 });
    expect(error.message).toBe('Error from server. Status Code: 404 Data from server: Intel doc not found');
  });

  it("names the route's permission in a 403", () => {
    // Act
    const error = httpError(
      keep,
      { method: 'GET', action: 'list alerts', permission: 'threat response alerts read' },
      403,
      'Forbidden',
      'text/plain',
      'session',
    );

    // Assess
    expect(error.message).toBe(
      "Permission denied (HTTP 403): the Tanium user or API token lacks the 'threat response alerts read' permission needed by list alerts. Tanium said: Forbidden",
    );
  });

  it.each([401, 403])(
    'leaves a login its %i as a plain HTTP error, which the login reports itself',
    (status) => {
      // Act
      const error = httpError(keep, { method: 'POST' }, status, 'Bad credentials', 'text/plain', undefined);

      // Assess
      expect(error).toMatchObject({
        kind: 'tanium',
        status,
        message: `Error from server. Status Code: ${status} Data from server: Bad credentials`,
      });
    },
  );

  it.each([
    ['GET', 'transient and retryable', { kind: 'transient', retryable: true }, ''],
    [
      'POST',
      'an unknown outcome, never retried',
      { kind: 'unknown_outcome', retryable: false },
      UNKNOWN_OUTCOME_SUFFIX,
    ],
  ] as const)('takes a 503 on a %s for %s, keeping its Retry-After', (method, _what, verdict, suffix) => {
    // Act
    const error = httpError(keep, { method }, 503, 'Busy', 'text/plain', 'token', { retryAfterMs: 7_000 });

    // Assess
    expect(error).toMatchObject({
      ...verdict,
      status: 503,
      retryAfterMs: 7_000,
      message: `Error from server. Status Code: 503 Data from server: Busy${suffix}`,
    });
  });

  it('takes any other status for a Tanium failure that says only what the server said', () => {
    // Act
    const error = httpError(keep, { method: 'GET' }, 500, 'index busy', 'text/plain', 'token');

    // Assess
    expect(error).toMatchObject({
      kind: 'tanium',
      retryable: false,
      status: 500,
      message: 'Error from server. Status Code: 500 Data from server: index busy',
    });
  });

  it('keeps the status of a request refused as too large', () => {
    // Act
    const error = httpError(keep, { method: 'POST' }, 413, '', 'text/plain', 'token');

    // Assess
    expect(error).toMatchObject({ kind: 'tanium', status: 413 });
    expect(error.message).toContain('too large (HTTP 413, its body)');
  });
});

describe("Tanium answers: a DELETE's 404 after an attempt that got no answer", () => {
  const notFoundAfterLostAnswer = (text: string) =>
    httpError(keep, { method: 'DELETE', action: 'delete connection' }, 404, text, 'text/plain', 'token', {
      afterLostAnswer: true,
    });

  it.each([
    ['a text without a full stop', 'Connection not found: remote:db-01:6660000001:5', '. '],
    ['a text that ends a sentence', 'Connection not found.', ' '],
  ])('starts the caveat as a sentence of its own after %s', (_, text, joint) => {
    // Act
    const error = notFoundAfterLostAnswer(text);

    // Assess
    expect(error.kind).toBe('not_found');
    expect(error.message).toBe(
      `Error from server. Status Code: 404 Data from server: ${text}${joint}An earlier attempt of this request got no answer (HTTP 502 or 504, or the connection dropped after sending): ${CARRIED_OUT_CAVEAT}.`,
    );
  });
});
