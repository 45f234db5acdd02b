export { crc32 } from './crc32.ts';
export { baseName, decodeEntryName } from './names.ts';
export { type ZipEntry, ZipReader, type ZipReaderOptions } from './reader.ts';
export { ZIPCRYPTO_HEADER_LENGTH, ZipCryptoDecoder } from './zipcrypto.ts';
