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

/** Longest encoded value kept per key: S3 allows 2 KB of user metadata in all. */
export const MAX_METADATA_VALUE_LENGTH = 512;

/**
 * S3 user metadata travels in HTTP headers and must be printable ASCII. Every value is therefore stored
 * percent-encoded: UTF-8 bytes outside 0x20-0x7E, and `%` itself, become `%XX`, so `decodeURIComponent`
 * always restores the original text (plain ASCII names read the same either way). Values longer than
 * MAX_METADATA_VALUE_LENGTH are cut at an escape boundary (long remote paths keep their start).
 */
export function encodeMetadataValue(value: string): string {
  let encoded = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    const piece =
      code >= 0x20 && code <= 0x7e && char !== '%'
        ? char
        : Array.from(
            Buffer.from(char, 'utf8'),
            (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
          ).join('');
    if (encoded.length + piece.length > MAX_METADATA_VALUE_LENGTH) break;
    encoded += piece;
  }
  return encoded;
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

/** Builds the metadata map, leaving out unknown (undefined or empty) values. */
export function buildMetadata(
  values: Partial<Record<keyof typeof METADATA_KEYS, string | number>>,
): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [field, key] of Object.entries(METADATA_KEYS) as [keyof typeof METADATA_KEYS, string][]) {
    const value = values[field];
    if (value === undefined || value === '') continue;
    metadata[key] = encodeMetadataValue(String(value));
  }
  return metadata;
}
