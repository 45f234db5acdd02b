import { describe, expect, it } from 'vitest';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import { CARRIED_OUT_CAVEAT, httpError, parseBody } from '../../../shared/tanium/responses.ts';

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
