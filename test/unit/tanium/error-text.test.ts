import { describe, expect, it } from 'vitest';
import { errorBodyText, errorText, htmlToText, redact } from '../../../shared/tanium/error-text.ts';

describe('Tanium error bodies', () => {
  it.each([
    [
      '{"text":"GroupNotFound: no group named \'All Windowz\'"}',
      "GroupNotFound: no group named 'All Windowz'",
    ],
    [
      '{"errors":[{"message":"Connection remote:web-02:3380012345:2 is not active"},{"text":"second"},"third"]}',
      'Connection remote:web-02:3380012345:2 is not active; second; third',
    ],
    ['{"message":"Intel doc 9999 not found"}', 'Intel doc 9999 not found'],
    ['{"other":{"a":1}}', '{"other":{"a":1}}'],
    ['plain words', 'plain words'],
    ['', 'Empty response'],
  ])('takes the server text from %s', (body, expected) => {
    expect(errorBodyText(body, 'application/json')).toBe(expected);
  });

  it('keeps only the visible text of an HTML page', () => {
    const page =
      '<html><head><title>502 Bad Gateway</title><style>h1{color:red}</style><script>alert(1)</script></head><body><h1>502   Bad Gateway</h1></body></html>';
    expect(errorBodyText(page, 'text/html')).toBe('502 Bad Gateway 502 Bad Gateway');
    expect(htmlToText(`<p>${'x'.repeat(400)}</p>`)).toHaveLength(300);
  });

  it('redacts secrets and caps the length at 1000 characters', () => {
    expect(redact('token token-abc123 leaked', ['token-abc123'])).toBe('token [redacted] leaked');
    expect(redact('y'.repeat(1500), [])).toHaveLength(1000);
    expect(redact('y'.repeat(1500), []).endsWith('…')).toBe(true);
  });

  describe('secrets in an error body', () => {
    const token = 'token-0123456789abcdef';
    const password = 'Pa"ss\\wörd&<9>';

    it('leaves no piece of a secret that the 300-character cut of an HTML page would split', () => {
      // The token crosses character 300 of the page's text; with it redacted, the cut falls after it.
      const page = `<html><body><p>${'x'.repeat(285)} ${token} more text</p></body></html>`;

      const said = errorText(page, 'text/html', [token]);

      expect(said).not.toMatch(/token-0/);
      expect(said.endsWith('x [redacted] mor')).toBe(true);
    });

    it.each([
      ['escaped inside JSON', JSON.stringify({ other: { password } }), 'application/json'],
      ['percent-encoded', `denied for ${encodeURIComponent(password)}`, 'text/plain'],
      [
        'HTML-escaped',
        '<p>bad password Pa&quot;ss\\w&ouml;rd&amp;&lt;9&gt;</p>'.replace('&ouml;', 'ö'),
        'text/html',
      ],
    ])('removes a password %s', (_form, body, contentType) => {
      const said = errorText(body, contentType, [password]);

      expect(said).toContain('[redacted]');
      expect(said).not.toContain('wörd');
      expect(said).not.toContain('w%C3%B6rd');
    });
  });

  it('does not double braces', () => {
    expect(errorBodyText('{"text":"bad {value}"}', 'application/json')).toBe('bad {value}');
  });
});
