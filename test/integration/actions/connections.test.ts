import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  closeConnection,
  createConnection,
  deleteConnection,
  getEndpoint,
  listConnectionsAction,
  testConnectivity,
} from '../../../shared/actions/connections.ts';
import { executeAction } from '../../../shared/actions/execute.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { TaniumClient, type TaniumResponse } from '../../../shared/tanium/client.ts';
import { parseBody } from '../../../shared/tanium/responses.ts';
import { DEC, TR } from '../../../shared/tanium/routes.ts';
import {
  clientFor,
  contextFor,
  credentialsFor,
  type Emulator,
  SEEDED,
  startTestEmulator,
} from '../../helpers/tanium.ts';

describe('Actions: connections family', () => {
  let emulator: Emulator;
  let ctx: ActionContext;

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => {
    emulator.reset();
    ctx = contextFor(clientFor(emulator), emulator);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const run = (action: unknown, params: Record<string, unknown> = {}, context = ctx) =>
    executeAction(action as ActionDefinition, params, context);

  /**
   * A context whose client rewrites the answer for `path` after the emulator served the real request
   * (for answers the emulator never gives).
   */
  const rewriting = (path: string, rewrite: (response: TaniumResponse) => TaniumResponse) => {
    const client = clientFor(emulator);
    const request = client.request.bind(client);
    vi.spyOn(client, 'request').mockImplementation(async (call) => {
      const response = await request(call);
      return call.path === path ? rewrite(response) : response;
    });
    return contextFor(client, emulator);
  };
  const CONNECT = `${TR}/conns/connect`;
  const postedTarget = () => emulator.requests.find((r) => r.path === CONNECT)?.json;

  describe('Action: test connectivity', () => {
    it('passes with the token and says which credential worked', async () => {
      const result = await run(testConnectivity);
      expect(result).toEqual({
        status: 'success',
        message: 'Test Connectivity Passed',
        parameter: {},
        data: [],
        summary: { auth: 'token' },
      });
      expect(emulator.requests.map((r) => r.path)).toEqual([`${TR}/status`]);
    });

    it('reports a session login when only username and password are configured', async () => {
      const result = await run(testConnectivity, {}, contextFor(clientFor(emulator, { auth: 'password' })));
      expect(result.summary).toEqual({ auth: 'session' });
    });

    it('fails with the permission it needs', async () => {
      emulator.removePermission('full', 'threat response use api');
      const result = await run(testConnectivity);
      expect(result.status).toBe('failed');
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
      expect(result.message).toContain(
        "lacks the 'threat response use api' permission needed by test connectivity",
      );
    });

    it('fails before any call when no credential is configured', () => {
      const credentials = credentialsFor(emulator, { secret: { api_token: null } });
      expect(() => new TaniumClient(credentials)).toThrow(
        'Please provide either an API token, or username and password credentials',
      );
      expect(emulator.requests).toHaveLength(0);
    });
  });

  describe('Action: list connections', () => {
    it('lists every connection unchanged and counts active and inactive ones', async () => {
      // Act
      const result = await run(listConnectionsAction);

      // Assess
      expect(result.status).toBe('success');
      const ids = result.data.map((c) => (c as { id: string }).id);
      expect(ids).toContain(SEEDED.connectedConnectionId);
      const statuses = result.data.map((c) => (c as { status: string }).status);
      const active = statuses.filter((s) => s === 'connected').length;
      const inactive = statuses.filter((s) => s === 'disconnected').length;
      expect(result.summary).toEqual({
        total_connections: result.data.length,
        active_connections: active,
        inactive_connections: inactive,
      });
      expect(result.message).toBe(
        `Number of total connections: ${result.data.length}, Number of active connections: ${active}, Number of inactive connections: ${inactive}`,
      );
      expect(result.data[0]).toHaveProperty('initiatedAt');
    });

    it('leaves out zero counts from the summary but prints them in the message', async () => {
      emulator.reset({ seed: false });
      const result = await run(listConnectionsAction);
      expect(result.summary).toEqual({ total_connections: 0 });
      expect(result.message).toBe(
        'Number of total connections: 0, Number of active connections: 0, Number of inactive connections: 0',
      );
    });

    it("returns exactly the connections in the emulator's state", async () => {
      // Prepare: web-02 has connected by now; the state says what Tanium holds
      emulator.clock.advance(emulator.config.connectDelayMs);
      const { connections } = emulator.state;
      const expected = connections.list().map((record) => connections.toJson(record));
      const count = (status: string) => expected.filter((row) => row.status === status).length;

      // Act
      const result = await run(listConnectionsAction);

      // Assess
      expect(result.data).toEqual(expected);
      expect(result.summary).toEqual({
        total_connections: expected.length,
        active_connections: count('connected'),
        inactive_connections: count('disconnected'),
      });
      // The state holds both counted statuses and others, so a miscount cannot go unseen.
      expect([expected.length, count('connected'), count('disconnected')]).toEqual([6, 4, 1]);
    });

    it('refuses an answer that is not a list, with the message of the contract', async () => {
      // Prepare: 200 {"message": ...}
      emulator.faults.add({
        method: 'GET',
        path: `${TR}/conns`,
        kind: 'status',
        status: 200,
        shape: 'message',
        message: 'ok',
      });

      // Act
      const result = await run(listConnectionsAction);

      // Assess
      expect(result).toMatchObject({
        status: 'failed',
        message: 'Error occurred while processing the response from server. Expected a list of connections',
        data: [],
        error: { kind: 'tanium', retryable: false },
      });
    });

    it.each([
      [500, 'Error from server. Status Code: 500 Data from server: database down', 'tanium'],
      // The message names the action that was refused
      [
        403,
        'Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by list connections. Tanium said: database down',
        'permission',
      ],
    ])('prefixes a Tanium error (%i)', async (status, message, kind) => {
      emulator.faults.add({ path: `${TR}/conns`, kind: 'status', status, message: 'database down' });
      const result = await run(listConnectionsAction);
      expect(result.message).toBe(`Unable to list connections. Error message: ${message}`);
      expect(result.error).toEqual({ kind, retryable: false });
    });
  });

  describe('Action: get endpoint', () => {
    it('returns every matching row and summarises the last one', async () => {
      const result = await run(getEndpoint, { destination: 'dup-host' });
      expect(result.status).toBe('success');
      expect(result.message).toBe('Endpoint information fetched successfully');
      expect(result.data).toHaveLength(2);
      expect(result.summary).toEqual({ hostname: 'dup-host', ip: '10.0.0.21', total_endpoints: 2 });
      expect((result.data[1] as { clientId: string }).clientId).toBe('1111111112');
      expect(emulator.requests[0]).toMatchObject({ path: `${DEC}/endpoints`, rawQuery: 'hostname=dup-host' });
    });

    it.each([
      ['ip_address', '10.0.0.5', 'ip=10.0.0.5'],
      ['client_id', '2029399999', 'clientId=2029399999'],
    ])('looks up by %s', async (type, destination, rawQuery) => {
      const result = await run(getEndpoint, { destination, destination_type: type });
      expect(result.summary).toMatchObject({ hostname: 'test-client-1', total_endpoints: 1 });
      expect(emulator.requests[0]?.rawQuery).toBe(rawQuery);
    });

    it('fails when no endpoint matches', async () => {
      const result = await run(getEndpoint, { destination: 'nobody' });
      expect(result).toMatchObject({
        status: 'failed',
        message: 'Get endpoint info failed or endpoint does not exist',
        error: { kind: 'not_found', retryable: false },
      });
    });

    it.each([
      ['get endpoint', 'Get endpoint info failed or endpoint does not exist'],
      ['create connection', 'Get endpoint info for new connection failed. Endpoint does not exist: web-02'],
    ])('%s: an answer without data means no endpoint', async (action, message) => {
      // Prepare: 200 with a JSON object that has no `data`
      emulator.faults.add({ path: `${DEC}/endpoints`, kind: 'status', status: 200, shape: 'message' });

      // Act
      const result = await run(action === 'get endpoint' ? getEndpoint : createConnection, {
        destination: 'web-02',
      });

      // Assess
      expect(result).toMatchObject({ status: 'failed', message, error: { kind: 'not_found' } });
    });

    it.for([
      ['get endpoint', '{"data":{}}', {}],
      ['get endpoint', '{"data":""}', ''],
      ['create connection', '{"data":{}}', {}],
    ] as const)(
      '%s: an empty data (%s) means no endpoint, as the connector read it',
      async ([action, , payload]) => {
        // Prepare: the lookup's answer replaced by a wrapped empty value
        const client = clientFor(emulator);
        const request = client.request.bind(client);
        client.request = (async (req: Parameters<typeof client.request>[0]) => {
          const response = await request(req);
          return req.path === `${DEC}/endpoints` ? { ...response, payload, wrapped: true } : response;
        }) as typeof client.request;

        // Act
        const result = await run(
          action === 'get endpoint' ? getEndpoint : createConnection,
          { destination: 'web-02' },
          contextFor(client, emulator),
        );

        // Assess
        expect(result).toMatchObject({
          status: 'failed',
          message:
            action === 'get endpoint'
              ? 'Get endpoint info failed or endpoint does not exist'
              : 'Get endpoint info for new connection failed. Endpoint does not exist: web-02',
          error: { kind: 'not_found' },
        });
        expect(emulator.requests.filter((logged) => logged.method === 'POST')).toHaveLength(0);
      },
    );

    it('reports a data that is not a list as a bad answer, not as a missing endpoint', async () => {
      // Prepare: {"data": {...}} answered for the lookup
      const client = clientFor(emulator);
      const request = client.request.bind(client);
      client.request = (async (req: Parameters<typeof client.request>[0]) => {
        const response = await request(req);
        return req.path === `${DEC}/endpoints`
          ? { ...response, payload: { hostname: 'web-02' }, wrapped: true }
          : response;
      }) as typeof client.request;

      // Act
      const result = await run(getEndpoint, { destination: 'web-02' }, contextFor(client, emulator));

      // Assess
      expect(result).toMatchObject({
        status: 'failed',
        message: 'Error occurred while processing the response from server. Expected a list of endpoints',
      });
    });

    it('names the allowed destination types', async () => {
      const result = await run(getEndpoint, { destination: 'x', destination_type: 'mac' });
      expect(result.message).toBe(
        "Please provide valid input from ['hostname', 'ip_address', 'client_id'] in 'destination_type' action parameter",
      );
      expect(emulator.requests).toHaveLength(0);
    });
  });

  describe('Action: create connection', () => {
    it('creates a connection to the most recently registered matching endpoint', async () => {
      // Act
      const result = await run(createConnection, { destination: 'dup-host' });

      // Assess
      expect(result.status).toBe('success');
      expect(result.message).toBe('Connection created successfully');
      const id = (result.data[0] as { id: string }).id;
      expect(id).toMatch(/^remote:dup-host:1111111112:\d+$/);
      expect(result.summary).toEqual({ connection_id: id });
      const connect = emulator.requests.find((r) => r.path === `${TR}/conns/connect`);
      expect(connect?.json).toEqual({
        target: {
          hostname: 'dup-host',
          ip: expect.any(String),
          clientId: '1111111112',
          platform: expect.anything(),
        },
      });
    });

    it('names a parameter it ignored in the summary, so a playbook sees its misspelt wait was not made', async () => {
      // Act
      const result = await run(createConnection, { destination: 'dup-host', wait_second: 30 });

      // Assess: created without waiting, as the default says, and saying why
      expect(result.status).toBe('success');
      expect(result.summary).toEqual({
        connection_id: expect.any(String),
        ignored_parameters: ['wait_second'],
        likely_parameters: { wait_second: 'wait_seconds' },
      });
      expect(emulator.requests.filter((r) => r.method === 'GET' && r.path === `${TR}/conns`)).toHaveLength(0);
    });

    it.each(['hostname', 'ip', 'clientId', 'platform'])(
      'fails without connecting when the picked endpoint row has no %s',
      async (key) => {
        // Prepare: the DEC rows lack one key
        const context = rewriting(`${DEC}/endpoints`, (response) => ({
          ...response,
          payload: (response.payload as Array<Record<string, unknown>>).map((row) => {
            const { [key]: _, ...rest } = row;
            return rest;
          }),
        }));

        // Act
        const result = await run(createConnection, { destination: 'web-02' }, context);

        // Assess
        expect(result).toMatchObject({
          status: 'failed',
          message: 'Endpoint data lookup failure in create_connection',
          error: { kind: 'tanium', retryable: false },
        });
        expect(emulator.requestCount({ path: CONNECT })).toBe(0);
      },
    );

    describe('picking the endpoint row (the last candidate, else the last row)', () => {
      const row = (clientId: unknown, hostname: unknown, ip: unknown, platform: unknown = 'Windows') => ({
        clientId,
        hostname,
        ip,
        platform,
        ready: true,
      });

      it.each([
        [
          'hostname, case-insensitively',
          { destination: 'DUP-HOST' },
          [
            row('1111111111', 'dup-host', '10.0.0.20'),
            row('1111111112', 'Dup-Host', '10.0.0.21'),
            row('7777777777', 'other-pc', '10.0.0.99'),
          ],
          1,
        ],
        [
          'ip',
          { destination: '10.0.0.21', destination_type: 'ip_address' },
          [
            row('1111111111', 'host-a', '10.0.0.21'),
            row('1111111112', 'host-b', '10.0.0.21'),
            row('7777777777', 'host-c', '10.0.0.22'),
          ],
          1,
        ],
        [
          'clientId',
          { destination: '1111111112', destination_type: 'client_id' },
          [
            row('1111111112', 'host-a', '10.0.0.20'),
            row(1111111112, 'host-b', null, null),
            row('7777777777', 'host-c', '10.0.0.22'),
          ],
          1,
        ],
        [
          'nothing: the last row of all',
          { destination: 'web-02' },
          [row('1111111111', 'web-02.corp', '10.0.0.20'), row('1111111112', 'web-02-old', null, null)],
          1,
        ],
      ])('matching %s', async (_, params, rows, picked) => {
        // Prepare: DEC answers these rows in this order
        const context = rewriting(`${DEC}/endpoints`, (response) => ({ ...response, payload: rows }));

        // Act
        const result = await run(createConnection, params, context);

        // Assess: the target is the picked row's values exactly as returned, nulls and numbers included
        expect(result.status).toBe('success');
        const { hostname, ip, clientId, platform } = rows[picked]!;
        expect(postedTarget()).toEqual({ target: { hostname, ip, clientId, platform } });
      });

      it('needs the keys only on the picked row', async () => {
        // Prepare
        const context = rewriting(`${DEC}/endpoints`, (response) => ({
          ...response,
          payload: [
            { clientId: '1111111111', hostname: 'dup-host' },
            row('1111111112', 'dup-host', '10.0.0.21'),
          ],
        }));

        // Act
        const result = await run(createConnection, { destination: 'dup-host' }, context);

        // Assess
        expect(result.status).toBe('success');
        expect(postedTarget()).toMatchObject({ target: { clientId: '1111111112' } });
      });
    });

    describe('the connect answer', () => {
      const ID = 'remote:web-02:3380012345:9';

      it('reads the JSON string Tanium answers as the id', async () => {
        // Act
        const result = await run(createConnection, { destination: 'web-02' });

        // Assess
        const created = emulator.state.connections.list().at(-1)!;
        expect(created.hostname).toBe('web-02');
        expect(result.data).toEqual([{ id: created.id }]);
        expect(result.summary).toEqual({ connection_id: created.id });
      });

      it.each([
        ['{"id"}', `{"id":"${ID}"}`, ID],
        ['{"data"} (wrapped)', `{"data":"${ID}"}`, ID],
        ['a JSON string with whitespace', ` "${ID}"\n`, ID],
        // A numeric id is kept as its decimal text, as every other id is a string
        ['{"id"} as a number', '{"id":42}', '42'],
        ['a JSON number', '42', '42'],
      ])('reads the id from %s', async (_, body, id) => {
        // Prepare: the body as the client reads it
        const context = rewriting(CONNECT, (response) => ({
          ...response,
          ...parseBody((text) => text, 200, body, 'application/json'),
        }));

        // Act
        const result = await run(createConnection, { destination: 'web-02' }, context);

        // Assess
        expect(result).toMatchObject({
          status: 'success',
          message: 'Connection created successfully',
          data: [{ id }],
          summary: { connection_id: id },
        });
      });

      it('finds a numeric id in the list it polls while it waits', async () => {
        // Prepare: Tanium answers the connect and lists the connection with the number 42
        const client = clientFor(emulator);
        const request = client.request.bind(client);
        vi.spyOn(client, 'request').mockImplementation(async (call) => {
          const response = await request(call);
          if (call.path === CONNECT) return { ...response, payload: 42 };
          if (call.path === `${TR}/conns`) return { ...response, payload: [{ id: 42, status: 'connected' }] };
          return response;
        });

        // Act
        const result = await run(
          createConnection,
          { destination: 'web-02', wait_seconds: 4 },
          contextFor(client, emulator),
        );

        // Assess: the id read as its decimal text is the row listed as a number
        expect(result).toMatchObject({
          status: 'success',
          summary: { connection_id: '42', connection_status: 'connected' },
        });
      });

      it.each([
        ['quoted', `  "${ID}"  `],
        ['quoted with whitespace inside the quotes', ` " ${ID}\t" `],
        // Not JSON, so the action strips the quotes itself, not the client's JSON reading
        ['doubly quoted', ` ""${ID}"" `],
        ['bare', `\n ${ID} \n`],
      ])('reads the id from %s plain text, stripping quotes and whitespace', async (_, text) => {
        // Prepare
        emulator.faults.add({
          method: 'POST',
          path: CONNECT,
          kind: 'status',
          status: 200,
          shape: 'plain',
          message: text,
        });

        // Act
        const result = await run(createConnection, { destination: 'web-02' });

        // Assess
        expect(result).toMatchObject({
          status: 'success',
          data: [{ id: ID }],
          summary: { connection_id: ID },
        });
      });

      it.each([
        ['an empty body', { shape: 'empty' }],
        ['an object without id', { shape: 'text', message: 'Accepted' }],
        ['empty quotes', { shape: 'plain', message: ' "" ' }],
      ] as const)('fails when Tanium answers %s', async (_, answer) => {
        // Prepare
        emulator.faults.add({ method: 'POST', path: CONNECT, kind: 'status', status: 200, ...answer });

        // Act
        const result = await run(createConnection, { destination: 'web-02' });

        // Assess
        expect(result).toMatchObject({
          status: 'failed',
          message: 'Create connection failed. Tanium returned no connection id',
          data: [],
          error: { kind: 'tanium', retryable: false },
        });
        expect(emulator.requestCount({ path: CONNECT })).toBe(1);
      });

      it('fails when Tanium answers {}', async () => {
        // Prepare
        const context = rewriting(CONNECT, (response) => ({ ...response, payload: {} }));

        // Act
        const result = await run(createConnection, { destination: 'web-02' }, context);

        // Assess
        expect(result).toMatchObject({
          status: 'failed',
          message: 'Create connection failed. Tanium returned no connection id',
        });
      });

      it('keeps the prefix on a failed connect call', async () => {
        // Prepare
        emulator.faults.add({
          method: 'POST',
          path: CONNECT,
          kind: 'status',
          status: 500,
          message: 'Connection manager down',
        });

        // Act
        const result = await run(createConnection, { destination: 'web-02' });

        // Assess
        expect(result).toMatchObject({
          status: 'failed',
          message:
            'Create connection failed. Error from server. Status Code: 500 Data from server: Connection manager down',
          error: { kind: 'tanium', retryable: false },
        });
        expect(emulator.requestCount({ path: CONNECT })).toBe(1);
      });
    });

    it('accepts the id as plain text', async () => {
      emulator.switches.connectTextPlain = true;
      const result = await run(createConnection, { destination: 'web-02' });
      expect((result.data[0] as { id: string }).id).toMatch(/^remote:web-02:3380012345:\d+$/);
    });

    it('waits until the connection is connected when wait_seconds is set', async () => {
      // Act
      const result = await run(createConnection, { destination: 'test-client-1', wait_seconds: 10 });

      // Assess
      expect(result.status).toBe('success');
      expect(result.data[0]).toMatchObject({ status: 'connected' });
      expect(result.summary).toMatchObject({ connection_status: 'connected' });
      // Polls at 0 and 2 s: it stops at the first connected poll, not at the end of the wait
      expect(emulator.requestCount({ path: `${TR}/conns` })).toBe(2);
    });

    it('polls once more at the end of a wait that is not a multiple of the 2 s step', async () => {
      // Prepare: web-02 style, connected 2.5 s after the connect call
      emulator.config.connectDelayMs = 2500;

      // Act
      const result = await run(createConnection, { destination: 'web-02', wait_seconds: 3 });

      // Assess: polls at 0, 2 and 3 s; the last one sees it connected
      expect(result.status).toBe('success');
      expect(result.summary).toMatchObject({ connection_status: 'connected' });
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(3);
    });

    it('waits the whole of a 1 s wait before saying it is still waiting', async () => {
      // Act
      const started = emulator.clock.now();
      const result = await run(createConnection, { destination: 'web-02', wait_seconds: 1 });

      // Assess
      expect(result.message).toBe(
        'Connection created but still waiting after 1 seconds. Current state: waiting',
      );
      expect(emulator.clock.now() - started).toBeGreaterThanOrEqual(1000);
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(2);
    });

    it.each([
      ['an empty status', (row: Record<string, unknown>) => [{ ...row, status: '' }]],
      ['a blank status', (row: Record<string, unknown>) => [{ ...row, status: '  ' }]],
      ['a row without status', ({ status: _, ...row }: Record<string, unknown>) => [row]],
      ['a status that is not text', (row: Record<string, unknown>) => [{ ...row, status: 1 }]],
      ['no row for the connection', () => []],
    ])('treats %s as no state: it keeps waiting and reports it as not listed', async (_, rewrite) => {
      // Prepare: Tanium lists the connection so
      const client = clientFor(emulator);
      const request = client.request.bind(client);
      vi.spyOn(client, 'request').mockImplementation(async (call) => {
        const response = await request(call);
        if (call.path !== `${TR}/conns` || !Array.isArray(response.payload)) return response;
        return { ...response, payload: response.payload.flatMap(rewrite) };
      });

      // Act
      const result = await run(
        createConnection,
        { destination: 'web-02', wait_seconds: 4 },
        contextFor(client, emulator),
      );

      // Assess
      expect(result.message).toBe(
        'Connection created but still waiting after 4 seconds. Current state: not listed',
      );
      expect(result.summary).toMatchObject({ connection_status: null });
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(3);
    });

    it('fails with the state when the connection times out while waiting', async () => {
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 60 });
      expect(result.status).toBe('failed');
      expect(result.message).toBe('Connection created but not active. Current state: timeout');
      expect(result.summary).toMatchObject({ connection_status: 'timeout' });
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
    });

    it('fails when the connection is still waiting after wait_seconds', async () => {
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 5 });
      expect(result.message).toBe(
        'Connection created but still waiting after 5 seconds. Current state: waiting',
      );
      expect(result.data[0]).toMatchObject({ status: 'waiting' });
    });

    it('reports the seconds it really waited when the function time limit cut the wait', async () => {
      // Prepare: 7.5 s of the invocation left; sleeping skips time on one clock shared by wait and deadline
      let skipped = 0;
      const cut = contextFor(clientFor(emulator), emulator, {
        deadline: Date.now() + 7500,
        now: () => Date.now() + skipped,
        sleep: async (ms: number) => {
          skipped += ms;
          emulator.clock.advance(ms);
        },
      });

      // Act
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 900 }, cut);

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        "Connection created but still waiting after 6 seconds. Current state: waiting. The function's time limit cut the wait short (900 seconds requested)",
      );
      // Polls at 0, 2, 4 and 6 s, and at 6.25 s: the client's minimum for one attempt and a timer's slack.
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(5);
    });

    it('pauses between polls on the real clock when no sleep is injected', async () => {
      // Prepare: the production defaults for the clock and the pause
      const real = contextFor(clientFor(emulator));

      // Act
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 1 }, real);

      // Assess: a poll at the start and one at the end of the second, not a burst of them
      expect(result.message).toBe(
        'Connection created but still waiting after 1 seconds. Current state: waiting',
      );
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBeLessThanOrEqual(2);
    });

    it('sends the last poll before a deadline that cuts the wait, on real timers', async () => {
      // Prepare: 3.6 s of the invocation left, on the real clock the client reads too; timers fire a
      // little late, as they do on a busy machine
      const cut = contextFor(clientFor(emulator), undefined, {
        deadline: Date.now() + 3_600,
        sleep: (ms: number) => delay(ms + 30),
      });

      // Act
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 900 }, cut);

      // Assess: polls at 0 and 2 s, and one more that still leaves the client its second
      expect(result.message).toMatch(
        /^Connection created but still waiting after \d+ seconds\. Current state: waiting\. The function's time limit cut the wait short/,
      );
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(3);
    });

    it('fails at once with the reason when polling is refused, and keeps the created id', async () => {
      // Prepare: the listing answers 403 every time, which waiting cannot cure
      emulator.faults.add({
        method: 'GET',
        path: `${TR}/conns`,
        kind: 'status',
        status: 403,
        message: 'No access',
      });

      // Act
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 60 });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        'Connection created but its state could not be read. Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by create connection. Tanium said: No access',
      );
      expect(result.error).toEqual({ kind: 'permission', retryable: false });
      const id = (result.data[0] as { id: string }).id;
      expect(id).toMatch(/^remote:offline-01:/);
      expect(result.summary).toEqual({ connection_id: id, connection_status: null });
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(1);
    });

    it('keeps waiting through a transient polling failure', async () => {
      // Prepare: the first poll answers 503 (after the client's own retries), later ones work
      emulator.faults.add({ method: 'GET', path: `${TR}/conns`, kind: 'status', status: 503, times: 3 });

      // Act
      const result = await run(createConnection, { destination: 'test-client-1', wait_seconds: 20 });

      // Assess
      expect(result.status).toBe('success');
      expect(result.summary).toMatchObject({ connection_status: 'connected' });
    });

    it('says the state is unknown, with the last poll error, when every poll failed transiently', async () => {
      // Prepare: every listing answers 503 while the connection comes up after 2 s
      emulator.faults.add({
        method: 'GET',
        path: `${TR}/conns`,
        kind: 'status',
        status: 503,
        shape: 'text',
        message: 'Service busy',
      });

      // Act
      const result = await run(createConnection, { destination: 'test-client-1', wait_seconds: 3 });

      // Assess
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        'Connection created but still waiting after 3 seconds. Current state: unknown (the connection list could not be read: Error from server. Status Code: 503 Data from server: Service busy)',
      );
      expect(result.error).toEqual({ kind: 'connection', retryable: false });
      const id = (result.data[0] as { id: string }).id;
      const { connections } = emulator.state;
      const record = connections.get(id);
      expect(record && connections.status(record)).toBe('connected');
      expect(result.summary).toEqual({ connection_id: id, connection_status: null });
      // Polls at 0, 2 and 3 s, each after the client's own 3 attempts.
      expect(emulator.requestCount({ method: 'GET', path: `${TR}/conns` })).toBe(9);
    });

    it('keeps the last state read when later polls fail transiently', async () => {
      // Prepare: the first poll reads "waiting", every later one answers 503
      const context = contextFor(clientFor(emulator), emulator, {
        sleep: async (ms: number) => {
          emulator.faults.add({ method: 'GET', path: `${TR}/conns`, kind: 'status', status: 503 });
          emulator.clock.advance(ms);
        },
      });

      // Act
      const result = await run(createConnection, { destination: 'offline-01', wait_seconds: 3 }, context);

      // Assess
      expect(result.message).toBe(
        'Connection created but still waiting after 3 seconds. Current state: waiting',
      );
      expect(result.summary).toMatchObject({ connection_status: 'waiting' });
    });

    it.each([
      {
        // The client holds the last poll for the rest of Tanium's pause (its cap, a minute), time allowing
        name: 'the invocation has time for the rest of the pause',
        deadlineMs: 90_000,
        holds: 1,
        polls: 2,
        status: 'connected',
        message: 'Connection created successfully',
      },
      {
        name: 'the rest of the pause would outlast the invocation',
        deadlineMs: 60_000,
        holds: 0,
        polls: 1,
        status: null,
        message:
          'Connection created but still waiting after 30 seconds. Current state: unknown (the connection list could not be read: Tanium asked to hold off for 60 s more (a 429 answer with Retry-After); GET /plugin/products/threat-response/api/v1/conns was not sent, as the wait would outlast the invocation)',
      },
    ])(
      "pauses polling for a throttled poll's Retry-After, up to the end of the wait, instead of 2 s, when $name",
      async ({ deadlineMs, holds, polls, status, message }) => {
        // Prepare: the first poll answers 429 asking for 100 s, more than the client may wait for it
        emulator.faults.add({
          method: 'GET',
          path: `${TR}/conns`,
          kind: 'status',
          status: 429,
          retryAfter: 100,
          times: 1,
        });
        const sleeps: number[] = [];
        const clientWaits: number[] = [];
        const client = clientFor(emulator, { sleep: async (ms) => clientWaits.push(ms) });
        const context = contextFor(client, emulator, {
          deadline: Date.now() + deadlineMs,
          sleep: async (ms: number) => {
            sleeps.push(ms);
            emulator.clock.advance(ms);
          },
        });

        // Act
        const result = await run(
          createConnection,
          { destination: 'test-client-1', wait_seconds: 30 },
          context,
        );

        // Assess: one pause to the end of the wait, then the last poll
        expect(sleeps).toHaveLength(1);
        expect(sleeps[0]).toBeGreaterThan(25_000);
        expect(clientWaits).toHaveLength(holds);
        for (const wait of clientWaits) expect(wait).toBeGreaterThan(50_000);
        expect(result.message).toBe(message);
        expect(result.summary).toMatchObject({ connection_status: status });
        expect(emulator.requestCount({ path: `${TR}/conns` })).toBe(polls);
      },
    );

    it('explains a missing endpoint with its name', async () => {
      const result = await run(createConnection, { destination: 'ghost' });
      expect(result.message).toBe(
        'Get endpoint info for new connection failed. Endpoint does not exist: ghost',
      );
      expect(emulator.requestCount({ path: `${TR}/conns/connect` })).toBe(0);
    });

    it('cuts a long missing destination to 200 characters when it echoes it', async () => {
      // Prepare
      const destination = 'h'.repeat(1_300);

      // Act
      const result = await run(createConnection, { destination });

      // Assess
      expect(result).toMatchObject({ status: 'failed', error: { kind: 'not_found' } });
      expect(result.message).toBe(
        `Get endpoint info for new connection failed. Endpoint does not exist: ${'h'.repeat(200)}…`,
      );
    });

    it('keeps the lookup error text', async () => {
      emulator.faults.add({
        path: `${DEC}/endpoints`,
        kind: 'status',
        status: 500,
        message: 'DEC unavailable',
      });
      const result = await run(createConnection, { destination: 'web-02' });
      expect(result.message).toBe(
        'Get endpoint info for new connection failed. Error from server. Status Code: 500 Data from server: DEC unavailable',
      );
    });

    it('validates wait_seconds before any call', async () => {
      const result = await run(createConnection, { destination: 'web-02', wait_seconds: 901 });
      expect(result.message).toBe('Please provide a value between 0 and 900 in the wait_seconds parameter');
      const negative = await run(createConnection, { destination: 'web-02', wait_seconds: '-1' });
      expect(negative.message).toBe(
        'Please provide a valid non-negative integer value in the wait_seconds parameter',
      );
      expect(emulator.requests).toHaveLength(0);
    });

    it('requires a destination', async () => {
      const result = await run(createConnection, { destination: '  ' });
      expect(result.message).toBe("Please provide a value for the 'destination' parameter");
      expect(result.error).toEqual({ kind: 'validation', retryable: false });
    });
  });

  describe.each([
    ['close', closeConnection, 'Close'],
    ['delete', deleteConnection, 'Delete'],
  ] as const)('Action: %s connection', (kind, action, verb) => {
    it(`${kind}s the connection with one request`, async () => {
      const result = await run(action, { connection_id: SEEDED.connectedConnectionId });
      expect(result).toMatchObject({ status: 'success', message: `${verb} connection requested`, data: [] });
      expect(emulator.requests.map((r) => [r.method, r.path])).toEqual([
        ['DELETE', `${TR}/conns/${kind}/${SEEDED.connectedConnectionId}`],
      ]);
    });

    it('keeps the server error text', async () => {
      const result = await run(action, { connection_id: 'remote:nope:1:1' });
      expect(result.status).toBe('failed');
      expect(result.message).toBe(
        `${verb} connection failed. Error from server. Status Code: 404 Data from server: Connection not found: remote:nope:1:1`,
      );
      expect(result.error?.kind).toBe('not_found');
    });

    it.each([
      ['a gateway error', { kind: 'status', status: 502 }],
      ['the connection dropped after sending', { kind: 'resetBeforeHeaders' }],
    ] as const)(
      'says Tanium may have carried it out when the first attempt lost its answer (%s) and the retry gets 404',
      async (_, fault) => {
        // Prepare: the first attempt's answer is lost; by the retry Tanium no longer has the connection
        const id = 'remote:gone:1:1';
        emulator.faults.add({ method: 'DELETE', path: `${TR}/conns/${kind}/${id}`, times: 1, ...fault });

        // Act
        const result = await run(action, { connection_id: id });

        // Assess
        expect(result.status).toBe('failed');
        expect(result.error?.kind).toBe('not_found');
        expect(result.message).toBe(
          `${verb} connection failed. Error from server. Status Code: 404 Data from server: Connection not found: ${id}. An earlier attempt of this request got no answer (HTTP 502 or 504, or the connection dropped after sending): Tanium may have carried it out before this 404.`,
        );
        expect(emulator.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
      },
    );

    it('encodes a hostile connection id and refuses dot segments', async () => {
      await run(action, { connection_id: 'remote:x/../../y?z#w:1' });
      expect(emulator.requests[0]?.path).toBe(`${TR}/conns/${kind}/remote:x%2F..%2F..%2Fy%3Fz%23w:1`);
      const dots = await run(action, { connection_id: '..' });
      expect(dots.message).toBe(
        "Please provide a valid value in the 'connection_id' parameter: '.' and '..' are not allowed",
      );
      expect(emulator.requests).toHaveLength(1);
    });
  });

  describe('Permission failures name the action that was refused', () => {
    const denied = (action: string) =>
      `Permission denied (HTTP 403): the Tanium user or API token lacks a Threat Response permission needed by ${action}. Tanium said: No access`;

    it.each([
      ['get endpoint', getEndpoint, { destination: 'web-02' }, `${DEC}/endpoints`, denied('get endpoint')],
      [
        'create connection',
        createConnection,
        { destination: 'web-02' },
        `${DEC}/endpoints`,
        `Get endpoint info for new connection failed. ${denied('create connection')}`,
      ],
      [
        'close connection',
        closeConnection,
        { connection_id: SEEDED.connectedConnectionId },
        `${TR}/conns/close/*`,
        `Close connection failed. ${denied('close connection')}`,
      ],
      [
        'delete connection',
        deleteConnection,
        { connection_id: SEEDED.connectedConnectionId },
        `${TR}/conns/delete/*`,
        `Delete connection failed. ${denied('delete connection')}`,
      ],
    ])('%s', async (_, action, params, path, message) => {
      // Prepare
      emulator.faults.add({ path, kind: 'status', status: 403, message: 'No access' });

      // Act
      const result = await run(action, params);

      // Assess
      expect(result).toMatchObject({ status: 'failed', message, error: { kind: 'permission' } });
      expect(emulator.requestCount()).toBe(1);
    });
  });

  describe('Action: delete connection, then create connection', () => {
    it('creates a connection again to the endpoint of a deleted one', async () => {
      // Prepare
      const first = await run(createConnection, { destination: 'web-02' });
      const firstId = (first.data[0] as { id: string }).id;

      // Act
      const deleted = await run(deleteConnection, { connection_id: firstId });
      const again = await run(createConnection, { destination: 'web-02', wait_seconds: 4 });

      // Assess: the second connection is a new one, and it comes up
      expect(deleted).toMatchObject({ status: 'success', message: 'Delete connection requested' });
      expect(again).toMatchObject({ status: 'success', message: 'Connection created successfully' });
      const againId = (again.data[0] as { id: string }).id;
      expect(againId).toMatch(/^remote:web-02:3380012345:\d+$/);
      expect(againId).not.toBe(firstId);
      expect(again.summary).toEqual({ connection_id: againId, connection_status: 'connected' });
      expect(emulator.state.connections.get(firstId)).toBeUndefined();
      expect(emulator.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, r.path])).toEqual([
        ['POST', CONNECT],
        ['DELETE', `${TR}/conns/delete/${firstId}`],
        ['POST', CONNECT],
      ]);
    });
  });
});
