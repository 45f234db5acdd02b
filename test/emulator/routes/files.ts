import { empty, json, type Reply } from '../http.ts';
import { cachedArchive, recordArchive } from '../large-archive-cache.ts';
import type { Route } from '../router.ts';
import { type FileEvidence, fileContent, generatedChunks } from '../state/files.ts';
import type { EmulatorState } from '../state/index.ts';
import { parseSort, sortRows } from '../util.ts';
import { buildZip, predictStoredLength, type ZipEntry, zipChunks } from '../zip.ts';
import { isReply } from './connections.ts';
import { paging } from './paging.ts';

const USE_API = 'threat response use api';

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((part) => part !== '');
  return parts[parts.length - 1] ?? 'file';
}

function findEvidence(state: EmulatorState, uuid: string): FileEvidence | Reply {
  return (
    state.files.find((item) => item.uuid === uuid) ?? json(404, { text: `File evidence not found: ${uuid}` })
  );
}

function archiveEntries(state: EmulatorState, evidence: FileEvidence): ZipEntry[] {
  const switches = state.switches;
  const common = {
    encryption:
      switches.downloadArchive === 'unencrypted'
        ? 'none'
        : switches.downloadArchive === 'aes'
          ? 'aes'
          : 'zipcrypto',
    password: switches.downloadArchive === 'wrong-password' ? 'not-infected' : 'infected',
    // The reader tries 'infected', which must fail every time, not pass the check once in 256.
    ...(switches.downloadArchive === 'wrong-password' ? { refusedBy: 'infected' } : {}),
    dataDescriptor: switches.downloadDataDescriptor,
    mtime: new Date(Date.parse('2021-11-16T19:19:39.000Z')),
  } as const;
  const name = switches.downloadEntryName ?? baseName(evidence.path);
  if (switches.downloadLargeFileBytes > 0) {
    const size = switches.downloadLargeFileBytes;
    return [
      {
        ...common,
        name,
        method: switches.downloadLargeFileMethod,
        size,
        stream: () => generatedChunks(size),
        dataDescriptor: true,
      },
    ];
  }
  const entries: ZipEntry[] = [
    { ...common, name, method: 'deflate', data: fileContent(evidence.path, evidence.size) },
  ];
  if (switches.downloadMultipleEntries) {
    entries.push({ ...common, name: 'collected/', method: 'store' });
    entries.push({
      ...common,
      name: 'collected/metadata.txt',
      method: 'deflate',
      data: Buffer.from(`host=${evidence.hostname}\npath=${evidence.path}\nsize=${evidence.size}\n`),
    });
  }
  return entries;
}

/** Flips bytes inside the first entry's data so CRC or inflate checks fail. */
function corrupt(archive: Buffer): Buffer {
  const copy = Buffer.from(archive);
  const nameLength = copy.readUInt16LE(26);
  const start = 30 + nameLength + copy.readUInt16LE(28) + 16;
  for (let i = start; i < Math.min(start + 32, copy.length - 100); i++) copy[i] = copy[i]! ^ 0x5a;
  return copy;
}

async function download(state: EmulatorState, uuid: string): Promise<Reply> {
  const evidence = findEvidence(state, uuid);
  if (isReply(evidence)) return evidence;
  const switches = state.switches;
  if (switches.downloadJson200) return json(200, { evidence });
  const headers: Record<string, string> = {
    'content-type': switches.downloadOctetStream ? 'application/octet-stream' : 'application/zip',
  };
  if (!switches.downloadNoContentDisposition)
    headers['content-disposition'] = `attachment; filename="${evidence.uuid}.zip"`;
  const entries = archiveEntries(state, evidence);
  let reply: Reply;
  if (switches.downloadLargeFileBytes > 0) {
    const { stream: _stream, ...shape } = entries[0]!;
    const key = JSON.stringify(shape);
    const cached = cachedArchive(key);
    const length = cached?.length ?? predictStoredLength(entries[0]!);
    reply = {
      status: 200,
      headers,
      body: cached?.body ?? recordArchive(key, zipChunks(entries)),
      ...(length !== undefined && !switches.downloadChunked ? { length } : {}),
    };
  } else {
    let archive = await buildZip(entries);
    if (switches.downloadArchive === 'corrupt') archive = corrupt(archive);
    reply = switches.downloadChunked
      ? {
          status: 200,
          headers,
          body: (async function* () {
            yield archive;
          })(),
        }
      : { status: 200, headers, body: archive };
    if (switches.downloadStallMidBody) reply.stallAfter = Math.floor(archive.length / 2);
  }
  if (switches.downloadStallMidBody && reply.stallAfter === undefined) reply.stallAfter = 1024 * 1024;
  return reply;
}

export const fileRoutes: Route[] = [
  {
    method: 'GET',
    pattern: 'TR/filedownload',
    permission: USE_API,
    handler: ({ state, query }) => {
      const page = paging(query, 100);
      if (isReply(page)) return page;
      const sorted = sortRows(state.files, parseSort(query.get('sort')));
      return json(200, {
        fileEvidence: sorted.slice(page.offset, page.offset + page.limit),
        totalCount: state.files.length,
      });
    },
  },
  {
    method: 'GET',
    pattern: 'TR/filedownload/:uuid',
    permission: USE_API,
    handler: ({ state, params }) => {
      const evidence = findEvidence(state, params.uuid!);
      return isReply(evidence) ? evidence : json(200, { evidence });
    },
  },
  {
    method: 'DELETE',
    pattern: 'TR/filedownload/:uuid',
    permission: USE_API,
    handler: ({ state, params }) => {
      const evidence = findEvidence(state, params.uuid!);
      if (isReply(evidence)) return evidence;
      state.files = state.files.filter((item) => item !== evidence);
      return empty(204);
    },
  },
  {
    method: 'GET',
    pattern: 'TR/filedownload/data/:uuid',
    permission: USE_API,
    handler: ({ state, params }) => download(state, params.uuid!),
  },
];
