/** S3 user metadata keys of a vault object (sent as `x-amz-meta-<key>`). */
export const METADATA_KEYS = {
  fileName: 'file-name',
  size: 'size',
  sha1: 'sha1',
  sha256: 'sha256',
  md5: 'md5',
  fileId: 'file-id',
  host: 'host',
  remotePath: 'remote-path',
  requestId: 'request-id',
  archiveName: 'archive-name',
  action: 'action',
} as const;

type MetadataField = keyof typeof METADATA_KEYS;

/** S3 allows 2 KB of user metadata per object, keys and values counted in UTF-8 bytes. */
export const MAX_METADATA_BYTES = 2048;

/**
 * Longest encoded value kept per key; with the keys they stay under MAX_METADATA_BYTES. The file name gets
 * 765: a name of 255 UTF-8 bytes (what Tanium and upload intel doc accept) encodes to at most 3 characters
 * per byte, so it is never cut. The hashes and the size have fixed lengths; the rest share what is left.
 */
export const METADATA_VALUE_BUDGETS: Readonly<Record<MetadataField, number>> = {
  fileName: 765,
  size: 20,
  sha1: 40,
  sha256: 64,
  md5: 32,
  fileId: 64,
  host: 255,
  remotePath: 300,
  requestId: 128,
  archiveName: 255,
  action: 32,
};

/** Values that are file names: cut, they keep their extension (it tells Tanium a document's type). */
const FILE_NAME_FIELDS: ReadonlySet<MetadataField> = new Set(['fileName', 'archiveName']);

/**
 * S3 user metadata travels in HTTP headers and must be printable ASCII. Every value is therefore stored
 * percent-encoded: UTF-8 bytes outside 0x20-0x7E, and `%` itself, become `%XX`, and so do spaces at
 * either end (HTTP trims them from a header value), so `decodeURIComponent` always restores the
 * original text (plain ASCII names read the same either way).
 */
export function encodeMetadataValue(value: string): string {
  return encodeWithin(value, Number.POSITIVE_INFINITY);
}

/** encodeMetadataValue cut to `maxLength` at a character boundary, keeping the start (a path its root). */
export function encodeWithin(value: string, maxLength: number): string {
  // Scanned, not matched with / +$/: that expression backtracks quadratically on a long run of spaces.
  let leading = 0;
  while (value[leading] === ' ') leading++;
  let trailingFrom = value.length;
  while (trailingFrom > leading && value[trailingFrom - 1] === ' ') trailingFrom--;
  let encoded = '';
  let index = 0;
  for (const char of value) {
    const code = char.codePointAt(0)!;
    const atEdge = char === ' ' && (index < leading || index >= trailingFrom);
    index += char.length;
    const piece =
      code >= 0x20 && code <= 0x7e && char !== '%' && !atEdge
        ? char
        : Array.from(
            Buffer.from(char, 'utf8'),
            (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
          ).join('');
    if (encoded.length + piece.length > maxLength) break;
    encoded += piece;
  }
  return encoded;
}

/**
 * encodeWithin for a file name: when it must be cut, the stem is cut and the extension kept, so
 * `<long name>.yara` stays a YARA document. A very long "extension" (over a quarter of the budget) is
 * no type suffix, and the name is cut like any value.
 */
function encodeFileNameValue(name: string, maxLength: number): string {
  const whole = encodeMetadataValue(name);
  if (whole.length <= maxLength) return whole;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? encodeMetadataValue(name.slice(dot)) : '';
  if (extension === '' || extension.length > maxLength / 4) return encodeWithin(name, maxLength);
  return encodeWithin(name.slice(0, dot), maxLength - extension.length) + extension;
}

/** The inverse of encodeMetadataValue; a value that is not valid percent-encoding is returned as is. */
export function decodeMetadataValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Builds the metadata map, leaving out unknown (undefined or empty) values, each within its budget. */
export function buildMetadata(
  values: Partial<Record<MetadataField, string | number>>,
): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [field, key] of Object.entries(METADATA_KEYS) as [MetadataField, string][]) {
    const value = values[field];
    if (value === undefined || value === '') continue;
    const budget = METADATA_VALUE_BUDGETS[field];
    metadata[key] = FILE_NAME_FIELDS.has(field)
      ? encodeFileNameValue(String(value), budget)
      : encodeWithin(String(value), budget);
  }
  return metadata;
}
