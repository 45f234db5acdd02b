/**
 * The text of an HTML page with its markup removed: script and style elements, comments and tags each
 * become one space; entities are left as they are. One pass over the page: error bodies may be megabytes,
 * and the regular expressions this replaces scanned to the end of the page again for every `<` that had
 * no `>` (or `<script>` no `</script>`, `<!--` no `-->`) after it, minutes for a large page.
 */
export function stripMarkup(html: string): string {
  const parts: string[] = [];
  // A closer searched for once and not found is not found from any later position either.
  const missing = new Set<string>();
  const closing = (
    pattern: RegExp,
    key: string,
    from: number,
  ): { start: number; end: number } | undefined => {
    if (missing.has(key)) return undefined;
    pattern.lastIndex = from;
    const match = pattern.exec(html);
    if (match) return { start: match.index, end: match.index + match[0].length };
    missing.add(key);
    return undefined;
  };
  const element = /<(script|style)\b/iy;
  const ends = { script: /<\/script\s*>/gi, style: /<\/style\s*>/gi };
  const tagEnd = />/g;
  const commentEnd = /-->/g;

  let at = 0;
  while (at < html.length) {
    const open = html.indexOf('<', at);
    if (open === -1) break;
    parts.push(html.slice(at, open));
    element.lastIndex = open;
    const name = element.exec(html)?.[1]?.toLowerCase() as keyof typeof ends | undefined;
    const whole = name
      ? closing(ends[name], name, open)
      : html.startsWith('<!--', open)
        ? closing(commentEnd, '-->', open + 4)
        : undefined;
    // Without its closer, a script, style or comment opener is removed as a plain tag, as before.
    const end = whole?.end ?? closing(tagEnd, '>', open + 1)?.end;
    if (end === undefined) {
      // No `>` anywhere after it: this `<` and every later one are text.
      at = open;
      break;
    }
    parts.push(' ');
    at = end;
  }
  parts.push(html.slice(at));
  return parts.join('');
}
