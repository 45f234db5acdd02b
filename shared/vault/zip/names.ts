// Code page 437 (the ZIP default when the UTF-8 flag is not set), upper half.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeCp437(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  return text;
}

/**
 * Decodes an entry name: UTF-8 when the language-encoding flag (bit 11) is set or an Info-ZIP Unicode
 * path field written for this raw name is present (the reader checks its CRC); otherwise UTF-8 when the
 * bytes are valid UTF-8 (what Info-ZIP writes on Unix), else CP437.
 */
export function decodeEntryName(raw: Uint8Array, flags: number, unicodePath: string | undefined): string {
  if (unicodePath !== undefined) return unicodePath;
  if (flags & 0x800) return Buffer.from(raw).toString('utf8');
  try {
    return utf8.decode(raw);
  } catch {
    return decodeCp437(raw);
  }
}

/**
 * The last path segment, splitting on both `/` and `\` (Windows endpoints send backslashes). A leading
 * drive (`C:`, `C:\`, or drive-relative `C:name`) is not part of any name: a drive root alone has none.
 */
export function baseName(path: string): string {
  const parts = path
    .replace(/^[A-Za-z]:/, '')
    .split(/[/\\]/)
    .filter((part) => part !== '' && part !== '.' && part !== '..');
  return parts.at(-1) ?? '';
}
