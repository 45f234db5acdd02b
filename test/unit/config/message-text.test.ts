import { describe, expect, it } from 'vitest';
import { SHOWN_VALUE_CHARS, shown } from '../../../shared/config/message-text.ts';

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
});
