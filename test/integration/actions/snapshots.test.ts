import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import { createSnapshot, deleteSnapshot, listSnapshots } from '../../../shared/actions/snapshots.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { clientFor, contextFor, type Emulator, SEEDED, startTestEmulator } from '../../helpers/tanium.ts';

const CONNECTED = SEEDED.connectedConnectionId;
const snapshotPath = (cid: string) => `${TR}/conns/${cid}/snapshot`;

describe('Actions: snapshots family', () => {
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

  it('registers create, list and delete snapshot in the snapshots family', () => {
    // Assess
    for (const name of ['create snapshot', 'list_snapshots', 'delete snapshot']) {
      expect(findAction(name)?.family).toBe('snapshots');
    }
    expect(findAction('create_snapshot')?.readOnly).toBe(false);
    expect(findAction('list snapshots')?.readOnly).toBe(true);
  });

  describe('Action: create snapshot', () => {
    it('posts without a body, returns the task and its id in one request', async () => {
      // Act
      const result = await run(createSnapshot, { connection_id: ` ${CONNECTED} ` });

      // Assess
      expect(result.status).toBe('success');
      expect(result.message).toBe('Create snapshot request status: ACCEPTED');
      expect(result.parameter).toEqual({ connection_id: ` ${CONNECTED} ` });
      const tasks = emulator.state.tasks.list();
      expect(tasks).toHaveLength(1);
      const task = tasks[0]!;
      expect(result.data).toEqual([{ status: 'ACCEPTED', taskInfo: emulator.state.tasks.info(task) }]);
      expect(result.summary).toEqual({ task_id: task.id });
      expect(typeof result.summary.task_id).toBe('number');
      expect(emulator.requestCount()).toBe(1);
      const [request] = emulator.requests;
      expect(request?.method).toBe('POST');
      expect(request?.path).toBe(snapshotPath(CONNECTED));
      expect(request?.rawQuery).toBe('');
      expect(request?.headers['content-type']).toBe('application/json');
      expect(request?.headers['content-length']).toBe('0');
      expect(request?.bodyLength).toBe(0);
    });

    it('lets the snapshot appear in list snapshots once its task completes', async () => {
      // Prepare
      await run(createSnapshot, { connection_id: CONNECTED });
      emulator.completeTasks();

      // Act
      const result = await run(listSnapshots, {});

      // Assess
      expect(result.summary).toEqual({ total_snapshots: 4 });
      expect(result.data).toContainEqual(
        expect.objectContaining({ connectionId: CONNECTED, hostname: 'test-client-1' }),
      );
    });

    it.each([
      ['without them', undefined, { text: 'OK' }],
      // As the connector's `status or None` read them
      ['with a null status', 'plain', { status: null }],
      ['with an empty status', 'plain', { status: '' }],
    ] as const)('reports status None and a null task id when Tanium answers %s', async (_, shape, answer) => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: snapshotPath(CONNECTED),
        kind: 'status',
        status: 200,
        ...(shape ? { shape, message: JSON.stringify(answer) } : {}),
      });

      // Act
      const result = await run(createSnapshot, { connection_id: CONNECTED });

      // Assess
      expect(result).toMatchObject({
        status: 'success',
        message: 'Create snapshot request status: None',
        data: [answer],
        summary: { task_id: null },
      });
    });

    it('returns the bare status message and no data for an empty response', async () => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: snapshotPath(CONNECTED),
        kind: 'status',
        status: 200,
        shape: 'empty',
      });

      // Act
      const result = await run(createSnapshot, { connection_id: CONNECTED });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Create snapshot request status',
        parameter: { connection_id: CONNECTED },
        data: [],
        summary: {},
      });
      expect(emulator.requestCount()).toBe(1);
    });

    it.for([
      ['{}', {}],
      ['[]', []],
    ] as const)('reads %s as the empty response, as the connector did', async ([, payload]) => {
      // Prepare: the snapshot request's answer replaced by an empty JSON value
      const client = clientFor(emulator);
      const request = client.request.bind(client);
      client.request = (async (req: Parameters<typeof client.request>[0]) => {
        const response = await request(req);
        return req.method === 'POST' ? { ...response, payload } : response;
      }) as typeof client.request;

      // Act
      const result = await executeAction(
        createSnapshot as unknown as ActionDefinition,
        { connection_id: CONNECTED },
        contextFor(client, emulator),
      );

      // Assess
      expect(result).toMatchObject({
        status: 'success',
        message: 'Create snapshot request status',
        data: [],
        summary: {},
      });
    });

    it('says the connection could not be found after the route fails for an unknown id', async () => {
      // Act
      const result = await run(createSnapshot, { connection_id: 'remote:nobody:1:9' });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe('Could not find connection');
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
      expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        `POST ${snapshotPath('remote:nobody:1:9')}`,
        `GET ${TR}/conns`,
      ]);
    });

    it('names the state of a connection that is not connected', async () => {
      // Act
      const result = await run(createSnapshot, { connection_id: SEEDED.waitingConnectionId });

      // Assess
      expect(result.message).toBe('Connection not active. Current state: waiting');
      expect(result.error?.kind).toBe('connection');
      expect(emulator.requestCount()).toBe(2);
      expect(emulator.state.tasks.list()).toHaveLength(0);
    });

    it('keeps the server error when the connection is connected', async () => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: snapshotPath(CONNECTED),
        kind: 'status',
        status: 500,
        message: 'Recorder database locked',
      });

      // Act
      const result = await run(createSnapshot, { connection_id: CONNECTED });

      // Assess
      expect(result.message).toBe(
        'Error from server. Status Code: 500 Data from server: Recorder database locked',
      );
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      // A POST is never retried on 500: the route once, then the connection lookup.
      expect(emulator.requestCount({ method: 'POST' })).toBe(1);
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(1);
    });

    it('reports a 403 as a permission problem without looking up the connection', async () => {
      // Prepare
      emulator.faults.add({
        method: 'POST',
        path: snapshotPath(CONNECTED),
        kind: 'status',
        status: 403,
        message: 'Forbidden: missing permission threat response use api',
      });

      // Act
      const result = await run(createSnapshot, { connection_id: CONNECTED });

      // Assess
      expect(result.message).toBe(
        'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by create snapshot. Tanium said: Forbidden: missing permission threat response use api',
      );
      expect(result.error?.kind).toBe('permission');
      expect(emulator.requestCount()).toBe(1);
    });

    it('rejects a missing or dot connection id before any call', async () => {
      // Act
      const missing = await run(createSnapshot, { connection_id: '  ' });
      const dots = await run(createSnapshot, { connection_id: '..' });

      // Assess
      expect(missing.message).toBe("Please provide a value for the 'connection_id' parameter");
      expect(missing.error?.kind).toBe('validation');
      expect(dots.message).toBe(
        "Please provide a valid value in the 'connection_id' parameter: '.' and '..' are not allowed",
      );
      expect(dots.error?.kind).toBe('validation');
      expect(emulator.requestCount()).toBe(0);
    });
  });

  describe('Action: list snapshots', () => {
    it('returns every snapshot unchanged with total_snapshots from totalCount', async () => {
      // Prepare
      const expected = structuredClone(emulator.state.snapshots);

      // Act
      const result = await run(listSnapshots, {});

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Total snapshots: 3',
        parameter: {},
        data: expected,
        summary: { total_snapshots: 3 },
      });
      expect(emulator.requestCount()).toBe(1);
      const [request] = emulator.requests;
      expect(request?.method).toBe('GET');
      expect(request?.path).toBe(`${TR}/snapshot`);
      expect(request?.rawQuery).toBe('limit=1000');
      expect(request?.headers['content-type']).toBeUndefined();
    });

    it('sends limit, offset and sort in that order and returns that page', async () => {
      // Prepare
      const newestFirst = [...emulator.state.snapshots].sort((a, b) => Number(b.created) - Number(a.created));

      // Act
      const result = await run(listSnapshots, { limit: '1', offset: 1, sort: '-created' });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe('limit=1&offset=1&sort=-created');
      expect(result.data).toEqual([newestFirst[1]]);
      expect(result.summary).toEqual({ total_snapshots: 3 });
      expect(result.message).toBe('Total snapshots: 3');
      expect(result.parameter).toEqual({ limit: '1', offset: 1, sort: '-created' });
    });

    it('leaves out an offset of zero', async () => {
      // Act
      await run(listSnapshots, { limit: 2, offset: '0' });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe('limit=2');
    });

    it('counts zero snapshots when Tanium sends neither list nor totalCount', async () => {
      // Prepare
      emulator.faults.add({
        method: 'GET',
        path: `${TR}/snapshot`,
        kind: 'status',
        status: 200,
        shape: 'empty',
      });

      // Act
      const result = await run(listSnapshots, {});

      // Assess
      expect(result).toMatchObject({
        status: 'success',
        message: 'Total snapshots: 0',
        data: [],
        summary: { total_snapshots: 0 },
      });
    });

    it.each([
      [{ limit: 0 }, 'Please provide a valid non-zero positive integer value in the limit parameter'],
      [{ limit: '-5' }, 'Please provide a valid non-negative integer value in the limit parameter'],
      [{ limit: '10.0' }, 'Please provide a valid integer value in the limit parameter'],
      [{ offset: -1 }, 'Please provide a valid non-negative integer value in the offset parameter'],
      [{ offset: 'x' }, 'Please provide a valid integer value in the offset parameter'],
    ])('rejects %j before any call', async (params, message) => {
      // Act
      const result = await run(listSnapshots, params);

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(message);
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });

    it('fails with the server error and does not retry a 500', async () => {
      // Prepare
      emulator.faults.add({
        method: 'GET',
        path: `${TR}/snapshot`,
        kind: 'status',
        status: 500,
        shape: 'errors',
        message: 'Snapshot index unavailable',
      });

      // Act
      const result = await run(listSnapshots, {});

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        'Error from server. Status Code: 500 Data from server: Snapshot index unavailable',
      );
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });
  });

  describe('Action: delete snapshot', () => {
    it('deletes every id in one request, in the caller order without repeats', async () => {
      // Prepare
      const [first, second, third] = emulator.state.snapshots.map((s) => s.uuid);

      // Act
      const result = await run(deleteSnapshot, { snapshot_ids: ` ${third}, ${first},,${third} ` });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Delete snapshot requested',
        parameter: { snapshot_ids: ` ${third}, ${first},,${third} ` },
        data: [],
        summary: {},
      });
      expect(emulator.requestCount()).toBe(1);
      const [request] = emulator.requests;
      expect(request?.method).toBe('DELETE');
      expect(request?.path).toBe(`${TR}/snapshot`);
      expect(request?.headers['content-type']).toBe('application/json');
      expect(request?.json).toEqual({ ids: [third, first] });
      expect(emulator.state.snapshots.map((s) => s.uuid)).toEqual([second]);
    });

    it('accepts a JSON array of ids', async () => {
      // Act
      const result = await run(deleteSnapshot, { snapshot_ids: [SEEDED.snapshotUuid] });

      // Assess
      expect(result.status).toBe('success');
      expect(emulator.requests[0]?.json).toEqual({ ids: [SEEDED.snapshotUuid] });
    });

    it('asks for at least one id when the list has nothing in it', async () => {
      // Act
      const commas = await run(deleteSnapshot, { snapshot_ids: ' , ,' });
      const blank = await run(deleteSnapshot, { snapshot_ids: '' });

      // Assess
      expect(commas.message).toBe("Please provide at least one snapshot id in the 'snapshot_ids' parameter");
      expect(commas.error?.kind).toBe('validation');
      expect(blank.message).toBe("Please provide a value for the 'snapshot_ids' parameter");
      expect(emulator.requestCount()).toBe(0);
    });

    it.each([
      ['a list written as Python text', `['${SEEDED.snapshotUuid}']`, `['${SEEDED.snapshotUuid}']`],
      ['a list written as JSON text', `["${SEEDED.snapshotUuid}"]`, `["${SEEDED.snapshotUuid}"]`],
      ['a snapshot name', `${SEEDED.snapshotUuid},test-client-1.db`, 'test-client-1.db'],
    ])('refuses %s before any call, as Tanium would report it deleted', async (_, ids, item) => {
      // Act
      const result = await run(deleteSnapshot, { snapshot_ids: ids });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        `Please provide snapshot uuids in the 'snapshot_ids' parameter (got '${item}'), as list snapshots gives them`,
      );
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });

    it('deletes a snapshot given by its uuid in capitals, sending it once in lower case as Tanium lists it', async () => {
      // Act
      const upper = SEEDED.snapshotUuid.toUpperCase();
      const result = await run(deleteSnapshot, { snapshot_ids: `${upper},${SEEDED.snapshotUuid}` });

      // Assess
      expect(result.status).toBe('success');
      expect(emulator.requests[0]?.json).toEqual({ ids: [SEEDED.snapshotUuid] });
      expect(emulator.state.snapshots.map((snapshot) => snapshot.uuid)).not.toContain(SEEDED.snapshotUuid);
    });

    it('fails with the server error', async () => {
      // Prepare
      emulator.faults.add({
        method: 'DELETE',
        path: `${TR}/snapshot`,
        kind: 'status',
        status: 404,
        message: 'Snapshot not found',
      });

      // Act
      const result = await run(deleteSnapshot, { snapshot_ids: SEEDED.snapshotUuid });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe('Error from server. Status Code: 404 Data from server: Snapshot not found');
      expect(result.error).toEqual({ kind: 'not_found', retryable: false });
      expect(emulator.state.snapshots).toHaveLength(3);
    });
  });

  describe('Permission failures name the action that was refused', () => {
    it.each([
      ['list snapshots', listSnapshots, {}, 'GET'],
      ['delete snapshot', deleteSnapshot, { snapshot_ids: SEEDED.snapshotUuid }, 'DELETE'],
    ] as const)('%s', async (name, action, params, method) => {
      // Prepare
      emulator.faults.add({
        method,
        path: `${TR}/snapshot`,
        kind: 'status',
        status: 403,
        message: 'Refused',
      });

      // Act
      const result = await run(action, params);

      // Assess
      expect(result.message).toBe(
        `Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by ${name}. Tanium said: Refused`,
      );
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });
  });

  describe('Answers that are not what the action reads', () => {
    it.each([
      ['create snapshot', createSnapshot, { connection_id: CONNECTED }, 'a snapshot task'],
      ['list snapshots', listSnapshots, {}, 'a list of snapshots'],
    ] as const)('%s fails clearly on a plain-text 200', async (_name, action, params, expected) => {
      // Prepare
      emulator.faults.add({ kind: 'status', status: 200, shape: 'plain', message: 'odd' });

      // Act
      const result = await run(action, params);

      // Assess
      expect(result.message).toBe(
        `Error occurred while processing the response from server. Expected ${expected}`,
      );
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });
  });
});
