import * as z from 'zod/mini';
import { unexpectedResponse } from '../tanium/errors.ts';
import { connectionSegment, pagePairs, query, segment, TR } from '../tanium/routes.ts';
import { connectionIdParam, withConnectionCheck } from './connection-check.ts';
import { isEmptyPayload } from './empty-payload.ts';
import { fileIdParam, getFile } from './get-file.ts';
import { integer, optionalText, requiredText } from './params.ts';
import { taskIdOf } from './task-response.ts';
import { defineAction } from './types.ts';

/** The evidence family (tanium-api.md 2.14-2.17). */

const filePage = z.looseObject({
  fileEvidence: z.optional(z.nullable(z.array(z.unknown()))),
  totalCount: z.optional(z.nullable(z.number())),
});

export const listFiles = defineAction({
  name: 'list files',
  id: 'list_files',
  family: 'evidence',
  readOnly: true,
  description: 'Lists the files collected from endpoints (file evidence), one page at a time.',
  params: {
    limit: integer('limit', { default: 1000, description: 'Maximum number of files to return' }),
    offset: integer('offset', { default: 0, allowZero: true, description: 'Number of files to skip' }),
    sort: optionalText('sort', {
      description:
        'Sort column (uuid, hostname, path, downloaded, size), `-` prefix for descending; passed to Tanium as given',
      inUrl: 'query',
    }),
  },
  async run(ctx, params) {
    const response = await ctx.client.request({
      method: 'GET',
      path: `${TR}/filedownload`,
      query: query(pagePairs(params.limit, params.offset, params.sort)),
      deadline: ctx.deadline,
      action: 'list files',
    });
    const payload = response.payload;
    if (isEmptyPayload(payload)) return { message: 'No results found' };
    const parsed = filePage.safeParse(payload);
    if (!parsed.success || Array.isArray(payload)) throw unexpectedResponse('a list of files');
    const total = parsed.data.totalCount ?? 0;
    return {
      message: `File count: ${total}`,
      data: parsed.data.fileEvidence ?? [],
      summary: { file_count: total },
    };
  },
});

export const saveFile = defineAction({
  name: 'save file',
  id: 'save_file',
  family: 'evidence',
  readOnly: false,
  description:
    'Collects a file from the endpoint behind a live connection; it appears in list files when done.',
  params: {
    connection_id: connectionIdParam,
    file_path: requiredText('file_path', {
      trim: false,
      description: 'Path of the file on the endpoint, e.g. C:\\Users\\bob\\evil.exe',
    }),
  },
  async run(ctx, params) {
    const response = await withConnectionCheck(ctx, params.connection_id, () =>
      ctx.client.request({
        method: 'POST',
        path: `${TR}/conns/${connectionSegment('connection_id', params.connection_id)}/file`,
        json: { path: params.file_path },
        deadline: ctx.deadline,
        action: 'save file',
      }),
    );
    const payload = response.payload;
    const empty = payload === null || payload === undefined || payload === '';
    return {
      message: 'Save file requested',
      data: empty ? [] : [payload],
      summary: { task_id: taskIdOf(payload) },
    };
  },
});

export const deleteFile = defineAction({
  name: 'delete file',
  id: 'delete_file',
  family: 'evidence',
  readOnly: false,
  deletes: true,
  description: 'Deletes a collected file (file evidence) by its uuid.',
  params: {
    file_id: fileIdParam,
  },
  async run(ctx, params) {
    await ctx.client.request({
      method: 'DELETE',
      path: `${TR}/filedownload/${segment('file_id', params.file_id)}`,
      deadline: ctx.deadline,
      action: 'delete file',
    });
    return { message: 'Delete file requested' };
  },
});

export const evidenceActions = [listFiles, saveFile, deleteFile, getFile];
