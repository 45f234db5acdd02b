import { badRequest, empty, json, parseJson } from '../http.ts';
import type { Route } from '../router.ts';
import { fileSizeFor, isAbsentPath, makeEvidence } from '../state/files.ts';
import { makeSnapshot } from '../state/snapshots.ts';
import { hashString, parseSort, sortRows, zoneless } from '../util.ts';
import { activeConnection, isReply } from './connections.ts';
import { paging } from './paging.ts';

const USE_API = 'threat response use api';

export const taskRoutes: Route[] = [
  {
    method: 'POST',
    pattern: 'TR/conns/:cid/snapshot',
    permission: USE_API,
    accepts: 'application/json',
    handler: ({ state, params }) => {
      const connection = activeConnection(state, params.cid!);
      if (isReply(connection)) return connection;
      const task = state.tasks.create({
        type: 'snapshot',
        metadata: { connection: connection.id },
        finish: (at) => {
          const snapshot = makeSnapshot({
            uuid: state.nextUuid(),
            hostname: connection.hostname,
            connectionId: connection.id,
            startedAt: task.startTime,
            completedAt: at,
            size: 50_000_000 + (hashString(connection.id) % 50_000_000),
          });
          state.snapshots.push(snapshot);
          return { snapshot: { uuid: snapshot.uuid, name: snapshot.name, size: snapshot.size } };
        },
      });
      return json(200, { status: 'ACCEPTED', taskInfo: state.tasks.info(task) });
    },
  },
  {
    method: 'POST',
    pattern: 'TR/conns/:cid/file',
    permission: USE_API,
    accepts: 'application/json',
    handler: ({ state, params, body }) => {
      const connection = activeConnection(state, params.cid!);
      if (isReply(connection)) return connection;
      const input = parseJson(body) as { path?: unknown } | undefined;
      if (!input || typeof input.path !== 'string') return badRequest('Missing path');
      const path = input.path;
      const task = state.tasks.create({
        type: 'fileDownload',
        metadata: { connection: connection.id, paths: [path], compress: 'true' },
        ...(isAbsentPath(path) ? { failWith: `File not found: ${path}` } : {}),
        failedResults: { completed: [], failed: [path], fileResults: [] },
        finish: (at) => {
          const evidence = makeEvidence({
            uuid: state.nextUuid(),
            hostname: connection.hostname,
            path,
            downloaded: zoneless(at),
            size: fileSizeFor(path),
          });
          state.files.push(evidence);
          return {
            completed: [path],
            failed: [],
            fileResults: [
              {
                finalPath: `/opt/Tanium/files/${evidence.uuid}.zip`,
                response: { source: path, totalBytes: evidence.size, totalTimeMs: at - task.startTime },
              },
            ],
          };
        },
      });
      return json(200, { status: 'ACCEPTED', taskInfo: state.tasks.info(task) });
    },
  },
  {
    method: 'GET',
    pattern: 'TR/tasks/:id',
    permission: USE_API,
    handler: ({ state, params }) => {
      if (!/^\d+$/.test(params.id!)) return badRequest(`Invalid task id: ${params.id}`);
      const task = state.tasks.get(Number(params.id));
      if (!task) return json(404, { text: `Task not found: ${params.id}` });
      return json(200, { data: state.tasks.toJson(task) });
    },
  },
  {
    method: 'GET',
    pattern: 'TR/snapshot',
    permission: USE_API,
    handler: ({ state, query }) => {
      const page = paging(query, 100);
      if (isReply(page)) return page;
      const sorted = sortRows(state.snapshots, parseSort(query.get('sort')));
      return json(200, {
        snapshots: sorted.slice(page.offset, page.offset + page.limit),
        totalCount: state.snapshots.length,
      });
    },
  },
  {
    method: 'DELETE',
    pattern: 'TR/snapshot',
    permission: USE_API,
    handler: ({ state, body }) => {
      const input = parseJson(body) as { ids?: unknown } | undefined;
      if (!input || !Array.isArray(input.ids)) return badRequest('Request body must be {"ids":[...]}');
      const ids = new Set(input.ids.map(String));
      state.snapshots = state.snapshots.filter((snapshot) => !ids.has(snapshot.uuid));
      return empty(204);
    },
  },
];
