import type { core } from 'zod/mini';
import { SHOWN_NAME_CHARS, shown } from './message-text.ts';

/** How many unknown field names a message lists: the caller chose them, as many as it liked. */
const SHOWN_KEYS = 10;

/**
 * A readable sentence for one zod issue that names the field and what was expected, and never echoes
 * the received value (it may be a password). Field names the caller chose are cut (`shown`).
 */
export function describeIssue(issue: core.$ZodIssue, label = 'field'): string {
  const path = shown(issue.path.map(String).join('.'), SHOWN_NAME_CHARS) || '(root)';
  switch (issue.code) {
    case 'invalid_type':
      return `${label} '${path}' must be ${article(issue.expected)}`;
    case 'too_small':
      return `${label} '${path}' must be at least ${String(issue.minimum)}${issue.origin === 'string' ? ' characters long' : ''}`;
    case 'too_big':
      return `${label} '${path}' must be at most ${String(issue.maximum)}${issue.origin === 'string' ? ' characters long' : ''}`;
    case 'invalid_format':
      return `${label} '${path}' must be a valid ${issue.format}`;
    case 'invalid_value':
      return `${label} '${path}' must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown ${label}${issue.keys.length > 1 ? 's' : ''} ${shownKeys(issue.keys)}`;
    default:
      return issue.message && issue.message !== 'Invalid input'
        ? `${label} '${path}': ${issue.message}`
        : `${label} '${path}' is invalid`;
  }
}

function shownKeys(keys: readonly string[]): string {
  const listed = keys.slice(0, SHOWN_KEYS).map((key) => `'${shown(key, SHOWN_NAME_CHARS)}'`);
  const more = keys.length - listed.length;
  return `${listed.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

function article(expected: string): string {
  if (expected === 'int') return 'an integer';
  if (expected === 'object' || expected === 'array') return `an ${expected}`;
  return `a ${expected}`;
}
