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
    ['{"errors":[[[[["deeper"]]]]],"message":"outer"}', '["deeper"]'],
    ['{"errors":[["first","","second"]]}', 'first; second'],
    ['{"errors":[404,"second"]}', '404; second'],
    ['{"other":{"a":1}}', '{"other":{"a":1}}'],
    ['plain words', 'plain words'],
    ['"Service unavailable"', 'Service unavailable'],
    ['null', 'null'],
    ['', 'Empty response'],
    [' \n ', 'Empty response'],
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

  it.each([
    ['<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>', 'text/plain', 'Bad Gateway'],
    ['\n  <HTML><body>Down for maintenance</body></HTML>', 'application/json', 'Down for maintenance'],
    ['<html><body></body></html>', 'application/json', 'Empty response'],
  ])(
    'reads %j as an HTML page by how it starts, whatever its content type (%s)',
    (body, contentType, expected) => {
      expect(errorBodyText(body, contentType)).toBe(expected);
    },
  );

  it.each([
    ['a high surrogate', '&#xD83D;'],
    ['a low surrogate', '&#56832;'],
    ['NUL', '&#0;'],
    ['a number past Unicode', '&#x110000;'],
  ])('decodes a numeric reference to %s as U+FFFD, as HTML parsers do', (_what, reference) => {
    // Act
    const text = htmlToText(`<html><body>bad ${reference} here</body></html>`);

    // Assess
    expect(text).toBe('bad \uFFFD here');
  });

  it('decodes numeric references to characters beyond the BMP, and pairs of surrogate references, as whole characters', () => {
    // Act
    const text = htmlToText('<p>&#x1F600; &#128512; &#xD83D;&#xDE00; &#xDE00;&#xD83D; &#x10FFFF;</p>');

    // Assess: U+10FFFF, the last code point, is a character still
    expect(text).toBe('😀 😀 😀 \uFFFD\uFFFD \u{10FFFF}');
  });

  it.each([
    ['a lone surrogate', '{"message":"bad \\ud83d here"}', 'bad \uFFFD here'],
    ['NUL', '{"message":"bad \\u0000 here"}', 'bad \uFFFD here'],
    ['a surrogate pair', '{"message":"ok \\ud83d\\ude00 here"}', 'ok 😀 here'],
  ])('reads %s escaped in a JSON body as HTML parsers read its reference', (_case, body, expected) => {
    // Act
    const text = errorText(body, 'application/json', []);

    // Assess
    expect(text).toBe(expected);
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

  describe('secrets a server echoes cut short', () => {
    const token = 'token-72d2df08abdbcc9ef8ed0b794d23';
    const basic = Buffer.from('tr-admin:37AIKT6HWaetkipm').toString('base64');

    it.each([
      [
        'a token without its last characters',
        token,
        `token ${token.slice(0, -4)}... is not valid`,
        'token [redacted]... is not valid',
      ],
      [
        'a token cut to half its length',
        token,
        `token ${token.slice(0, token.length / 2)}…`,
        'token [redacted]…',
      ],
      [
        'Basic credentials without their = padding',
        basic,
        `credentials ${basic.replace(/=+$/, '')} rejected`,
        'credentials [redacted] rejected',
      ],
      [
        'Basic credentials cut short',
        basic,
        `header 'Basic ${basic.slice(0, 28)}...'`,
        "header 'Basic [redacted]...'",
      ],
    ])('hides %s', (_case, secret, body, expected) => {
      expect(errorText(body, 'text/plain', [secret])).toBe(expected);
    });

    it('leaves starts shorter than half a secret, and ordinary words, as they are', () => {
      // Act
      const said = errorText(`token ${token.slice(0, 12)}... unknown; see token-based auth`, 'text/plain', [
        token,
      ]);

      // Assess
      expect(said).toBe(`token ${token.slice(0, 12)}... unknown; see token-based auth`);
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
        'beyond the BMP, written as two surrogate references',
        '<p>bad password pass&#55357;&#56832;word</p>',
        'text/html',
        ['pass😀word'],
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
        'holding a run of spaces that the page wrote as other whitespace',
        '<p>bad password correct \n horse battery</p>',
        'text/html',
        ['correct  horse battery'],
        'bad password [redacted]',
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

  describe('secrets echoed in the escaping of another encoder, or in other letter case', () => {
    const password = 'PW-canary-8b2c "q\\ /x';
    const echoedByPhp = String.raw`Bad request body: {"username":"admin","password":"PW-canary-8b2c \"q\\ \/x"}`;
    const redactedEcho = 'Bad request body: {"username":"admin","password":"[redacted]"}';

    it.each([
      ["with PHP's \\/ for a slash, in a text/plain body", echoedByPhp, 'text/plain', redactedEcho],
      [
        "with PHP's \\/, in the message of a JSON body",
        JSON.stringify({ message: echoedByPhp }),
        'application/json',
        redactedEcho,
      ],
      [
        'escaped twice, in a JSON body cut off before its end',
        JSON.stringify({ text: echoedByPhp }).slice(0, -2),
        'application/json',
        String.raw`{"text":"Bad request body: {\"username\":\"admin\",\"password\":\"[redacted]\"}`,
      ],
    ])('removes a password echoed in a request body %s', (_case, body, contentType, expected) => {
      expect(errorText(body, contentType, [password])).toBe(expected);
    });

    it.each([
      [
        "Python's \\u00e4 for what is not ASCII",
        String.raw`Bad request body: {"password":"P\u00e4ssw\u00f6rd-9"}`,
        'Pässwörd-9',
      ],
      [
        "Go's \\u003c and \\u0026",
        String.raw`Bad request body: {"password":"a\u003cb\u0026c+d'e"}`,
        "a<b&c+d'e",
      ],
      [
        ".NET's \\u003C, \\u0026, \\u002B and \\u0027",
        String.raw`Bad request body: {"password":"a\u003Cb\u0026c\u002Bd\u0027e"}`,
        "a<b&c+d'e",
      ],
      [
        'strict percent-encoding (%21 %27)',
        'Bad request body: {"password":"PW-canary%20it%27s%21"}',
        "PW-canary it's!",
      ],
      [
        'strict percent-encoding in lowercase hex (%28 %29 %2a)',
        'Bad request body: {"password":"%28pass%29%2aword"}',
        '(pass)*word',
      ],
      [
        "+ for a space and ~ as it is (Python's quote_plus)",
        'Bad request body: {"password":"my+pass~word"}',
        'my pass~word',
      ],
      [
        'decimal and hex HTML entities',
        'Bad request body: {"password":"pa&#60;ss&#x27;wo&#0034;rd"}',
        'pa<ss\'wo"rd',
      ],
      [
        'named HTML entities, &nbsp; for a space',
        'Bad request body: {"password":"p&amp;ss&nbsp;&lt;it&apos;s&gt; &quot;x&quot;"}',
        'p&ss <it\'s> "x"',
      ],
      ['upper case', 'Bad request body: {"password":"TOKEN-CANARY-7F3A9D0C"}', 'token-canary-7f3a9d0c'],
      [
        'upper case, JSON-escaped',
        String.raw`Bad request body: {"password":"P\u00C4SSW\u00D6RD-\u00C9"}`,
        'pässwörd-é',
      ],
      ['lower case, percent-encoded', 'Bad request body: {"password":"p%c3%a4ss+w%c3%b6rd"}', 'PÄSS WÖRD'],
    ])('removes a secret written with %s in a text/plain body', (_case, body, secret) => {
      expect(errorText(body, 'text/plain', [secret])).toBe('Bad request body: {"password":"[redacted]"}');
    });

    it('removes a password beyond the BMP echoed twice JSON-escaped in ASCII, both halves of its pair escaped again', () => {
      // Prepare: Python's json.dumps(json.dumps(body)): \ud83d\ude00 for the emoji
      const password = 'Pass\u{1F600}word-1';
      const body = String.raw`{"text":"Bad request body: {\"password\":\"Pass\\ud83d\\ude00word-1\"}"}`;

      // Act: cut off before its end, so it is searched as text
      const said = errorText(body.slice(0, -2), 'application/json', [password]);

      // Assess
      expect(said).toBe(String.raw`{"text":"Bad request body: {\"password\":\"[redacted]\"}`);
    });

    it('finds a short secret as it is in its own letter case only, so it does not hide words of the text', () => {
      // Act: a 6-character password that is also a word Tanium writes
      const said = errorText('Tanium rejected user tanium (TANIUM)', 'text/plain', ['tanium']);

      // Assess
      expect(said).toBe('Tanium rejected user [redacted] (TANIUM)');
    });

    it('finds a short secret with symbols in other case only where it is escaped, whatever else the text holds', () => {
      // Act: the text holds a backslash, a % and an & elsewhere, which the escaped forms look for
      const said = errorText(
        'user P@SS1 or p@ss1 or P%40SS1 rejected, path C:\\temp & 5% more',
        'text/plain',
        ['p@ss1'],
      );

      // Assess: as it is in its own case, and escaped in any case; not as it is in other case
      expect(said).toBe('user P@SS1 or [redacted] or [redacted] rejected, path C:\\temp & 5% more');
      // `+` is both a character the percent form writes as itself and one of its marks
      expect(errorText('user AB+1 or ab+1 or AB%2B1 rejected', 'text/plain', ['ab+1'])).toBe(
        'user AB+1 or [redacted] or [redacted] rejected',
      );
    });

    it('finds secrets of backslashes, % and & next to long runs of them without backtracking', () => {
      // Prepare: each secret escaped a way the fixed forms did not know (twice JSON-escaped, lowercase, a
      // decimal entity), then runs a pattern allowing several ways per character would retry in
      // exponentially many ways at every position
      const secrets = ['\\', '%', '&'].map((char) => `${char.repeat(24)}X`);
      const escaped = `${'\\\\\\\\'.repeat(24)}X ${'%25'.repeat(24)}x ${'&#38;'.repeat(24)}X`;
      const runs = `${'\\'.repeat(100_000)} ${'%25'.repeat(30_000)} ${'&#38;'.repeat(20_000)}`;

      // Act
      const said = errorText(`${escaped} ${runs}`, 'text/plain', secrets);

      // Assess: the run of backslashes begins as the first secret does, so it is hidden as an echo of it
      // cut short; the other runs are no form of theirs
      expect(said.startsWith('[redacted] [redacted] [redacted] [redacted] %25%25')).toBe(true);
    });
  });

  it('does not double braces', () => {
    expect(errorBodyText('{"text":"bad {value}"}', 'application/json')).toBe('bad {value}');
  });
});

describe('Tanium error bodies: the forms a secret is echoed in', () => {
  it('removes a secret longer than 256 characters in each fixed form: as is, JSON, URL, form and HTML escaped', () => {
    const secret = `${'k'.repeat(280)} <a&b> "q'/\u00e9`;
    const uri = encodeURIComponent(secret);
    const forms = [
      secret,
      JSON.stringify(secret).slice(1, -1),
      uri,
      uri.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
      new URLSearchParams({ s: secret }).toString().slice(2),
      secret
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&#39;'),
    ];

    for (const form of forms) {
      expect(errorText(`echo [${form}] end`, 'text/plain', [secret])).toBe('echo [[redacted]] end');
    }
  });

  it('ignores letter case for a secret of exactly 8 characters, the shortest that is not short', () => {
    expect(errorText('user PASSW0RD rejected', 'text/plain', ['passw0rd'])).toBe('user [redacted] rejected');
  });

  it('removes a secret whose inner JSON left a character as it is and the outer escaped it', () => {
    // Prepare: JSON.stringify inside (leaves \u00f6 as is), an ASCII-only encoder outside (Python's json.dumps)
    const password = 'Pa"ss/w\u00f6rd-1';
    const inner = JSON.stringify({ password });
    const body = JSON.stringify({ text: `Bad request body: ${inner}` }).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );

    // Act: cut off before its end, so it is searched as text
    const said = errorText(body.slice(0, -2), 'application/json', [password]);

    // Assess
    expect(said).toBe(String.raw`{"text":"Bad request body: {\"password\":\"[redacted]\"}`);
  });

  it.each([
    ['once more by a JSON encoder that leaves / as it is', String.raw`{\"password\":\"ab\\/cd/ef-1\"}`],
    ['once more by PHP, which escapes the slash too', String.raw`{\"password\":\"ab\\\/cd\\\/ef-1\"}`],
  ])('removes a secret holding / escaped by PHP as \\/, then escaped %s', (_case, echo) => {
    const said = errorText(`{"text":"Bad request body: ${echo}`, 'application/json', ['ab/cd/ef-1']);

    expect(said).toBe(String.raw`{"text":"Bad request body: {\"password\":\"[redacted]\"}`);
  });

  it('removes a secret holding a carriage return written as JSON writes it, \\r', () => {
    const secret = 'line-one\rline-two';
    const body = `Bad request body: {"password":${JSON.stringify(secret)}}`;

    expect(errorText(body, 'text/plain', [secret])).toBe('Bad request body: {"password":"[redacted]"}');
  });

  it('finds a secret in a text that holds nothing but the secret', () => {
    expect(errorText('ABCD1234', 'text/plain', ['ABCD1234'])).toBe('[redacted]');
    expect(errorText('ABCD1234EFGH5678', 'text/plain', ['ABCD1234EFGH5678'])).toBe('[redacted]');
    // cut short by whoever echoed it
    expect(errorText('ABCD1234EFGH', 'text/plain', ['ABCD1234EFGH5678'])).toBe('[redacted]');
  });
});
