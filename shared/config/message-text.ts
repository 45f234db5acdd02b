/** How much of a name the caller chose (an action, a field, a parameter name) a message or log shows. */
export const SHOWN_NAME_CHARS = 64;

/** How much of a value the caller sent (a query, a destination, a group name) a message shows. */
export const SHOWN_VALUE_CHARS = 200;

/**
 * `text` as a message or log line echoes caller text: at most `maxChars` characters, then `…`. A value
 * of megabytes would otherwise make a result EventBridge refuses, or a log line CloudWatch splits
 * (256 KB), which no longer parses or matches its correlation id.
 */
export function shown(text: string, maxChars: number = SHOWN_VALUE_CHARS): string {
  if (text.length <= maxChars) return text;
  // Cut before a surrogate pair rather than through it: half a pair is not text JSON can carry as is.
  const end = /[\uD800-\uDBFF]/.test(text.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  return `${text.slice(0, end)}…`;
}

/** `message` followed by `sentence`, with the full stop or space between them that it needs. */
export function withSentence(message: string, sentence: string): string {
  const end = message === '' ? '' : /[.!?]$/.test(message) ? ' ' : '. ';
  return `${message}${end}${sentence}`;
}
