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
    ['{"errors":[],"message":"Intel doc 9999 not found"}', 'Intel doc 9999 not found'],
    [
      '{"text":"","errors":[{"message":" "}],"message":"Connection is not active"}',
      'Connection is not active',
    ],
    ['{"errors":["",{"text":"second"}]}', 'second'],
    ['{"text":"","errors":[]}', '{"text":"","errors":[]}'],
    ['{"errors":[{}],"message":"Intel doc 9999 not found"}', 'Intel doc 9999 not found'],
    ['{"errors":[null],"message":"Intel doc 9999 not found"}', 'Intel doc 9999 not found'],
    ['{"errors":[{"message":"","description":"Intel doc 9999 not found"}]}', 'Intel doc 9999 not found'],
    ['{"errors":[{"code":7}]}', '{"code":7}'],
    ['{"errors":[[],["  "],[{"message":"inner"}]],"message":"outer"}', 'inner'],
    ['{"errors":[[],[]],"message":"outer"}', 'outer'],
    ['{"errors":[[[]]],"message":"outer"}', 'outer'],
    ['{"errors":[[[{"message":"deep"}]]],"message":"outer"}', 'deep'],
    ['{"other":{"a":1}}', '{"other":{"a":1}}'],
    ['plain words', 'plain words'],
    ['', 'Empty response'],
  ])('takes the server text from %s', (body, expected) => {
    expect(errorBodyText(body, 'application/json')).toBe(expected);
  });

  it('reads a body nested too deep to write back as JSON instead of failing on it', () => {
    // Prepare: JSON.parse reads these; JSON.stringify overflows the stack on them
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

    // Act / Assess: the raw text (errorText cuts it), and a marker for one deep entry among readable ones
    expect(errorBodyText(` ${deep} `, 'application/json')).toBe(deep);
    expect(errorBodyText(`{"errors":["first",${deep}]}`, 'application/json')).toBe(
      'first; (an error entry nested too deep to show)',
    );
  });

  it('keeps only the visible text of an HTML page', () => {
    const page =
      '<html><head><title>502 Bad Gateway</title><style>h1{color:red}</style><script>alert(1)</script></head><body><h1>502   Bad Gateway</h1></body></html>';
    expect(errorBodyText(page, 'text/html')).toBe('502 Bad Gateway 502 Bad Gateway');
    expect(htmlToText(`<p>${'x'.repeat(400)}</p>`)).toHaveLength(300);
    // Entities are decoded once: an escaped ampersand does not start another entity.
    expect(htmlToText('<p>&amp;#34; &#x26;lt; &#60;b&#x3E;</p>')).toBe('&#34; &lt; <b>');
  });

  it('reads large pages whose markup never closes in one pass', () => {
    // Each of these took the old regular expressions a scan to the end of the page per opener: hours at
    // this size, so the test's own timeout is what fails.
    const size = 4_000_000;
    expect(htmlToText(`<html><body>a${' <'.repeat(size / 2)}`)).toBe(`a${' <'.repeat(150)}`.slice(0, 300));
    expect(htmlToText(`<html><body>b${'<script>x'.repeat(size / 9)}`)).toBe(
      `b${' x'.repeat(150)}`.slice(0, 300),
    );
    expect(htmlToText(`<html><body>c${'<!--x'.repeat(size / 5)}`)).toBe(
      `c${'<!--x'.repeat(60)}`.slice(0, 300),
    );
  });

  it('removes markup as before: elements, comments and tags, with their closers anywhere after', () => {
    expect(htmlToText('<p>a</p><SCRIPT type="x">b</script ><style>c</STYLE><!-- d -->e<!-->f')).toBe('a e f');
    // A `<` is a tag up to the next `>`, wherever that is; one with no `>` after it is text.
    expect(htmlToText('1 < 2 and <b>3</b> > 2')).toBe('1 3 > 2');
    expect(htmlToText('3 > 2 < 1')).toBe('3 > 2 < 1');
    expect(htmlToText('<script>never closed <b>x</b>')).toBe('never closed x');
    expect(htmlToText('x <a <b> y')).toBe('x y');
  });

  it('redacts secrets and caps the length at 1000 characters', () => {
    expect(redact('token token-abc123 leaked', ['token-abc123'])).toBe('token [redacted] leaked');
    expect(redact('y'.repeat(1500), [])).toHaveLength(1000);
    expect(redact('y'.repeat(1500), []).endsWith('…')).toBe(true);
  });

  it('cuts the visible text of an HTML page before an emoji rather than through it', () => {
    // Act: the 300th character would be the first half of the pair
    const text = htmlToText(`<html><body>${'a'.repeat(299)}😀 tail</body></html>`);

    // Assess
    expect(text).toBe('a'.repeat(299));
  });

  it('caps the length before an emoji rather than through it', () => {
    // Act: the 999th character would be the first half of the pair
    const capped = redact(`${'a'.repeat(998)}😀 and more`, []);

    // Assess
    expect(capped).toBe(`${'a'.repeat(998)}…`);
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

  describe('every piece of every secret', () => {
    it.each([
      [
        'form-encoded',
        'login failed for my+pass+word',
        'text/plain',
        ['my pass word'],
        'login failed for [redacted]',
      ],
      [
        'percent-encoded in lowercase',
        'bad password p%2fss%3dword',
        'text/plain',
        ['p/ss=word'],
        'bad password [redacted]',
      ],
      [
        'with a decimal HTML entity',
        "<p>bad password pa&#34;ss'wd</p>",
        'text/html',
        ['pa"ss\'wd'],
        'bad password [redacted]',
      ],
      [
        'with a hex HTML entity',
        '<p>bad password pa"ss&#x27;wd</p>',
        'text/html',
        ['pa"ss\'wd'],
        'bad password [redacted]',
      ],
      [
        'on a page that escapes only &<> and is cut inside the secret',
        `<p>${'x'.repeat(295)} pa"ss&amp;word</p>`,
        'text/html',
        ['pa"ss&word'],
        `${'x'.repeat(295)} [red`,
      ],
      [
        'whose space the page wrote as a line break, cut inside it',
        `<html><body><p>${'x'.repeat(290)} correct\n  horse battery</p></body></html>`,
        'text/html',
        ['correct horse battery'],
        `${'x'.repeat(290)} [redacted]`.slice(0, 300),
      ],
      [
        'in a body that repeats its period',
        'a'.repeat(1_000_000),
        'text/plain',
        ['aaaa', 'aaaaa', 'aaaaaa', 'aaaaaaa'],
        '[redacted]',
      ],
      ['in occurrences that overlap (abab)', 'said ababab', 'text/plain', ['abab'], 'said [redacted]'],
      ['in occurrences that overlap (aaaa)', 'said aaaaaaa', 'text/plain', ['aaaa'], 'said [redacted]'],
      [
        'inside another secret, listed first',
        'session XYhunter22ZW for hunter22',
        'text/plain',
        ['hunter22', 'XYhunter22ZW'],
        'session [redacted] for [redacted]',
      ],
      [
        'inside another secret, listed second',
        'session XYhunter22ZW for hunter22',
        'text/plain',
        ['XYhunter22ZW', 'hunter22'],
        'session [redacted] for [redacted]',
      ],
    ])('removes a secret %s', (_case, body, contentType, secrets, expected) => {
      expect(errorText(body, contentType, secrets)).toBe(expected);
    });

    it('keeps a secret shorter than 4 characters: every such run of letters would go', () => {
      expect(errorText('code abc', 'text/plain', ['abc'])).toBe('code abc');
    });

    it('caps the length at 1000 characters after redacting', () => {
      // Prepare: the secret straddles character 1000
      const said = errorText(`${'y'.repeat(995)} token-0123456789 tail`, 'text/plain', ['token-0123456789']);

      // Assess
      expect(said).toBe(`${'y'.repeat(995)} [re…`);
    });
  });

  it('does not double braces', () => {
    expect(errorBodyText('{"text":"bad {value}"}', 'application/json')).toBe('bad {value}');
  });
});
