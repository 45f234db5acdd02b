/** `message` followed by `sentence`, with the full stop or space between them that it needs. */
export function withSentence(message: string, sentence: string): string {
  const end = message === '' ? '' : /[.!?]$/.test(message) ? ' ' : '. ';
  return `${message}${end}${sentence}`;
}
