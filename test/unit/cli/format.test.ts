import { describe, expect, it } from 'vitest';
import { CUT_FOOTER, formatResult, plain, terminalSafeJson } from '../../../cli/format.ts';
import { describeResult } from '../../../cli/local/investigation.ts';
import type { ActionResult } from '../../../shared/actions/types.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';

/** Sets the window title, rings the bell and clears the screen: what an attacker's file name could carry. */
const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J';
const SHOWN = '\\x1b]0;pwned\\x07\\x1b[2J';
/** Whether `code` is a C0 or C1 control character (U+0000-U+001F, U+007F-U+009F). */
const isControl = (code: number) => code < 0x20 || (code >= 0x7f && code <= 0x9f);
/** Every C0 and C1 control character. */
const CONTROLS = Array.from({ length: 0xa0 }, (_, code) => code)
  .filter(isControl)
  .map((code) => String.fromCharCode(code));

function result(overrides: Partial<ActionResult>): ActionResult {
  return { status: 'success', message: 'ok', parameter: {}, data: [], summary: {}, ...overrides };
}

describe('tanium-tr run plain-text output', () => {
  it('shows control characters from endpoint data as visible escapes, in every field', () => {
    // Prepare
    const hostile = result({
      message: `File ${HOSTILE} saved`,
      summary: { [`key${HOSTILE}`]: `value${HOSTILE}` },
      data: [{ name: `evil${HOSTILE}.exe`, [`column${HOSTILE}`]: 1, nested: { path: 'a\u009bb' } }],
    });

    // Act
    const text = formatResult(hostile);

    // Assess
    const controls = [...text].filter((char) => char !== '\n' && isControl(char.charCodeAt(0)));
    expect(controls).toEqual([]);
    expect(text.split('\n')[0]).toBe(`SUCCESS: File ${SHOWN} saved`);
    expect(text).toContain(`  key${SHOWN}: value${SHOWN}`);
    expect(text).toContain(`evil${SHOWN}.exe`);
    expect(text).toContain(`column${SHOWN}`);
    expect(text).toContain('a\\x9bb');
  });

  it('escapes every C0 and C1 control character and still collapses whitespace to one space', () => {
    // Prepare
    const all = result({ message: CONTROLS.join(''), data: [{ value: `a\t\r\n b${CONTROLS.join('')}` }] });

    // Act
    const [message = '', , , , , row = ''] = formatResult(all).split('\n');

    // Assess: the run \t \n \v \f \r (whitespace to JavaScript) is one space, the rest \xNN
    expect(message).toBe(
      'SUCCESS: \\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08 \\x0e\\x0f\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f\\x7f\\x80\\x81\\x82\\x83\\x84\\x85\\x86\\x87\\x88\\x89\\x8a\\x8b\\x8c\\x8d\\x8e\\x8f\\x90\\x91\\x92\\x93\\x94\\x95\\x96\\x97\\x98\\x99\\x9a\\x9b\\x9c\\x9d\\x9e\\x9f',
    );
    expect(row.startsWith('a b\\x00\\x01')).toBe(true);
  });

  it('prints summary values whole, however long', () => {
    // Prepare: a sha256 and a connection id an analyst copies into the next command
    const sha256 = 'ab'.repeat(32);
    const connection = `remote:host-${'x'.repeat(40)} with a space at the end of it`;
    const shown = result({ summary: { sha256, connection } });

    // Act
    const text = formatResult(shown);

    // Assess
    expect(text).toContain(`  sha256: ${sha256}`);
    expect(text).toContain(`  connection: ${connection}`);
    expect(text).not.toContain('…');
    expect(text).not.toContain(CUT_FOOTER);
  });

  it('keeps id- and hash-shaped cells whole and cuts only free text, with a footer saying so', () => {
    // Prepare
    const id = `conn-${'0123456789abcdef'.repeat(4)}`;
    const path = `C:\\Users\\analyst\\AppData\\Local\\Temp\\${'d'.repeat(40)}.exe`;
    const commandLine = `powershell -NoProfile -EncodedCommand ${'A'.repeat(80)}`;
    const shown = result({ data: [{ id, path, commandLine }] });

    // Act
    const lines = formatResult(shown).split('\n');

    // Assess
    const row = lines.find((line) => line.startsWith(id)) ?? '';
    expect(row).toContain(path);
    expect(row).toContain(`${commandLine.slice(0, 59)}…`);
    expect(row).not.toContain(commandLine);
    expect(lines.at(-1)).toBe(CUT_FOOTER);
  });

  it('keeps a path with spaces whole, and cuts a long JSON value or a blob of one word to keep rows readable', () => {
    // Prepare
    const path = 'C:\\Program Files\\Google\\Chrome\\Application\\120.0.6099.130\\chrome.exe';
    const details = { match: { properties: { note: 'x'.repeat(300) } } };
    const blob = 'B'.repeat(5000);
    const shown = result({
      data: [
        { path, details, blob },
        { path: 'C:\\a.exe', details: {}, blob: 'b' },
      ],
    });

    // Act
    const lines = formatResult(shown).split('\n');

    // Assess: every row stays within the cut widths, and the footer says values were cut
    expect(lines.some((line) => line.includes(path))).toBe(true);
    expect(lines.some((line) => line.includes(`${JSON.stringify(details).slice(0, 59)}…`))).toBe(true);
    expect(lines.some((line) => line.includes(`${'B'.repeat(255)}…`))).toBe(true);
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThan(path.length + 60 + 256 + 10);
    expect(lines.at(-1)).toBe(CUT_FOOTER);
  });

  it('keeps an NT device path whole, and cuts a command line that starts with a path as free text', () => {
    // Prepare
    const device = '\\Device\\HarddiskVolume3\\Program Files\\Vendor Agent\\bin\\agent service.exe';
    const linux = `/usr/bin/python3 -c "import socket; ${'s'.repeat(100)}"`;
    const windows = `C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -NoProfile ${'A'.repeat(80)}`;
    const shown = result({ data: [{ device, linux, windows }] });

    // Act
    const text = formatResult(shown);

    // Assess
    expect(text).toContain(device);
    expect(text).toContain(`${linux.slice(0, 59)}…`);
    expect(text).toContain(`${windows.slice(0, 59)}…`);
    expect(text).toContain(CUT_FOOTER);
  });

  it('cuts a free-text cell before an emoji rather than through it', () => {
    // Prepare: the cut at 59 characters falls between the two halves of the first emoji
    const note = `${'x '.repeat(29)}😀😀😀 and more words here`;

    // Act
    const text = formatResult(result({ data: [{ note }] }));

    // Assess
    expect(text).toContain(`${'x '.repeat(29)}…`);
    expect(text).not.toMatch(/\p{Cs}/u);
    expect(text).toContain(CUT_FOOTER);
  });

  it('prints no footer when no cell was cut', () => {
    // Act
    const text = formatResult(result({ data: [{ hash: 'f'.repeat(64), note: 'short text' }] }));

    // Assess
    expect(text).toContain('f'.repeat(64));
    expect(text).not.toContain(CUT_FOOTER);
  });

  it('shows bidi overrides and invisible characters as escapes, so a file name cannot pass for another', () => {
    // Act / Assess: U+202E would show invoice\u202Efdp.exe as invoiceexe.pdf
    expect(plain('invoice\u202Efdp.exe')).toBe('invoice\\u202efdp.exe');
    expect(plain('a\u200Bb\u2066c\u061Cd')).toBe('a\\u200bb\\u2066c\\u061cd');
    // Invisible in any terminal: a soft hyphen, a variation selector, a Hangul filler, an annotation mark
    expect(plain('pay\u00ADroll\uFE0F\u3164\uFFF9.exe')).toBe('pay\\xadroll\\ufe0f\\u3164\\ufff9.exe');
    // Tag characters spell a hidden second text ('EVIL' here) after a name; each is a surrogate pair
    expect(plain('notes.txt\u{E0045}\u{E0056}\u{E0049}\u{E004C}')).toBe(
      'notes.txt\\udb40\\udc45\\udb40\\udc56\\udb40\\udc49\\udb40\\udc4c',
    );
    // What no terminal hides is left as it is: accents, other scripts, a whole emoji
    expect(plain('café 東京 \u{1F600}')).toBe('café 東京 \u{1F600}');
  });

  it('escapes what JSON.stringify leaves raw in --json output, and keeps the same document', () => {
    // Prepare: a one-character CSI (U+009B), DEL and a bidi override, which JSON.stringify passes through
    const hostile = result({ message: 'a\u009b2J\u007fb\u202Ec', data: [{ path: 'x\ny\u{E0041}' }] });

    // Act
    const text = terminalSafeJson(hostile);

    // Assess
    expect(text).not.toMatch(/[\u007f-\u009f\u202e\u{E0041}]/u);
    expect(text).toContain('a\\u009b2J\\u007fb\\u202ec');
    expect(text).toContain('x\\ny\\udb40\\udc41');
    expect(text.split('\n').length).toBeGreaterThan(5);
    expect(JSON.parse(text)).toEqual(hostile);
  });
  it('lays out a failed result: its error, the summary, and the data as a table of first-seen columns', () => {
    // Prepare: rows with different keys, a null value, and a value in a column wider than its header
    const failed = result({
      status: 'failed',
      message: 'Tanium is busy',
      error: { kind: 'transient', retryable: true },
      summary: { count: 2, missing: null },
      data: [
        { id: 'a', note: null },
        { id: 'bb', extra: 12345678 },
      ],
    });

    // Act
    const text = formatResult(failed);

    // Assess
    expect(text).toBe(
      [
        'FAILED: Tanium is busy',
        'error: transient (retryable)',
        '',
        'Summary:',
        '  count: 2',
        '  missing: ',
        '',
        'Data (2):',
        'id  note  extra',
        '--  ----  --------',
        'a',
        'bb        12345678',
      ].join('\n'),
    );
  });

  it('prints only the status line of a result with no error, summary or data', () => {
    // Act / Assess
    expect(formatResult(result({ message: 'Connection closed' }))).toBe('SUCCESS: Connection closed');
  });

  it('names the error of a result that is not worth retrying without "(retryable)", and lists plain values under "value"', () => {
    // Act
    const text = formatResult(
      result({
        status: 'failed',
        message: 'No',
        error: { kind: 'not_found', retryable: false },
        data: ['x', 7],
      }),
    );

    // Assess
    expect(text).toBe(
      ['FAILED: No', 'error: not_found', '', 'Data (2):', 'value', '-----', 'x', '7'].join('\n'),
    );
  });

  it.each([
    ['free text of exactly 60 characters', `${'w '.repeat(29)}ww`, false],
    ['free text of 61 characters', `${'w '.repeat(30)}w`, true],
    ['one word of exactly 256 characters', 'h'.repeat(256), false],
    ['one word of 257 characters', 'h'.repeat(257), true],
    [
      'a path of 75 characters with spaces',
      '/home/analyst/My Documents/quarterly report of the finance team (final).pdf',
      false,
    ],
    [
      'a command line of 71 characters with a quoted argument',
      'C:\\Program Files\\Vendor\\app.exe "C:\\Users\\analyst\\Documents\\a file.txt"',
      true,
    ],
    [
      'free text of 69 characters with a slash inside',
      'the user moved and/or renamed the file before the scan could reach it',
      true,
    ],
  ])('cuts %s only past the limit for its kind of value', (_case, value, cut) => {
    // Act
    const lines = formatResult(result({ data: [{ value }] })).split('\n');

    // Assess
    expect(lines.includes(value)).toBe(!cut);
    expect(lines.at(-1) === CUT_FOOTER).toBe(cut);
  });
});

describe('tanium-tr local result lines', () => {
  it('shows control characters of a result as escapes', () => {
    // Prepare
    const detail = {
      requestId: 'r-1',
      action: 'get process tree',
      status: 'success',
      message: `Found ${HOSTILE}`,
      parameter: {},
      summary: { name: `proc${HOSTILE}` },
      data: [],
      context: {},
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 5,
    } satisfies ResultDetail;

    // Act
    const lines = describeResult(detail).join('\n');

    // Assess
    expect(lines).toContain(`success: Found ${SHOWN} (5 ms)`);
    expect(lines).not.toContain('\u001b');
  });
});
