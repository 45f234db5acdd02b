import { describe, expect, it } from 'vitest';
import { cutTo, SHOWN_VALUE_CHARS, shown, withSentence } from '../../../shared/config/message-text.ts';

describe('Message text: caller text echoed', () => {
  it('keeps text up to the bound as it is and cuts longer text with an ellipsis', () => {
    // Prepare
    const atBound = 'a'.repeat(SHOWN_VALUE_CHARS);

    // Act
    const kept = shown(atBound);
    const cut = shown(`${atBound}b`);
    const name = shown('n'.repeat(65), 64);

    // Assess
    expect(kept).toBe(atBound);
    expect(cut).toBe(`${atBound}…`);
    expect(name).toBe(`${'n'.repeat(64)}…`);
  });

  it('cuts before a surrogate pair rather than through it', () => {
    // Prepare: the bound falls between the two halves of an emoji
    const text = `${'a'.repeat(9)}😀tail`;

    // Act
    const cut = shown(text, 10);

    // Assess
    expect(cut).toBe(`${'a'.repeat(9)}…`);
    expect(cut).not.toMatch(/[\uD800-\uDBFF]/);
  });

  it.each([
    ['a flag (two regional indicators)', `${'a'.repeat(8)}🇫🇷tail`, 10, `${'a'.repeat(8)}…`],
    ['an emoji sequence joined by ZWJ', `${'a'.repeat(5)}👩‍💻tail`, 8, `${'a'.repeat(5)}…`],
    ['a letter and its combining accent', `${'a'.repeat(9)}e\u0301tail`, 10, `${'a'.repeat(9)}…`],
  ])('cuts before %s rather than through it', (_what, text, max, expected) => {
    // Act
    const cut = shown(text, max);

    // Assess
    expect(cut).toBe(expected);
  });

  it.each([
    ['a letter under hundreds of marks', `x${'\u0336'.repeat(400)} rest`, 200, `x${'\u0336'.repeat(199)}…`],
    ['a run of flags', '🇫🇷🇩🇪🇮🇹', 3, '\uD83C\uDDEB…'],
    // U+1D167 is a combining mark outside the BMP: a surrogate pair inside the one long character
    ['a letter under astral marks', `x\u{1D167}\u0336${'\u{1D167}'.repeat(50)}`, 3, 'x\u{1D167}…'],
    ['a letter under astral marks, cut after a mark', `x\u0336${'\u{1D167}'.repeat(50)}`, 3, 'x\u0336…'],
  ])(
    'keeps what fits of %s longer than the whole limit, between code points',
    (_what, text, max, expected) => {
      // Act
      const cut = shown(text, max);

      // Assess
      expect(cut).toBe(expected);
    },
  );

  it('cuts to a total length, the ellipsis included, and only text longer than it', () => {
    // Prepare
    const exact = 'x'.repeat(10);

    // Act
    const kept = cutTo(exact, 10);
    const cut = cutTo(`${exact}y`, 10);
    const pair = cutTo(`${'a'.repeat(8)}😀tail`, 10);

    // Assess
    expect(kept).toBe(exact);
    expect(cut).toBe(`${'x'.repeat(9)}…`);
    expect(pair).toBe(`${'a'.repeat(8)}…`);
  });
});

describe('Message text: sentences joined', () => {
  it.each([
    ['Tanium said: not found', 'Send it again.', 'Tanium said: not found. Send it again.'],
    ['The bus does not exist.', 'Send it again.', 'The bus does not exist. Send it again.'],
    [
      `Endpoint does not exist: ${shown('h'.repeat(300))}`,
      'Next.',
      `Endpoint does not exist: ${'h'.repeat(200)}… Next.`,
    ],
    ['', 'Only this.', 'Only this.'],
  ])('joins %j and %j with what it needs between them', (message, sentence, expected) => {
    // Act
    const joined = withSentence(message, sentence);

    // Assess
    expect(joined).toBe(expected);
  });
});
