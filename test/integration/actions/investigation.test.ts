import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import {
  getEvents,
  getEventsSummary,
  getProcess,
  getProcessTree,
} from '../../../shared/actions/investigation.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { MAX_CHILDREN, MAX_SIBLINGS, SEEDED_PTIDS } from '../../emulator/index.ts';
import { processRows } from '../../emulator/state/processes.ts';
import { clientFor, contextFor, type Emulator, SEEDED, startTestEmulator } from '../../helpers/tanium.ts';

const CONNECTED = SEEDED.connectedConnectionId;
const HOST = 'test-client-1';
const ALL_CONTEXTS = ['parent', 'node', 'siblings', 'children'];
const LOGIN = '/api/v2/session/login';
const connPath = (cid: string, rest: string) => `${TR}/conns/${cid}/${rest}`;

describe('Actions: investigation family', () => {
  let emulator: Emulator;
  let ctx: ActionContext;
  let defaultConfig: Emulator['config'];

  beforeAll(async () => {
    emulator = await startTestEmulator();
    defaultConfig = { ...emulator.config };
    ctx = contextFor(clientFor(emulator), emulator);
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => {
    // reset() re-seeds state but leaves the timing/cap config as a test changed it.
    Object.assign(emulator.config, defaultConfig);
    emulator.reset();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const run = (action: ActionDefinition, params: Record<string, unknown>, context = ctx) =>
    executeAction(action as unknown as ActionDefinition, params, context);
  /**
   * A context whose client rewrites the answer for `path` after the emulator served the real request
   * (for answers the emulator never gives).
   */
  const rewriting = (path: string, rewrite: (payload: unknown) => unknown) => {
    const client = clientFor(emulator);
    const request = client.request.bind(client);
    vi.spyOn(client, 'request').mockImplementation(async (call) => {
      const response = await request(call);
      return call.path === path ? { ...response, payload: rewrite(response.payload) } : response;
    });
    return contextFor(client, emulator);
  };
  const tree = (ptid: string, contexts: readonly string[], limit: number) =>
    emulator.state.processTable(HOST).tree(ptid, contexts, limit, emulator.config.ancestorDepthLimit);
  const eventsOf = (type: Parameters<ReturnType<Emulator['state']['events']>['of']>[0]) =>
    structuredClone(emulator.state.events(HOST).of(type));

  it('registers the four read-only investigation actions', () => {
    // Assess
    for (const name of ['get process', 'get_process_tree', 'get events', 'get_events_summary']) {
      expect(findAction(name)?.family).toBe('investigation');
      expect(findAction(name)?.readOnly).toBe(true);
    }
  });

  describe('Action: get process', () => {
    it('returns the process rows with 64-bit ids as strings in one request', async () => {
      // Prepare
      const node = emulator.state.processTable(HOST).nodes.get(SEEDED_PTIDS.cmd)!;
      const expected = processRows(node);

      // Act
      const result = await run(getProcess, { connection_id: CONNECTED, process_table_id: SEEDED_PTIDS.cmd });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Process information retrieved',
        parameter: { connection_id: CONNECTED, process_table_id: SEEDED_PTIDS.cmd },
        data: expected,
        summary: {},
      });
      expect(typeof (result.data[0] as { id: unknown }).id).toBe('string');
      expect(emulator.requestCount()).toBe(1);
      const [request] = emulator.requests;
      expect(request?.method).toBe('GET');
      expect(request?.path).toBe(connPath(CONNECTED, `processevents/${SEEDED_PTIDS.cmd}/process`));
      expect(request?.rawQuery).toBe('');
      expect(request?.headers['content-type']).toBeUndefined();
    });

    it('keeps a process table id above 2^53 as its exact canonical string', async () => {
      // Act
      const result = await run(getProcess, {
        connection_id: CONNECTED,
        process_table_id: ` 000${SEEDED_PTIDS.cmd} `,
      });

      // Assess
      // Echoed as received (tanium-api.md 1.8); Tanium gets the canonical id
      expect(result.parameter.process_table_id).toBe(` 000${SEEDED_PTIDS.cmd} `);
      expect(emulator.requests[0]?.path).toBe(connPath(CONNECTED, 'processevents/72057594038528503/process'));
    });

    it('says no process information was found for an empty body', async () => {
      // Prepare
      emulator.faults.add({ path: `${TR}/conns/*`, kind: 'status', status: 200, shape: 'empty' });

      // Act
      const result = await run(getProcess, { connection_id: CONNECTED, process_table_id: SEEDED_PTIDS.cmd });

      // Assess
      expect(result).toMatchObject({ status: 'success', message: 'No process information found', data: [] });
      expect(emulator.requestCount()).toBe(1);
    });

    it('says no process information was found for an empty array', async () => {
      // Act
      const result = await run(getProcess, {
        connection_id: CONNECTED,
        process_table_id: '18446744073709551615',
      });

      // Assess
      expect(result).toMatchObject({
        status: 'success',
        message: 'No process information found',
        data: [],
        summary: {},
      });
      expect(emulator.requests[0]?.path).toBe(
        connPath(CONNECTED, 'processevents/18446744073709551615/process'),
      );
    });

    it.each([
      [{ process_table_id: SEEDED_PTIDS.cmd }, "Please provide a value for the 'connection_id' parameter"],
      [{ connection_id: CONNECTED }, "Please provide a value for the 'process_table_id' parameter"],
      [
        { connection_id: CONNECTED, process_table_id: 0 },
        'Please provide a valid non-zero positive integer value in the process_table_id parameter',
      ],
      [
        { connection_id: CONNECTED, process_table_id: '-7' },
        'Please provide a valid non-negative integer value in the process_table_id parameter',
      ],
      [
        { connection_id: CONNECTED, process_table_id: '18446744073709551616' },
        'Please provide a valid integer value in the process_table_id parameter',
      ],
      [
        { connection_id: CONNECTED, process_table_id: Number(SEEDED_PTIDS.cmd) },
        'Please provide a valid integer value in the process_table_id parameter',
      ],
      [
        { connection_id: '.', process_table_id: SEEDED_PTIDS.cmd },
        "Please provide a valid value in the 'connection_id' parameter: '.' and '..' are not allowed",
      ],
    ])('rejects %j before any call', async (params, message) => {
      // Act
      const result = await run(getProcess, params);

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(message);
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });

    it('says the connection could not be found, looking it up only after the route failed', async () => {
      // Act
      const result = await run(getProcess, { connection_id: 'remote:ghost:1:1', process_table_id: '5' });

      // Assess
      expect(result.message).toBe('Could not find connection');
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
      expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        `GET ${connPath('remote:ghost:1:1', 'processevents/5/process')}`,
        `GET ${TR}/conns`,
      ]);
    });

    it.each([
      [SEEDED.waitingConnectionId, 'waiting'],
      [SEEDED.disconnectedConnectionId, 'disconnected'],
    ])('names the state of %s', async (connectionId, state) => {
      // Act
      const result = await run(getProcess, {
        connection_id: connectionId,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      expect(result.message).toBe(`Connection not active. Current state: ${state}`);
      expect(result.error?.kind).toBe('connection');
      expect(emulator.requestCount()).toBe(2);
    });

    it('keeps the server error when the connection is connected or cannot be looked up', async () => {
      // Prepare
      emulator.faults.add({
        path: `${TR}/conns/*`,
        kind: 'status',
        status: 500,
        message: 'Recorder offline',
      });
      emulator.faults.add({ path: `${TR}/conns`, kind: 'status', status: 404, message: 'Not here' });

      // Act
      const unreadable = await run(getProcess, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.cmd,
      });
      emulator.faults.clear();
      emulator.faults.add({
        path: `${TR}/conns/*`,
        kind: 'status',
        status: 500,
        message: 'Recorder offline',
      });
      const connected = await run(getProcess, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      for (const result of [unreadable, connected]) {
        expect(result.message).toBe('Error from server. Status Code: 500 Data from server: Recorder offline');
        expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      }
      expect(emulator.requestCount()).toBe(4);
    });

    it.each([
      [
        403,
        'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by get process. Tanium said: Refused',
        'permission',
      ],
      [
        401,
        "Authentication failed (HTTP 401): Tanium rejected the API token. Tanium said: Refused Check that the token has not expired and that this service's egress IP is in the token's trusted IP addresses (api_token_trusted_ip_address_list).",
        'auth',
      ],
    ])('reports a %i without a connection lookup', async (status, message, kind) => {
      // Prepare: the connection is waiting, and Tanium would list it so
      emulator.faults.add({ path: `${TR}/conns/*`, kind: 'status', status, message: 'Refused' });

      // Act
      const result = await run(getProcess, {
        connection_id: SEEDED.waitingConnectionId,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      expect(result.message).toBe(message);
      expect(result.error?.kind).toBe(kind);
      expect(emulator.requestCount()).toBe(1);
    });

    it('looks the connection up after any status from 300', async () => {
      // Prepare
      emulator.faults.add({ path: `${TR}/conns/*`, kind: 'status', status: 300, message: 'Choose' });

      // Act
      const result = await run(getProcess, {
        connection_id: SEEDED.waitingConnectionId,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      expect(result.message).toBe('Connection not active. Current state: waiting');
      expect(emulator.requestCount()).toBe(2);
    });

    it('fails clearly when Tanium answers something other than a list', async () => {
      // Prepare
      emulator.faults.add({ path: `${TR}/conns/*`, kind: 'status', status: 200, message: 'odd' });

      // Act
      const result = await run(getProcess, { connection_id: CONNECTED, process_table_id: SEEDED_PTIDS.cmd });

      // Assess
      expect(result.message).toBe(
        'Error occurred while processing the response from server. Expected a list of process events',
      );
      expect(result.error?.kind).toBe('tanium');
    });
  });

  describe('Connection check (1.10): only after an HTTP error of the route itself', () => {
    /** Answers the login POST at `path` with `status` (every time unless `times` is given). */
    const failLogin = (path: string, status: number, message: string, times?: number) =>
      emulator.faults.add({
        method: 'POST',
        path,
        kind: 'status',
        status,
        message,
        ...(times === undefined ? {} : { times }),
      });

    it('reports a failed login without a connection lookup, which would log in again', async () => {
      // Prepare
      failLogin(LOGIN, 500, 'Login broke', 1);
      const password = contextFor(clientFor(emulator, { auth: 'password' }), emulator);

      // Act
      const result = await executeAction(
        getProcess as unknown as ActionDefinition,
        { connection_id: SEEDED.waitingConnectionId, process_table_id: SEEDED_PTIDS.cmd },
        password,
      );

      // Assess
      expect(result.message).toBe(
        'Login failed: Error from server. Status Code: 500 Data from server: Login broke',
      );
      expect(result.error?.kind).toBe('auth');
      expect(emulator.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        `POST ${LOGIN} 500`,
      ]);
    });

    it('tries each login route once when both are missing', async () => {
      // Prepare
      failLogin(LOGIN, 404, 'No route');
      failLogin('/auth', 404, 'No route');
      const password = contextFor(clientFor(emulator, { auth: 'password' }), emulator);

      // Act
      const result = await executeAction(
        getEvents as unknown as ActionDefinition,
        { connection_id: CONNECTED, event_type: 'network' },
        password,
      );

      // Assess
      expect(result.message).toBe(
        'Login failed: Error from server. Status Code: 404 Data from server: No route',
      );
      expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${LOGIN}`, 'POST /auth']);
    });

    it.each([
      ['empty', (row: Record<string, unknown>) => ({ ...row, status: '' })],
      ['missing', ({ status: _, ...row }: Record<string, unknown>) => row],
    ])('says the state could not be read when the status is %s', async (_, rewrite) => {
      // Prepare: the route answers 400 (the connection is waiting); Tanium lists it with that status
      const waiting = SEEDED.waitingConnectionId;
      const context = rewriting(`${TR}/conns`, (rows) =>
        (rows as Array<Record<string, unknown>>).map((row) => (row.id === waiting ? rewrite(row) : row)),
      );

      // Act
      const result = await run(
        getProcess,
        { connection_id: waiting, process_table_id: SEEDED_PTIDS.cmd },
        context,
      );

      // Assess
      expect(result).toMatchObject({
        status: 'failed',
        message: 'Connection not active. Error occurred while fetching the state of the connection',
        error: { kind: 'connection', retryable: false },
      });
      expect(emulator.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        `GET ${connPath(waiting, `processevents/${SEEDED_PTIDS.cmd}/process`)} 400`,
        `GET ${TR}/conns 200`,
      ]);
    });

    it('does not look the connection up after a 2xx it could not read', async () => {
      // Prepare
      emulator.faults.add({ path: `${TR}/conns/*`, kind: 'html200' });

      // Act
      const result = await run(getProcess, {
        connection_id: SEEDED.waitingConnectionId,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      expect(result.message).toMatch(/^Unexpected HTML response from server\. Status Code: 200/);
      expect(emulator.requestCount()).toBe(1);
    });
  });

  describe('Action: get process tree', () => {
    it('asks for limit 100 and every context by default, with total_items', async () => {
      // Prepare
      const expected = tree(SEEDED_PTIDS.cmd, ALL_CONTEXTS, 100);

      // Act
      const result = await run(getProcessTree, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Process tree retrieved',
        parameter: { connection_id: CONNECTED, process_table_id: SEEDED_PTIDS.cmd },
        data: expected,
        summary: { total_items: expected.length },
      });
      expect(expected.length).toBeGreaterThan(1);
      const node = result.data.find((item) => (item as { context: string }).context === 'node');
      expect(node).toMatchObject({
        process_table_id: '72057594038528503',
        parent_process_table_id: '72057594038528500',
      });
      expect(typeof (node as { unique_process_id: unknown }).unique_process_id).toBe('string');
      expect(emulator.requestCount()).toBe(1);
      expect(emulator.requests[0]?.path).toBe(connPath(CONNECTED, `processtrees/${SEEDED_PTIDS.cmd}`));
      expect(emulator.requests[0]?.rawQuery).toBe('limit=100');
    });

    it.each([',', ' , ', []])('asks for every context when process_context %j names none', async (empty) => {
      // Act
      const result = await run(getProcessTree, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.cmd,
        process_context: empty,
      });

      // Assess
      expect(result.status).toBe('success');
      expect(emulator.requests[0]?.rawQuery).toBe('limit=100');
    });

    it('sends the checked contexts once each, in the caller order', async () => {
      // Act
      const result = await run(getProcessTree, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.cmd,
        process_context: ' children , node,children',
        limit: '5',
      });

      // Assess
      expect(result.parameter.process_context).toBe(' children , node,children');
      expect(emulator.requests[0]?.rawQuery).toBe('limit=5&context=children%2Cnode');
      expect(result.data).toEqual(tree(SEEDED_PTIDS.cmd, ['children', 'node'], 5));
      expect(new Set(result.data.map((item) => (item as { context: string }).context))).toEqual(
        new Set(['node', 'child']),
      );
    });

    it('returns what Tanium caps for a busy process whatever the limit', async () => {
      // Act
      const result = await run(getProcessTree, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.busySvchost,
        process_context: 'siblings,children',
        limit: 5000,
      });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe('limit=5000&context=siblings%2Cchildren');
      expect(result.summary).toEqual({ total_items: MAX_SIBLINGS + MAX_CHILDREN });
      expect(result.data).toHaveLength(MAX_SIBLINGS + MAX_CHILDREN);
    });

    it('says no process tree was found for an empty array, without a summary', async () => {
      // Act
      const result = await run(getProcessTree, { connection_id: CONNECTED, process_table_id: '42' });

      // Assess
      expect(result).toMatchObject({
        status: 'success',
        message: 'No process tree found',
        data: [],
        summary: {},
      });
    });

    it.each([
      [
        { process_context: 'parent,kids' },
        "Please provide valid input from ['parent', 'node', 'siblings', 'children'] in 'process_context' action parameter",
      ],
      [{ limit: 0 }, 'Please provide a valid non-zero positive integer value in the limit parameter'],
      [{ limit: 'ten' }, 'Please provide a valid integer value in the limit parameter'],
    ])('rejects %j before any call', async (extra, message) => {
      // Act
      const result = await run(getProcessTree, {
        connection_id: CONNECTED,
        process_table_id: SEEDED_PTIDS.cmd,
        ...extra,
      });

      // Assess
      expect(result.message).toBe(message);
      expect(result.error?.kind).toBe('validation');
      expect(emulator.requestCount()).toBe(0);
    });

    it('checks the connection after a failure', async () => {
      // Act
      const result = await run(getProcessTree, {
        connection_id: SEEDED.waitingConnectionId,
        process_table_id: SEEDED_PTIDS.cmd,
      });

      // Assess
      expect(result.message).toBe('Connection not active. Current state: waiting');
      expect(emulator.requestCount()).toBe(2);
    });
  });

  describe('Action: get events', () => {
    it('returns every row with limit 1000 and more_data False in one request', async () => {
      // Prepare
      const expected = eventsOf('network');

      // Act
      const result = await run(getEvents, { connection_id: CONNECTED, event_type: 'network' });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Type: network, More data: False',
        parameter: {
          connection_id: CONNECTED,
          event_type: 'network',
        },
        data: expected,
        summary: { type: 'network', more_data: false },
      });
      expect(expected.length).toBeGreaterThan(10);
      expect(result.data.every((row) => typeof (row as { id: unknown }).id === 'string')).toBe(true);
      expect(emulator.requestCount()).toBe(1);
      expect(emulator.requests[0]?.path).toBe(connPath(CONNECTED, 'views/network/events'));
      expect(emulator.requests[0]?.rawQuery).toBe('limit=1000');
    });

    it('returns limit rows and more_data when Tanium sends limit+1', async () => {
      // Prepare
      const all = eventsOf('process');

      // Act
      const result = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        limit: 5,
        offset: 2,
      });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe('limit=5&offset=2');
      expect(result.data).toEqual(all.slice(2, 7));
      expect(result.summary).toEqual({ type: 'process', more_data: true });
      expect(result.message).toBe('Type: process, More data: True');
    });

    it('reports no more data when exactly limit rows remain', async () => {
      // Prepare
      const all = eventsOf('dns');

      // Act
      const result = await run(getEvents, { connection_id: CONNECTED, event_type: 'dns', limit: all.length });

      // Assess
      expect(result.data).toEqual(all);
      expect(result.summary).toEqual({ type: 'dns', more_data: false });
    });

    it('turns a limit above 1000 into 1000 and trims the look-ahead row', async () => {
      // Prepare
      emulator.generateEvents(CONNECTED, 'file', 1200);
      const all = eventsOf('file');

      // Act
      const result = await run(getEvents, { connection_id: CONNECTED, event_type: 'file', limit: '5000' });

      // Assess
      expect(result.status).toBe('success');
      expect(emulator.requests[0]?.rawQuery).toBe('limit=1000');
      expect(result.data).toHaveLength(1000);
      expect(result.data).toEqual(all.slice(0, 1000));
      expect(result.summary).toEqual({ type: 'file', more_data: true });
    });

    it('sends the sort list once per field, keeping its priority order', async () => {
      // Act
      const result = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        sort: 'user_name, -create_time_raw,user_name',
      });

      // Assess
      expect(result.parameter.sort).toBe('user_name, -create_time_raw,user_name');
      expect(emulator.requests[0]?.rawQuery).toBe('limit=1000&sort=user_name%2C-create_time_raw');
      const rows = result.data as Array<{ user_name: string; create_time_raw: number }>;
      // Rows of several users, some sharing one, or the loop below would check neither key
      const users = new Set(rows.map((row) => row.user_name));
      expect(users.size).toBeGreaterThan(1);
      expect(users.size).toBeLessThan(rows.length);
      for (let i = 1; i < rows.length; i++) {
        const [a, b] = [rows[i - 1]!, rows[i]!];
        expect(a.user_name <= b.user_name).toBe(true);
        if (a.user_name === b.user_name) expect(a.create_time_raw).toBeGreaterThanOrEqual(b.create_time_raw);
      }
    });

    it('sends the filters after the paging parameters and returns only matching rows', async () => {
      // Act
      const result = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        limit: 50,
        fields: 'process_path, user_name',
        operators: 'co,eq',
        values: 'cmd.exe,bob',
        filter_type: 'all',
      });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe(
        'limit=50&f0=process_path&o0=co&v0=cmd.exe&f1=user_name&o1=eq&v1=bob&gm1=all&g1=0%2C1',
      );
      expect(result.data.length).toBeGreaterThan(0);
      for (const row of result.data as Array<{ process_path: string; user_name: string }>) {
        expect(row.process_path.toLowerCase()).toContain('cmd.exe');
        expect(row.user_name).toBe('bob');
      }
    });

    it.each([
      [{ event_type: '' }, "Please provide a value for the 'event_type' parameter"],
      [
        { event_type: 'netflow' },
        "Please provide valid input from ['combined', 'dns', 'driver', 'file', 'network', 'process', 'registry', 'security', 'image'] in 'event_type' action parameter",
      ],
      [{ limit: -1 }, 'Please provide a valid non-negative integer value in the limit parameter'],
      [{ offset: '1.5' }, 'Please provide a valid integer value in the offset parameter'],
      [
        { fields: 'pid' },
        "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
      ],
      [
        { fields: 'pid,user_name', operators: 'eq', values: '1,2' },
        "Parameters 'fields', 'operators' and 'values' must have the same number of items (got 2, 1, 2)",
      ],
      [
        { fields: ['cmdline'], operators: ['co'], values: ['a,b'] },
        "Please provide items without commas in the 'values' parameter (got 'a,b')",
      ],
      [
        { fields: ['cmdline', 'user_name'], operators: ['co', 'eq'], values: ['whoami,bob'] },
        "Please provide items without commas in the 'values' parameter (got 'whoami,bob')",
      ],
      [
        { fields: 'pid', operators: 'like', values: '1' },
        "Please provide valid input from ['co', 'nc', 'isempty', 'isnull', 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'range'] in 'operators' action parameter",
      ],
      [
        { fields: 'pid', operators: 'eq', values: '1', filter_type: 'some' },
        "Please provide valid input from ['any', 'all'] in 'filter_type' action parameter",
      ],
    ])('rejects %j before any call', async (extra, message) => {
      // Act
      const result = await run(getEvents, { connection_id: CONNECTED, event_type: 'process', ...extra });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(message);
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
      expect(emulator.requestCount()).toBe(0);
    });

    it('keeps the 400 of a connected connection after the check', async () => {
      // Act
      const result = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'network',
        fields: 'remote_address_port',
        operators: 'range',
        values: '1-100',
      });

      // Assess
      expect(result.message).toBe(
        'Error from server. Status Code: 400 Data from server: Operator range is not supported for field remote_address_port',
      );
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      expect(emulator.requests.map((r) => r.path)).toEqual([
        connPath(CONNECTED, 'views/network/events'),
        `${TR}/conns`,
      ]);
    });

    it('says the connection could not be found', async () => {
      // Act
      const result = await run(getEvents, { connection_id: 'remote:gone:2:2', event_type: 'dns' });

      // Assess
      expect(result.message).toBe('Could not find connection');
      expect(emulator.requestCount()).toBe(2);
    });
  });

  describe('Action: get events summary', () => {
    it('returns the count under <event_type>_events_count in one request', async () => {
      // Prepare
      const count = eventsOf('network').length;

      // Act
      const result = await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'network' });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: `Network events count: ${count}`,
        parameter: { connection_id: CONNECTED, event_type: 'network' },
        data: [{ count, has_more: false }],
        summary: { network_events_count: count, more_data: false },
      });
      expect(emulator.requestCount()).toBe(1);
      expect(emulator.requests[0]?.path).toBe(connPath(CONNECTED, 'views/network/eventsCount'));
      expect(emulator.requests[0]?.rawQuery).toBe('');
    });

    it('sends only the filters and counts the matching rows', async () => {
      // Prepare
      const expected = eventsOf('dns').filter(
        (row) => String(row.query).toLowerCase().includes('evil') || row.operation === 'Nothing',
      ).length;

      // Act
      const result = await run(getEventsSummary, {
        connection_id: CONNECTED,
        event_type: 'dns',
        fields: 'query,operation',
        operators: 'co,eq',
        values: 'evil,Nothing',
        filter_type: 'any',
      });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe(
        'f0=query&o0=co&v0=evil&f1=operation&o1=eq&v1=Nothing&gm1=any&g1=0%2C1',
      );
      expect(expected).toBeGreaterThan(0);
      expect(result.summary).toEqual({ dns_events_count: expected, more_data: false });
      expect(result.message).toBe(`Dns events count: ${expected}`);
    });

    it("marks a capped count with more_data, its message the contract's", async () => {
      // Prepare
      emulator.config.eventsCountCap = 10;

      // Act
      const result = await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'combined' });

      // Assess
      expect(result.data).toEqual([{ count: 10, has_more: true }]);
      expect(result.summary).toEqual({ combined_events_count: 10, more_data: true });
      expect(result.message).toBe('Combined events count: 10');
      // More combined events than the cap exist, so 10 is indeed not the whole count.
      expect(eventsOf('combined').length).toBeGreaterThan(10);
    });

    it('counts zero with no data for an empty body', async () => {
      // Prepare
      emulator.switches.eventsCountEmptyBody = true;

      // Act
      const result = await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'registry' });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Registry events count: 0',
        parameter: { connection_id: CONNECTED, event_type: 'registry' },
        data: [],
        summary: { registry_events_count: 0, more_data: false },
      });
    });

    it('counts zero and keeps the answer as data when a non-empty answer has no count', async () => {
      // Prepare: 200 {"message": "Counting"}
      emulator.faults.add({
        path: connPath(CONNECTED, 'views/network/eventsCount'),
        kind: 'status',
        status: 200,
        shape: 'message',
        message: 'Counting',
      });

      // Act
      const result = await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'network' });

      // Assess
      expect(result).toEqual({
        status: 'success',
        message: 'Network events count: 0',
        parameter: { connection_id: CONNECTED, event_type: 'network' },
        data: [{ message: 'Counting' }],
        summary: { network_events_count: 0, more_data: false },
      });
    });

    it('counts zero with the answer as data for {"has_more": true} (a lower bound) and for {}', async () => {
      // Prepare
      const answers = [{ has_more: true }, {}];
      const context = rewriting(connPath(CONNECTED, 'views/file/eventsCount'), () => answers.shift());

      // Act
      const results = [
        await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'file' }, context),
        await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'file' }, context),
      ];

      // Assess
      expect(
        results.map(({ status, message, data, summary }) => ({ status, message, data, summary })),
      ).toEqual([
        {
          status: 'success',
          message: 'File events count: 0',
          data: [{ has_more: true }],
          summary: { file_events_count: 0, more_data: true },
        },
        {
          status: 'success',
          message: 'File events count: 0',
          data: [{}],
          summary: { file_events_count: 0, more_data: false },
        },
      ]);
    });

    it('checks the event type and the filters before any call', async () => {
      // Act
      const badType = await run(getEventsSummary, { connection_id: CONNECTED, event_type: 'Network' });
      const badFilters = await run(getEventsSummary, {
        connection_id: CONNECTED,
        event_type: 'network',
        operators: 'eq',
      });

      // Assess
      expect(badType.message).toBe(
        "Please provide valid input from ['combined', 'dns', 'driver', 'file', 'network', 'process', 'registry', 'security', 'image'] in 'event_type' action parameter",
      );
      expect(badFilters.message).toBe(
        "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
      );
      expect(emulator.requestCount()).toBe(0);
    });

    it('names the state of a timed-out connection', async () => {
      // Prepare
      emulator.clock.advance(emulator.config.connectTimeoutMs);

      // Act
      const result = await run(getEventsSummary, {
        connection_id: SEEDED.unreachableConnectionId,
        event_type: 'network',
      });

      // Assess
      expect(result.message).toBe('Connection not active. Current state: timeout');
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
      expect(emulator.requestCount()).toBe(2);
    });
  });

  describe('Event filters (1.11)', () => {
    it.each([
      ['missing', getEvents, {}, 'limit=1000&'],
      ['blank', getEventsSummary, { filter_type: '  ' }, ''],
    ])('combines the filters with all when filter_type is %s', async (_, action, extra, paging) => {
      // Act
      const result = await run(action, {
        connection_id: CONNECTED,
        event_type: 'process',
        fields: 'user_name',
        operators: 'eq',
        values: 'bob',
        ...extra,
      });

      // Assess
      expect(result.status).toBe('success');
      expect(emulator.requests[0]?.rawQuery).toBe(`${paging}f0=user_name&o0=eq&v0=bob&gm1=all&g1=0`);
    });

    it('needs a placeholder value for isempty and isnull: the counts must match', async () => {
      // Act
      const short = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        fields: 'user_name,group_name,process_path',
        operators: 'isempty,isnull,co',
        values: 'cmd.exe',
      });
      const none = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        fields: 'user_name',
        operators: 'isnull',
      });
      const placeheld = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        fields: 'user_name,group_name',
        operators: 'isempty,isnull',
        values: '-,-',
        filter_type: 'any',
      });

      // Assess
      expect(short).toMatchObject({
        status: 'failed',
        message:
          "Parameters 'fields', 'operators' and 'values' must have the same number of items (got 3, 3, 1)",
        error: { kind: 'validation', retryable: false },
      });
      expect(none.message).toBe(
        "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
      );
      expect(placeheld.status).toBe('success');
      expect(emulator.requests.map((r) => r.rawQuery)).toEqual([
        'limit=1000&f0=user_name&o0=isempty&v0=-&f1=group_name&o1=isnull&v1=-&gm1=any&g1=0%2C1',
      ]);
    });

    it('lists every filter index in g1 with 10 filters or more', async () => {
      // Prepare: ten names ruled out, then bob required
      const fields = Array.from({ length: 11 }, () => 'user_name');
      const operators = [...Array.from({ length: 10 }, () => 'ne'), 'eq'];
      const values = [...Array.from({ length: 10 }, (_, i) => `nobody${i}`), 'bob'];

      // Act
      const result = await run(getEvents, {
        connection_id: CONNECTED,
        event_type: 'process',
        fields: fields.join(','),
        operators: operators.join(','),
        values: values.join(','),
      });

      // Assess
      const filters = fields.map((field, i) => `f${i}=${field}&o${i}=${operators[i]}&v${i}=${values[i]}`);
      expect(emulator.requests[0]?.rawQuery).toBe(
        `limit=1000&${filters.join('&')}&gm1=all&g1=0%2C1%2C2%2C3%2C4%2C5%2C6%2C7%2C8%2C9%2C10`,
      );
      // Tanium applied the eleventh filter too
      const rows = result.data as Array<{ user_name: string }>;
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.user_name === 'bob')).toBe(true);
      expect(eventsOf('process').some((row) => row.user_name !== 'bob')).toBe(true);
    });
  });

  describe('Permission failures name the action that was refused', () => {
    it.each([
      ['get process tree', getProcessTree, { process_table_id: SEEDED_PTIDS.cmd }],
      ['get events', getEvents, { event_type: 'dns' }],
      ['get events summary', getEventsSummary, { event_type: 'dns' }],
    ] as const)('%s', async (name, action, params) => {
      // Prepare
      emulator.faults.add({ path: `${TR}/conns/*`, kind: 'status', status: 403, message: 'Refused' });

      // Act
      const result = await run(action, { connection_id: CONNECTED, ...params });

      // Assess: a 403 is reported as it is, without a connection lookup
      expect(result.message).toBe(
        `Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by ${name}. Tanium said: Refused`,
      );
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });
  });

  describe('Answers that are not what the action reads', () => {
    it.each([
      [
        'get process tree',
        getProcessTree,
        { process_table_id: SEEDED_PTIDS.cmd },
        'a list of process tree nodes',
      ],
      ['get events', getEvents, { event_type: 'dns' }, 'a list of events'],
      ['get events summary', getEventsSummary, { event_type: 'dns' }, 'an event count'],
    ] as const)('%s fails clearly on a plain-text 200', async (_name, action, params, expected) => {
      // Prepare
      emulator.faults.add({
        path: `${TR}/conns/*`,
        kind: 'status',
        status: 200,
        shape: 'plain',
        message: 'odd',
      });

      // Act
      const result = await run(action, { connection_id: CONNECTED, ...params });

      // Assess
      expect(result.message).toBe(
        `Error occurred while processing the response from server. Expected ${expected}`,
      );
      expect(result.error).toEqual({ kind: 'tanium', retryable: false });
      expect(emulator.requestCount()).toBe(1);
    });
  });
});
