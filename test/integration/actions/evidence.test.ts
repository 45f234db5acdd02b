import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deleteFile, listFiles, saveFile } from '../../../shared/actions/evidence.ts';
import { executeAction } from '../../../shared/actions/execute.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { FULL_PERSONA, PERMISSIONS } from '../../emulator/index.ts';
import { clientFor, contextFor, type Emulator, SEEDED, startTestEmulator } from '../../helpers/tanium.ts';

describe('Actions: evidence family', () => {
  let emulator: Emulator;
  let ctx: ActionContext;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    ctx = contextFor(clientFor(emulator), emulator);
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => {
    emulator.reset();
  });

  const run = (action: ActionDefinition, params: Record<string, unknown>) =>
    executeAction(action as unknown as ActionDefinition, params, ctx);

  it('registers list files, save file and delete file in the evidence family', () => {
    expect(findAction('list files')?.family).toBe('evidence');
    expect(findAction('save_file')?.family).toBe('evidence');
    expect(findAction('delete file')?.family).toBe('evidence');
  });

  describe('Action: list files', () => {
    it('fails clearly on a plain-text 200', async () => {
      // Prepare
      emulator.faults.add({ kind: 'status', status: 200, shape: 'plain', message: 'odd' });

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result.message).toBe(
        'Error occurred while processing the response from server. Expected a list of files',
      );
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
    });

    it('returns every file evidence item unchanged with file_count from totalCount in one request', async () => {
      // Prepare
      const expected = structuredClone(emulator.state.files);

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'File count: 3',
        parameter: {},
        data: expected,
        summary: { file_count: 3 },
      });
      expect(emulator.requestCount()).toBe(1);
      const [request] = emulator.requests;
      expect(request?.method).toBe('GET');
      expect(request?.path).toBe(`${TR}/filedownload`);
      expect(request?.rawQuery).toBe('limit=1000');
      expect(request?.headers['content-type']).toBeUndefined();
    });

    it('sends limit, offset and sort in that order and returns the requested page', async () => {
      // Prepare
      const bySizeDesc = [...emulator.state.files].sort((a, b) => b.size - a.size);

      // Act
      const result = await run(listFiles, { limit: '1', offset: 1, sort: ' -size ' });

      // Assess
      expect(result.status).toBe('success');
      expect(result.data).toEqual([bySizeDesc[1]]);
      expect(result.summary).toEqual({ file_count: 3 });
      expect(emulator.requests[0]?.rawQuery).toBe('limit=1&offset=1&sort=-size');
    });

    it('reports File count: 0 with no data when Tanium has no file evidence', async () => {
      // Prepare
      emulator.state.files = [];

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result.message).toBe('File count: 0');
      expect(result.data).toEqual([]);
      expect(result.summary).toEqual({ file_count: 0 });
    });

    it.each([
      ['an empty body', { shape: 'empty' as const }],
      ['{}', { shape: 'plain' as const, message: '{}' }],
      ['[]', { shape: 'plain' as const, message: '[]' }],
    ])('succeeds with No results found and no data or summary for %s', async (_name, body) => {
      // Prepare
      emulator.faults.add({ path: `${TR}/filedownload`, kind: 'status', status: 200, ...body });

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'No results found',
        parameter: {},
        data: [],
        summary: {},
      });
    });

    it('returns no data when Tanium counts files but lists none', async () => {
      // Prepare
      emulator.faults.add({
        path: `${TR}/filedownload`,
        kind: 'status',
        status: 200,
        shape: 'plain',
        message: JSON.stringify({ totalCount: 3 }),
      });

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result).toMatchObject({ status: 'success', message: 'File count: 3', data: [] });
      expect(result.summary).toEqual({ file_count: 3 });
    });

    it('uses 0 for file_count when totalCount is absent', async () => {
      // Prepare
      emulator.faults.add({
        path: `${TR}/filedownload`,
        kind: 'status',
        status: 200,
        shape: 'plain',
        message: JSON.stringify({ fileEvidence: [{ uuid: 'u-1', extra: true }] }),
      });

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result.message).toBe('File count: 0');
      expect(result.data).toEqual([{ uuid: 'u-1', extra: true }]);
      expect(result.summary).toEqual({ file_count: 0 });
    });

    it.each([
      [{ limit: 0 }, 'Please provide a valid non-zero positive integer value in the limit parameter'],
      [{ limit: '10.0' }, 'Please provide a valid integer value in the limit parameter'],
      [{ offset: -1 }, 'Please provide a valid non-negative integer value in the offset parameter'],
      [{ sort: 5 }, "Please provide a string value in the 'sort' parameter"],
    ])('fails validation for %j before any call', async (params, message) => {
      // Act
      const result = await run(listFiles, params);

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(message);
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });

    it("fails with Tanium's error text on a 500", async () => {
      // Prepare
      emulator.faults.add({ path: `${TR}/filedownload`, kind: 'status', status: 500, message: 'boom' });

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe('Error from server. Status Code: 500 Data from server: boom');
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });

    it('names the action in a permission failure', async () => {
      // Prepare
      emulator.removePermission(FULL_PERSONA, PERMISSIONS.useApi);

      // Act
      const result = await run(listFiles, {});

      // Assess
      expect(result.message).toBe(
        'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by list files. Tanium said: Forbidden: missing permission threat response use api',
      );
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
    });
  });

  describe('Action: save file', () => {
    it('returns no data and a null task_id when Tanium accepts the request with an empty body', async () => {
      // Prepare
      emulator.faults.add({ method: 'POST', kind: 'status', status: 200, shape: 'empty' });

      // Act
      const result = await run(saveFile, {
        connection_id: SEEDED.connectedConnectionId,
        file_path: 'C:\\x.exe',
      });

      // Assess
      expect(result).toMatchObject({ status: 'success', message: 'Save file requested', data: [] });
      expect(result.summary).toEqual({ task_id: null });
    });

    it('posts the untrimmed path and returns the task response with task_id in one request', async () => {
      // Prepare
      const path = ' C:\\Users\\bob\\evil.exe ';

      // Act
      const result = await run(saveFile, {
        connection_id: ` ${SEEDED.connectedConnectionId} `,
        file_path: path,
      });

      // Assess
      expect(result.status).toBe('success');
      expect(result.message).toBe('Save file requested');
      expect(result.parameter).toEqual({
        connection_id: ` ${SEEDED.connectedConnectionId} `,
        file_path: path,
      });
      const [response] = result.data as Array<{ status: string; taskInfo: { id: number; status: string } }>;
      expect(result.data).toHaveLength(1);
      expect(response?.status).toBe('ACCEPTED');
      expect(response?.taskInfo.status).toBe('STARTED');
      expect(result.summary).toEqual({ task_id: response?.taskInfo.id });
      expect(typeof response?.taskInfo.id).toBe('number');
      expect(emulator.requestCount()).toBe(1);
      const [request] = emulator.requests;
      expect(request?.method).toBe('POST');
      expect(request?.path).toBe(`${TR}/conns/${SEEDED.connectedConnectionId}/file`);
      expect(request?.json).toEqual({ path });
      expect(request?.headers['content-type']).toBe('application/json');
    });

    it('makes the collected file appear in list files once its task completes', async () => {
      // Prepare
      const saved = await run(saveFile, {
        connection_id: SEEDED.connectedConnectionId,
        file_path: 'C:\\Temp\\dropper.dll',
      });
      emulator.completeTasks([saved.summary.task_id as number]);

      // Act
      const listed = await run(listFiles, {});

      // Assess
      expect(listed.summary).toEqual({ file_count: 4 });
      expect((listed.data as Array<{ path: string }>).map((item) => item.path)).toContain(
        'C:\\Temp\\dropper.dll',
      );
    });

    it('explains a failure on a connection that is not connected yet (second request only on failure)', async () => {
      // Act
      const result = await run(saveFile, {
        connection_id: SEEDED.waitingConnectionId,
        file_path: 'C:\\a.txt',
      });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe('Connection not active. Current state: waiting');
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
      expect(emulator.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
        `POST ${TR}/conns/${SEEDED.waitingConnectionId}/file`,
        `GET ${TR}/conns`,
      ]);
    });

    it('says Could not find connection for an unknown connection id', async () => {
      // Act
      const result = await run(saveFile, { connection_id: 'remote:ghost:1:9', file_path: 'C:\\a.txt' });

      // Assess
      expect(result.message).toBe('Could not find connection');
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
      expect(emulator.requestCount()).toBe(2);
    });

    it('names the action in a permission failure, without a connection lookup', async () => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: `${TR}/conns/*`,
        kind: 'status',
        status: 403,
        message: 'Refused',
      });

      // Act
      const result = await run(saveFile, {
        connection_id: SEEDED.connectedConnectionId,
        file_path: 'C:\\a.txt',
      });

      // Assess
      expect(result.message).toBe(
        'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by save file. Tanium said: Refused',
      );
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });

    it("keeps Tanium's error when the connection is connected, and does not retry the POST", async () => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: `${TR}/conns/*`,
        kind: 'status',
        status: 500,
        message: 'disk full',
      });

      // Act
      const result = await run(saveFile, {
        connection_id: SEEDED.connectedConnectionId,
        file_path: 'C:\\a.txt',
      });

      // Assess
      expect(result.message).toBe('Error from server. Status Code: 500 Data from server: disk full');
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      expect(emulator.requestCount({ method: 'POST' })).toBe(1);
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(1);
    });

    it.each([
      [
        { connection_id: SEEDED.connectedConnectionId },
        "Please provide a value for the 'file_path' parameter",
      ],
      [
        { connection_id: SEEDED.connectedConnectionId, file_path: '   ' },
        "Please provide a value for the 'file_path' parameter",
      ],
      [{ file_path: 'C:\\a.txt' }, "Please provide a value for the 'connection_id' parameter"],
      [
        { connection_id: '..', file_path: 'C:\\a.txt' },
        "Please provide a valid value in the 'connection_id' parameter: '.' and '..' are not allowed",
      ],
    ])('fails validation for %j before any call', async (params, message) => {
      // Act
      const result = await run(saveFile, params);

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(message);
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });
  });

  describe('Action: delete file', () => {
    it('deletes the file evidence with one request and no data', async () => {
      // Act
      const result = await run(deleteFile, { file_id: ` ${SEEDED.fileEvidenceUuid} ` });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Delete file requested',
        parameter: { file_id: ` ${SEEDED.fileEvidenceUuid} ` },
        data: [],
        summary: {},
      });
      expect(emulator.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
        `DELETE ${TR}/filedownload/${SEEDED.fileEvidenceUuid}`,
      ]);
      expect(emulator.requests[0]?.headers['content-type']).toBeUndefined();
      expect(emulator.state.files.some((item) => item.uuid === SEEDED.fileEvidenceUuid)).toBe(false);
    });

    it.each([
      ['a 502', { kind: 'status', status: 502 }],
      ['a 504', { kind: 'status', status: 504 }],
      ['a reset', { kind: 'resetBeforeHeaders' }],
    ] as const)(
      'says Tanium may have deleted the file when %s lost the first answer and the retry gets 404',
      async (_what, fault) => {
        // Prepare: Tanium carries the first DELETE out, then the answer is lost
        const path = `${TR}/filedownload/${SEEDED.fileEvidenceUuid}`;
        emulator.faults.add({ method: 'DELETE', path, times: 1, processRequest: true, ...fault });

        // Act
        const result = await run(deleteFile, { file_id: SEEDED.fileEvidenceUuid });

        // Assess: a 404 then proves nothing either way (a mistyped id answers 404 too), so it fails, saying so
        expect(result.status).toBe('failed');
        expect(result.error).toEqual({ kind: 'not_found', retryable: false });
        expect(result.message).toBe(
          `Error from server. Status Code: 404 Data from server: File evidence not found: ${SEEDED.fileEvidenceUuid}. An earlier attempt of this request got no answer (HTTP 502 or 504, or the connection dropped after sending): Tanium may have carried it out before this 404.`,
        );
        expect(emulator.requests.map((request) => request.method)).toEqual(['DELETE', 'DELETE']);
        expect(emulator.state.files.some((item) => item.uuid === SEEDED.fileEvidenceUuid)).toBe(false);
      },
    );

    it.each([429, 503])(
      'still fails a 404 whose earlier attempt got a %d (Tanium did not carry it out)',
      async (status) => {
        // Prepare
        const unknown = '00000000-0000-4000-8000-000000000000';
        emulator.faults.add({
          method: 'DELETE',
          path: `${TR}/filedownload/${unknown}`,
          times: 1,
          kind: 'status',
          status,
        });

        // Act
        const result = await run(deleteFile, { file_id: unknown });

        // Assess: Tanium did not carry out the first attempt, so its 404 stands as it is
        expect(result.status).toBe('failed');
        expect(result.error).toEqual({ kind: 'not_found', retryable: false });
        expect(result.message).toBe(
          `Error from server. Status Code: 404 Data from server: File evidence not found: ${unknown}`,
        );
        expect(emulator.requests.map((request) => request.method)).toEqual(['DELETE', 'DELETE']);
      },
    );

    it('encodes the file id so it cannot change the route', async () => {
      // Act
      const result = await run(deleteFile, { file_id: 'data/x?y#z' });

      // Assess
      expect(result.status).toBe('failed');
      expect(emulator.requests[0]?.path).toBe(`${TR}/filedownload/data%2Fx%3Fy%23z`);
      expect(result.message).toBe(
        'Error from server. Status Code: 404 Data from server: File evidence not found: data/x?y#z',
      );
      expect(result.error).toEqual({ kind: 'not_found', retryable: false });
    });

    it('names the action in a permission failure', async () => {
      // Prepare
      const path = `${TR}/filedownload/${SEEDED.fileEvidenceUuid}`;
      emulator.faults.add({ method: 'DELETE', path, kind: 'status', status: 403, message: 'Refused' });

      // Act
      const result = await run(deleteFile, { file_id: SEEDED.fileEvidenceUuid });

      // Assess
      expect(result.message).toBe(
        'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by delete file. Tanium said: Refused',
      );
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });

    it.each([
      [{}, "Please provide a value for the 'file_id' parameter"],
      [{ file_id: 42 }, "Please provide a string value in the 'file_id' parameter"],
      [
        { file_id: '.' },
        "Please provide a valid value in the 'file_id' parameter: '.' and '..' are not allowed",
      ],
    ])('fails validation for %j before any call', async (params, message) => {
      // Act
      const result = await run(deleteFile, params);

      // Assess
      expect(result.message).toBe(message);
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });
  });
});
