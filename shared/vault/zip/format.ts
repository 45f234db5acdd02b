/** The ZIP format (PKWARE APPNOTE) as the streaming reader reads it: record signatures, header fields. */

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
export const SIG_ZIP64_EOCD = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const SIG_DIGITAL_SIGNATURE = 0x05054b50;
export const SIG_ARCHIVE_EXTRA_DATA = 0x08064b50;
export const SIG_DESCRIPTOR = 0x08074b50;
export const SIG_SPANNED_SINGLE = 0x30304b50;
export const DESCRIPTOR_SIG_BYTES = Buffer.from([0x50, 0x4b, 0x07, 0x08]);
export const EOCD_SIG_BYTES = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
/** An end-of-central-directory record without a comment. */
export const EOCD_LENGTH = 22;

export const FLAG_ENCRYPTED = 0x1;
export const FLAG_DESCRIPTOR = 0x8;
export const FLAG_STRONG_ENCRYPTION = 0x40;
export const METHOD_STORE = 0;
export const METHOD_DEFLATE = 8;
export const METHOD_AES = 99;
export const U32 = 0x1_0000_0000;

/** A local file header, its sizes completed from the Zip64 extra field. */
export interface LocalHeader {
  name: string;
  flags: number;
  method: number;
  modTime: number;
  crc: number;
  compressedSize: number;
  size: number;
  zip64: boolean;
}
