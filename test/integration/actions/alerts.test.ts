import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listAlerts } from '../../../shared/actions/alerts.ts';
import { executeAction } from '../../../shared/actions/execute.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import { listAlertsPage } from '../../../shared/tanium/alerts.ts';
import type { TaniumClient } from '../../../shared/tanium/client.ts';
import { TR } from '../../../shared/tanium/routes.ts';
import { FULL_PERSONA, PERMISSIONS } from '../../emulator/index.ts';
import { clientFor, contextFor, type Emulator, startTestEmulator } from '../../helpers/tanium.ts';

type Row = Record<string, unknown> & { id: number };

describe('Action: list alerts', () => {
  let emulator: Emulator;
  let client: TaniumClient;
  let ctx: ActionContext;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    client = clientFor(emulator);
    ctx = contextFor(client, emulator);
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => {
    emulator.reset();
  });

  const list = (params: Record<string, unknown>) =>
    executeAction(listAlerts as unknown as ActionDefinition, params, ctx);
  const byId = (data: unknown[]) => new Map((data as Row[]).map((row) => [row.id, row]));
  const ids = (data: unknown[]) => (data as Row[]).map((row) => row.id);
  /** Tanium's alerts route answers 200 with `body` as it is, not the emulator's own page. */
  const answerAlertsWith = (body: string) =>
    emulator.faults.add({ path: `${TR}/alerts`, kind: 'status', status: 200, shape: 'plain', message: body });

  it('is registered in the alerts family with its permission', () => {
    expect(findAction('list_alerts')?.family).toBe('alerts');
    expect(findAction('list alerts')?.permission).toBe('threat response alerts read');
  });

  it('lists alerts newest first with counts and enriches each one, in one request', async () => {
    // Prepare
    const stored = new Map(emulator.state.alerts.all().map((alert) => [alert.id, structuredClone(alert)]));

    // Act
    const result = await list({});

    // Assess
    expect(result.status).toBe('success');
    expect(result.message).toBe('Listed alerts successfully');
    // As received (tanium-api.md 1.8): the defaults are not filled in
    expect(result.parameter).toEqual({});
    expect(result.summary).toEqual({ totalCount: 8, filteredCount: 8, total_alerts: 8 });
    expect(ids(result.data)).toHaveLength(8);
    expect(ids(result.data)[0]).toBe(8);
    expect(ids(result.data).slice(-3)).toEqual([3, 2, 1]);
    const rows = byId(result.data);
    expect(rows.get(1)).toEqual({
      ...stored.get(1),
      path: 'C:\\Windows\\System32\\test.exe',
      event_type: 'process',
      md5: '9dd4e461268c8034f5c8564e155c67a6',
      sha1: '11f6ad8ec52a2984abaafd7c3b516503785c2072',
      sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
    });
    expect(typeof rows.get(1)?.details).toBe('string');
    expect(rows.get(2)).toEqual({
      ...stored.get(2),
      path: '/home/dev/x.sh',
      event_type: 'file',
      md5: '0cc175b9c0f1b6a831c399e269772661',
    });
    expect(emulator.requestCount()).toBe(1);
    expect(emulator.requests[0]?.path).toBe(`${TR}/alerts`);
    expect(emulator.requests[0]?.rawQuery).toBe('limit=100');
  });

  it('keeps alerts whose details are invalid or missing and explains why', async () => {
    // Act
    const result = await list({});

    // Assess
    const rows = byId(result.data);
    expect(rows.get(3)).toMatchObject({
      id: 3,
      details: '{"match":{"type":"process",',
      path: '',
      event_type: '',
    });
    expect(rows.get(3)?.details_error).toMatch(/^Unable to parse details: .+/);
    expect(rows.get(3)).not.toHaveProperty('md5');
    expect(rows.get(4)).toMatchObject({
      id: 4,
      path: '',
      event_type: '',
      details_error: 'Unable to parse details: details is missing',
    });
    expect(rows.get(4)).not.toHaveProperty('details');
    expect(result.summary.total_alerts).toBe(8);
  });

  it('sends limit, then offset, then the query pairs in order, with repeated keys kept', async () => {
    // Act
    const result = await list({
      query: '?state=unresolved&state=inprogress&priority=high',
      limit: 2,
      offset: 0,
    });

    // Assess
    expect(emulator.requests[0]?.rawQuery).toBe('limit=2&state=unresolved&state=inprogress&priority=high');
    expect(ids(result.data)).toEqual([6, 1]);
    expect(result.summary).toEqual({ totalCount: 8, filteredCount: 2, total_alerts: 2 });
  });

  it('lets the limit and offset parameters win over the same keys in the query', async () => {
    // Act
    const result = await list({ query: 'limit=50&priority=high&offset=7', limit: '1', offset: '1' });

    // Assess
    expect(emulator.requests[0]?.rawQuery).toBe('limit=1&offset=1&priority=high');
    expect(result.summary).toEqual({ totalCount: 8, filteredCount: 3, total_alerts: 1 });
    expect(result.parameter).toEqual({ query: 'limit=50&priority=high&offset=7', limit: '1', offset: '1' });
  });

  it('decodes + and %xx and keeps values as strings (007 is not 7)', async () => {
    // Act
    const decoded = await list({ query: 'computerName=web%2D02&computerIpAddress=10.0.0.9' });
    const padded = await list({ query: 'intelDocId=011' });

    // Assess
    expect(emulator.requests[0]?.rawQuery).toBe('limit=100&computerName=web-02&computerIpAddress=10.0.0.9');
    const web02 = emulator.state.alerts
      .all()
      .filter((alert) => alert.computerName === 'web-02' && alert.computerIpAddress === '10.0.0.9')
      .map((alert) => alert.id);
    expect(web02).toEqual(expect.arrayContaining([2, 8]));
    expect(ids(decoded.data).sort((a, b) => a - b)).toEqual(web02.sort((a, b) => a - b));
    expect(emulator.requests[1]?.rawQuery).toBe('limit=100&intelDocId=011');
    expect(padded.summary).toEqual({ totalCount: 8, filteredCount: 0, total_alerts: 0 });
  });

  it('ignores the ph placeholder parameter', async () => {
    // Act
    const result = await list({ ph: 'anything' });

    // Assess
    expect(result.status).toBe('success');
    expect(result.parameter).toEqual({ ph: 'anything' });
    expect(result.summary).not.toHaveProperty('ignored_parameters');
    expect(emulator.requests[0]?.rawQuery).toBe('limit=100');
  });

  it('accepts a bare array of alerts and then reports only total_alerts', async () => {
    // Prepare
    answerAlertsWith(
      JSON.stringify([{ id: 41, details: { match: { type: 'file', properties: { fullpath: '/x' } } } }]),
    );

    // Act
    const result = await list({});

    // Assess
    expect(result.data).toEqual([
      {
        id: 41,
        details: { match: { type: 'file', properties: { fullpath: '/x' } } },
        path: '/x',
        event_type: 'file',
      },
    ]);
    expect(result.summary).toEqual({ total_alerts: 1 });
  });

  it('fails clearly when Tanium answers something that is not a list of alerts', async () => {
    // Prepare
    answerAlertsWith('{"alerts":"none"}');

    // Act
    const result = await list({});

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(
      'Error occurred while processing the response from server. Expected a list of alerts',
    );
    expect(result.error).toEqual({ kind: 'tanium', retryable: false });
  });

  it.each([
    ['priority', 'priority'],
    ['state=unresolved&high', 'high'],
    ['?=high', '=high'],
  ])('refuses the query %j before any call', async (query, part) => {
    // Act
    const result = await list({ query });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(
      `Unable to parse provided query: every part must be key=value (got '${part}')`,
    );
    expect(result.error).toEqual({ kind: 'validation', retryable: false });
    expect(emulator.requestCount()).toBe(0);
  });

  it.each([
    [{ limit: 0 }, 'Please provide a valid non-zero positive integer value in the limit parameter'],
    [{ limit: 'ten' }, 'Please provide a valid integer value in the limit parameter'],
    [{ offset: '-3' }, 'Please provide a valid non-negative integer value in the offset parameter'],
    [{ query: 7 }, "Please provide a string value in the 'query' parameter"],
  ])('fails validation for %j before any call', async (params, message) => {
    // Act
    const result = await list(params);

    // Assess
    expect(result.message).toBe(message);
    expect(result.error).toEqual({ kind: 'validation', retryable: false });
    expect(emulator.requestCount()).toBe(0);
  });

  it('names the alerts permission when it is missing', async () => {
    // Prepare
    emulator.removePermission(FULL_PERSONA, PERMISSIONS.alertsRead);

    // Act
    const result = await list({});

    // Assess
    expect(result.message).toBe(
      "Permission denied (HTTP 403): the Tanium user or API token lacks the 'threat response alerts read' permission needed by list alerts. Tanium said: Forbidden: missing permission threat response alerts read",
    );
    expect(result.error).toEqual({ kind: 'permission', retryable: false });
  });

  it("fails with Tanium's error text on a 500 without retrying it", async () => {
    // Prepare
    emulator.faults.add({
      path: `${TR}/alerts`,
      kind: 'status',
      status: 500,
      shape: 'errors',
      message: 'index busy',
    });

    // Act
    const result = await list({});

    // Assess
    expect(result.message).toBe('Error from server. Status Code: 500 Data from server: index busy');
    expect(result.error).toEqual({ kind: 'tanium', retryable: false });
    expect(emulator.requestCount()).toBe(1);
  });

  describe('listAlertsPage (shared with the alert poller)', () => {
    it('returns one page of raw alerts and the meta counts', async () => {
      // Act
      const page = await listAlertsPage(client, {
        limit: 3,
        offset: 3,
        pairs: [['sort', '-createdAt']],
        deadline: Date.now() + 60_000,
      });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe('limit=3&offset=3&sort=-createdAt');
      expect(page.meta).toEqual({ totalCount: 8, filteredCount: 8 });
      expect(page.alerts.map((alert) => alert.id)).toEqual([5, 4, 3]);
      expect(page.alerts[0]).not.toHaveProperty('path');
    });

    it('names list alerts in its failures unless told another action', async () => {
      // Prepare
      emulator.removePermission(FULL_PERSONA, PERMISSIONS.alertsRead);

      // Act
      const page = listAlertsPage(client, { limit: 3, deadline: Date.now() + 60_000 });

      // Assess
      await expect(page).rejects.toThrow(
        "lacks the 'threat response alerts read' permission needed by list alerts.",
      );
    });

    it('sends the limit alone without pairs, and takes an answer of null as no alerts', async () => {
      // Prepare
      answerAlertsWith('null');

      // Act
      const page = await listAlertsPage(client, { limit: 3, deadline: Date.now() + 60_000 });

      // Assess
      expect(emulator.requests[0]?.rawQuery).toBe('limit=3');
      expect(page).toEqual({ alerts: [] });
    });

    it('refuses an entry that is not an alert, or puts an empty alert in its place when asked', async () => {
      // Prepare
      answerAlertsWith(JSON.stringify([{ id: 1 }, 'junk', { id: 3 }]));

      // Act / Assess: refused by default, as the list alerts action wants
      const strict = listAlertsPage(client, { limit: 3, deadline: Date.now() + 60_000 });
      await expect(strict).rejects.toThrow(
        'Error occurred while processing the response from server. Expected a list of alerts',
      );
      const lenient = await listAlertsPage(client, {
        limit: 3,
        deadline: Date.now() + 60_000,
        placeholders: true,
      });

      // Assess: the poller's placeholder keeps the positions it counts
      expect(lenient.alerts).toEqual([{ id: 1 }, {}, { id: 3 }]);
    });
  });
});
