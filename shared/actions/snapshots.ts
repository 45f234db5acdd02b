import * as z from 'zod/mini';
import { unexpectedResponse } from '../tanium/errors.ts';
import { connectionSegment, pagePairs, query, TR } from '../tanium/routes.ts';
import { connectionIdParam, withConnectionCheck } from './connection-check.ts';
import { isEmptyPayload } from './empty-payload.ts';
import { integer, list, optionalText } from './params.ts';
import { taskIdOf } from './task-response.ts';
import { defineAction } from './types.ts';

/** The snapshots family (tanium-api.md 2.7-2.9). */

/** A snapshot's id as Tanium gives it (`uuid` in list snapshots), in either letter case. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const createResponse = z.looseObject({
  status: z.optional(z.unknown()),
  taskInfo: z.optional(z.unknown()),
});
const snapshotPage = z.looseObject({
  snapshots: z.optional(z.nullable(z.array(z.looseObject({})))),
  totalCount: z.optional(z.nullable(z.number())),
});

export const createSnapshot = defineAction({
  name: 'create snapshot',
  id: 'create_snapshot',
  family: 'snapshots',
  readOnly: false,
  description:
    'Starts a snapshot of the endpoint behind a live connection; it appears in list snapshots when done.',
  params: {
    connection_id: connectionIdParam,
  },
  async run(ctx, params) {
    const path = `${TR}/conns/${connectionSegment('connection_id', params.connection_id)}/snapshot`;
    const response = await withConnectionCheck(ctx, params.connection_id, () =>
      ctx.client.request({
        method: 'POST',
        path,
        // Tanium expects the JSON content type on this bodiless POST.
        body: '',
        contentType: 'application/json',
        deadline: ctx.deadline,
        action: 'create snapshot',
      }),
    );
    const payload = response.payload;
    if (isEmptyPayload(payload)) {
      return { message: 'Create snapshot request status' };
    }
    const parsed = createResponse.safeParse(payload);
    if (!parsed.success || Array.isArray(payload)) throw unexpectedResponse('a snapshot task');
    const status = parsed.data.status;
    const shown = status === undefined || status === null || status === '' ? 'None' : String(status);
    return {
      message: `Create snapshot request status: ${shown}`,
      data: [parsed.data],
      summary: { task_id: taskIdOf(parsed.data) },
    };
  },
});

export const listSnapshots = defineAction({
  name: 'list snapshots',
  id: 'list_snapshots',
  family: 'snapshots',
  readOnly: true,
  description: 'Lists the snapshots, one page at a time.',
  params: {
    limit: integer('limit', { default: 1000, description: 'Maximum number of snapshots to return' }),
    offset: integer('offset', {
      default: 0,
      allowZero: true,
      description: 'Number of snapshots to skip',
    }),
    sort: optionalText('sort', {
      description: 'Sort column, `-` prefix for descending (e.g. -created); passed to Tanium as given',
      inUrl: 'query',
    }),
  },
  async run(ctx, params) {
    const response = await ctx.client.request({
      method: 'GET',
      path: `${TR}/snapshot`,
      query: query(pagePairs(params.limit, params.offset, params.sort)),
      deadline: ctx.deadline,
      action: 'list snapshots',
    });
    const payload = response.payload ?? {};
    const parsed = snapshotPage.safeParse(payload);
    if (!parsed.success || Array.isArray(payload)) throw unexpectedResponse('a list of snapshots');
    const rows = parsed.data.snapshots ?? [];
    const total = parsed.data.totalCount ?? 0;
    return { message: `Total snapshots: ${total}`, data: rows, summary: { total_snapshots: total } };
  },
});

export const deleteSnapshot = defineAction({
  name: 'delete snapshot',
  id: 'delete_snapshot',
  family: 'snapshots',
  readOnly: false,
  deletes: true,
  description: 'Deletes snapshots by uuid, in one request.',
  params: {
    snapshot_ids: list('snapshot_ids', {
      required: true,
      dedupe: true,
      emptyMessage: "Please provide at least one snapshot id in the 'snapshot_ids' parameter",
      // Tanium answers a delete of ids it does not have as one it carried out: a list sent as its
      // Python or JSON text ("['59998498-…']") would be reported deleted and delete nothing.
      itemFormat: {
        pattern: UUID,
        message: (item) =>
          `Please provide snapshot uuids in the 'snapshot_ids' parameter (got '${item}'), as list snapshots gives them`,
      },
      description: 'Comma list of snapshot uuids, as list snapshots gives them (anything else is refused)',
    }),
  },
  async run(ctx, params) {
    // `required` guarantees at least one id; the type cannot say so. In lower case, as Tanium lists
    // them: it matches ids exactly, and would report one in capitals deleted while deleting nothing.
    const ids = [...new Set((params.snapshot_ids ?? []).map((id) => id.toLowerCase()))];
    await ctx.client.request({
      method: 'DELETE',
      path: `${TR}/snapshot`,
      json: { ids },
      deadline: ctx.deadline,
      action: 'delete snapshot',
    });
    return { message: 'Delete snapshot requested' };
  },
});

export const snapshotActions = [createSnapshot, listSnapshots, deleteSnapshot];
