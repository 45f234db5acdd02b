import { describe, expect, it } from 'vitest';
import { envInteger } from '../../../shared/config/environment.ts';

describe('Environment: whole numbers', () => {
  it.each([
    ['a sign', '+5'],
    ['a negative number', '-5'],
    ['an exponent', '1e2'],
    ['hexadecimal', '0x10'],
    ['a fraction', '2.5'],
  ])('refuses %s, written otherwise than in decimal digits', (_case, text) => {
    // Act
    const parsed = envInteger(1, 1_000).safeParse(text);

    // Assess
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('must be a whole number from 1 to 1000');
  });

  it('takes 0 where it is allowed, but not written as -0', () => {
    // Prepare
    const schema = envInteger(1, 1_000, { orZero: true });

    // Act
    const zero = schema.safeParse('0');
    const minusZero = schema.safeParse('-0');

    // Assess
    expect(zero.data).toBe(0);
    expect(minusZero.success).toBe(false);
    expect(minusZero.error?.issues[0]?.message).toBe('must be 0 or a whole number from 1 to 1000');
  });
});
