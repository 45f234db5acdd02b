/**
 * The text of an HTML page with its markup removed, each piece replaced by one space, in the order the
 * regular expressions this replaces ran: script and style elements
 * (`<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>`), then comments (`<!--[\s\S]*?-->`), then tags
 * (`<[^>]*>`). Entities are left as they are.
 *
 * Each pass reads the page once. Error bodies may be megabytes, and those expressions scanned to the
 * end of the page again for every opener without a closer after it: minutes for a large page. A closer
 * searched for from some position and not found is not found from any later position either, and every
 * pass only moves forward, so each remembers what it did not find.
 */
export function stripMarkup(html: string): string {
  return withoutTags(withoutComments(withoutElements(html)));
}

/** The end of the first match of `pattern` at or after `from`, remembering a miss under `key`. */
function finder(text: string) {
  const missing = new Set<string>();
  return (pattern: RegExp, key: string, from: number): number | undefined => {
    if (missing.has(key)) return undefined;
    pattern.lastIndex = from;
    const match = pattern.exec(text);
    if (match) return match.index + match[0].length;
    missing.add(key);
    return undefined;
  };
}

/** `text` with each [start, end) range replaced by one space; the ranges are in order and apart. */
function spaced(text: string, ranges: ReadonlyArray<readonly [number, number]>): string {
  const parts: string[] = [];
  let copied = 0;
  for (const [start, end] of ranges) {
    parts.push(text.slice(copied, start), ' ');
    copied = end;
  }
  parts.push(text.slice(copied));
  return parts.join('');
}

function withoutElements(html: string): string {
  const find = finder(html);
  const opener = /<(script|style)\b/gi;
  const closers = { script: /<\/script\s*>/gi, style: /<\/style\s*>/gi };
  const ranges: Array<[number, number]> = [];
  for (let match = opener.exec(html); match; match = opener.exec(html)) {
    const tagEnd = find(/>/g, '>', match.index);
    if (tagEnd === undefined) break;
    const name = (match[1] as string).toLowerCase() as keyof typeof closers;
    const end = find(closers[name], name, tagEnd);
    // Without its closer this opener is left to the tag pass, and the search goes on from the next
    // character, as the expression's did.
    if (end === undefined) continue;
    ranges.push([match.index, end]);
    opener.lastIndex = end;
  }
  return spaced(html, ranges);
}

function withoutComments(html: string): string {
  const find = finder(html);
  const ranges: Array<[number, number]> = [];
  for (let open = html.indexOf('<!--'); open !== -1; ) {
    const end = find(/-->/g, '-->', open + 4);
    if (end === undefined) break;
    ranges.push([open, end]);
    open = html.indexOf('<!--', end);
  }
  return spaced(html, ranges);
}

function withoutTags(html: string): string {
  const ranges: Array<[number, number]> = [];
  for (let open = html.indexOf('<'); open !== -1; ) {
    const close = html.indexOf('>', open + 1);
    // No `>` after this `<`: it and every later one are text.
    if (close === -1) break;
    ranges.push([open, close + 1]);
    open = html.indexOf('<', close + 1);
  }
  return spaced(html, ranges);
}

/** The named entities error texts decode (any other name is left as it is), and redaction knows. */
export const NAMED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ['nbsp', ' '],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
  ['amp', '&'],
]);
