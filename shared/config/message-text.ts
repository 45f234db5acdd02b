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
  return text.length <= maxChars ? text : `${wholeCharacters(text, maxChars)}…`;
}

/** `text` in at most `maxChars` characters, the `…` that marks a cut included. */
export function cutTo(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${wholeCharacters(text, maxChars - 1)}…`;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** Characters past the cut that decide whether it falls inside one (a long combining sequence). */
const LOOKAHEAD = 32;

/**
 * The longest start of `text` of at most `maxUnits` UTF-16 units that ends between two characters as
 * a reader sees them: not through a surrogate pair (which JSON cannot carry as is), a flag, an emoji
 * sequence or a letter's accent. No ellipsis is added.
 */
export function wholeCharacters(text: string, maxUnits: number): string {
  if (text.length <= maxUnits) return text;
  let end = 0;
  for (const { index, segment } of graphemes.segment(text.slice(0, maxUnits + LOOKAHEAD))) {
    if (index + segment.length > maxUnits) break;
    end = index + segment.length;
  }
  // One character longer than the whole limit (a letter under hundreds of marks, a run of flags): cut
  // it between code points rather than keep nothing of the text.
  if (end === 0 && maxUnits > 0) {
    end = /[\uD800-\uDBFF]/.test(text.charAt(maxUnits - 1)) ? maxUnits - 1 : maxUnits;
  }
  return text.slice(0, end);
}

/** `message` followed by `sentence`, with the full stop or space between them that it needs. */
export function withSentence(message: string, sentence: string): string {
  const end = message === '' ? '' : /[.!?…]$/.test(message) ? ' ' : '. ';
  return `${message}${end}${sentence}`;
}
