import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { describeIssue } from '../../../shared/config/zod-messages.ts';

/** The first issue zod finds in `value`, as the message a caller reads. */
function messageFor(schema: z.ZodMiniType, value: unknown, label?: string): string {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error('expected the value to be refused');
  const [issue] = parsed.error.issues;
  if (issue === undefined) throw new Error('expected an issue');
  return describeIssue(issue, label);
}

describe('Zod messages: what was expected, never the value received', () => {
  it.each([
    [
      'a string too short, in characters',
      z.object({ name: z.string().check(z.minLength(3)) }),
      { name: 'ab' },
      "field 'name' must be at least 3 characters long",
    ],
    [
      'a number too small, with no unit',
      z.object({ limit: z.number().check(z.minimum(3)) }),
      { limit: 1 },
      "field 'limit' must be at least 3",
    ],
    [
      'a list too short, with no unit',
      z.object({ ids: z.array(z.string()).check(z.minLength(2)) }),
      { ids: [] },
      "field 'ids' must be at least 2",
    ],
    [
      'a string too long, in characters',
      z.object({ name: z.string().check(z.maxLength(3)) }),
      { name: 'abcd' },
      "field 'name' must be at most 3 characters long",
    ],
    [
      'a number too big, with no unit',
      z.object({ limit: z.number().check(z.maximum(3)) }),
      { limit: 5 },
      "field 'limit' must be at most 3",
    ],
    [
      'a value not in the required format',
      z.object({ contact: z.email() }),
      { contact: 'secret-not-an-address' },
      "field 'contact' must be a valid email",
    ],
    [
      'a value not one of those allowed',
      z.object({ mode: z.enum(['fast', 'slow']) }),
      { mode: 'secret-mode' },
      'field \'mode\' must be one of "fast", "slow"',
    ],
    [
      'a number that is not whole',
      z.object({ count: z.int() }),
      { count: 1.5 },
      "field 'count' must be an integer",
    ],
  ])('words %s', (_case, schema, value, expected) => {
    // Act
    const message = messageFor(schema, value);

    // Assess
    expect(message).toBe(expected);
    expect(message).not.toContain('secret');
  });
});
