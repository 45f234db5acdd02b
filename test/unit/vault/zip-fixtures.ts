import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../../../shared/vault/zip/crc32.ts';

/** A scratch directory in the OS temp dir with helpers to run Info-ZIP `zip` in it. */
export class ZipWorkspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'vault-zip-'));

  file(name: string, data: Uint8Array | string): string {
    const path = join(this.dir, name);
    writeFileSync(path, data);
    return path;
  }

  read(name: string): Buffer {
    return readFileSync(join(this.dir, name));
  }

  /**
   * Runs `zip <args>` in the workspace and returns the archive named `archive`. With `-` as the archive,
   * zip writes to stdout, which goes to a file (zip refuses `-0` when stdout is a pipe).
   */
  zip(archive: string, args: string[], stdin?: Uint8Array): Buffer {
    const outPath = join(this.dir, `stdout-${Date.now()}-${Math.random().toString(36).slice(2)}.zip`);
    const out = archive === '-' ? openSync(outPath, 'w') : 'pipe';
    try {
      const result = spawnSync('zip', ['-q', ...args], {
        cwd: this.dir,
        input: stdin,
        stdio: ['pipe', out, 'pipe'],
        maxBuffer: 256 * 1024 * 1024,
      });
      if (result.status !== 0) throw new Error(`zip failed: ${result.stderr?.toString()}`);
    } finally {
      if (typeof out === 'number') closeSync(out);
    }
    return archive === '-' ? readFileSync(outPath) : this.read(archive);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Text that deflates well, with some random bytes so it is not trivial. */
export function sampleText(bytes: number): Buffer {
  const words = Array.from({ length: 200 }, () => randomBytes(4).toString('hex'));
  let text = '';
  while (text.length < bytes) text += `${words[Math.floor(Math.random() * words.length)]} `;
  return Buffer.from(text.slice(0, bytes));
}

/** Feeds `data` in chunks of `size` bytes, like an HTTP body. */
export async function* chunked(data: Uint8Array, size = 4096): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

export interface CraftedEntry {
  name: string;
  data: Uint8Array;
  method?: number;
  flags?: number;
  /** Overrides the CRC written in the header. */
  crc?: number;
  /** Extra fields, written in both the local and the central header. */
  extra?: Uint8Array;
}

/**
 * An Info-ZIP Unicode Path extra field (0x7075, version 1) giving `path`, for the header name
 * `nameInHeader` (whose CRC-32 it carries).
 */
export function unicodePathField(path: string, nameInHeader: string): Buffer {
  const utf8 = Buffer.from(path, 'utf8');
  const field = Buffer.alloc(9 + utf8.length);
  field.writeUInt16LE(0x7075, 0);
  field.writeUInt16LE(5 + utf8.length, 2);
  field.writeUInt8(1, 4);
  field.writeUInt32LE(crc32(Buffer.from(nameInHeader, 'utf8')), 5);
  utf8.copy(field, 9);
  return field;
}

/** A Zip64 extended information extra field (0x0001) holding `sizes` as 64-bit values, in order. */
export function zip64Field(sizes: number[]): Buffer {
  const field = Buffer.alloc(4 + 8 * sizes.length);
  field.writeUInt16LE(0x0001, 0);
  field.writeUInt16LE(8 * sizes.length, 2);
  for (const [i, size] of sizes.entries()) field.writeBigUInt64LE(BigInt(size), 4 + 8 * i);
  return field;
}

/** Builds a minimal unencrypted stored archive by hand, for headers Info-ZIP never writes. */
export function craftZip(entries: CraftedEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const crc = entry.crc ?? crc32(entry.data);
    const extra = Buffer.from(entry.extra ?? []);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(entry.flags ?? 0, 6);
    local.writeUInt16LE(entry.method ?? 0, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(entry.flags ?? 0, 8);
    central.writeUInt16LE(entry.method ?? 0, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, extra, Buffer.from(entry.data));
    centrals.push(central, name, extra);
    offset += 30 + name.length + extra.length + entry.data.length;
  }
  const centralBytes = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralBytes, end]);
}
