/**
 * `json` with U+FFFE and U+FFFF written as escapes. JSON.stringify writes both as they are, and SQS
 * refuses them in a message body (or replaces them): in a request body the envelope rewrites, and in
 * any event put on the bus, which a rule may deliver to a queue. To a JSON reader the escape is the same
 * character, and outside strings JSON holds none.
 */
export function sqsSafeJson(json: string): string {
  // Checked first: hardly any text holds either, and includes() scans faster than a replace.
  if (!json.includes('\uFFFE') && !json.includes('\uFFFF')) return json;
  return json.replace(/[\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
}
