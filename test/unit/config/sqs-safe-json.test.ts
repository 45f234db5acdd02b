import { describe, expect, it } from 'vitest';
import { sqsSafeJson } from '../../../shared/config/sqs-safe-json.ts';

describe('SQS-safe JSON', () => {
  it.each([
    ['U+FFFE alone', '\uFFFE', '\\ufffe'],
    ['U+FFFF alone', '\uFFFF', '\\uffff'],
    ['both', '\uFFFE and \uFFFF', '\\ufffe and \\uffff'],
  ])('writes %s as an escape', (_case, text, escaped) => {
    // Prepare
    const json = JSON.stringify({ text });

    // Act
    const safe = sqsSafeJson(json);

    // Assess
    expect(safe).toBe(`{"text":"${escaped}"}`);
    expect(JSON.parse(safe)).toEqual({ text });
  });

  it('leaves JSON without them as it is', () => {
    expect(sqsSafeJson('{"text":"plain \\u00e9"}')).toBe('{"text":"plain \\u00e9"}');
  });
});
