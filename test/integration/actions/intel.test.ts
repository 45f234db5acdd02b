import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { executeAction } from '../../../shared/actions/execute.ts';
import {
  clearGroupCache,
  GROUP_CACHE_TTL_MS,
  MAX_CACHED_GROUPS,
  startQuickScan,
} from '../../../shared/actions/intel.ts';
import { findAction } from '../../../shared/actions/table.ts';
import type { ActionContext, ActionDefinition } from '../../../shared/actions/types.ts';
import type { TaniumClient } from '../../../shared/tanium/client.ts';
import { API_V2, TR } from '../../../shared/tanium/routes.ts';
import { FULL_PERSONA, PERMISSIONS } from '../../emulator/index.ts';
import { clientFor, contextFor, type Emulator, SEEDED, startTestEmulator } from '../../helpers/tanium.ts';

const NO_GROUP = (input: string) =>
  `No group exists with name ${input}. Also, please verify that your account has sufficient permissions to access the groups`;

describe('Action: start quick scan', () => {
  let emulator: Emulator;
  let client: TaniumClient;
  let ctx: ActionContext;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    client = clientFor(emulator);
  });
  afterAll(async () => {
    await emulator.close();
  });
  beforeEach(() => {
    emulator.reset();
    clearGroupCache();
    // The group cache reads the injected clock: the emulator's manual one.
    ctx = contextFor(client, emulator);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const scan = (params: Record<string, unknown>, context: ActionContext = ctx) =>
    executeAction(startQuickScan as unknown as ActionDefinition, params, context);
  const calls = () => emulator.requests.map((request) => `${request.method} ${request.path}`);

  it('is registered in the intel family with its permission', () => {
    expect(findAction('start_quick_scan')?.family).toBe('intel');
    expect(findAction('start quick scan')?.permission).toBe('threat response on demand scans write');
  });

  it('resolves a group name and starts one scan, returning the wrapped scan as the connector did', async () => {
    // Act
    const result = await scan({ intel_doc_id: SEEDED.intelDocId, computer_group_name: 'All Windows' });

    // Assess
    expect(emulator.state.scans.scans).toHaveLength(1);
    const started = emulator.state.scans.scans[0];
    expect(result).toEqual({
      status: 'success',
      message: 'Started quick scan successfully',
      parameter: { intel_doc_id: 11, computer_group_name: 'All Windows' },
      data: [{ data: started }],
      summary: { scan_id: started?.id, computer_group_id: 34 },
    });
    expect(calls()).toEqual([`GET ${API_V2}/groups/by-name/All%20Windows`, `POST ${TR}/on-demand-scans`]);
    const post = emulator.requests[1];
    expect(post?.json).toEqual({ intelDocId: 11, computerGroupId: 34 });
    expect(post?.headers['content-type']).toBe('application/json');
  });

  it("keeps the response's meta beside its data, as the connector returned the whole response", async () => {
    // Prepare: a Tanium that answers the scan with a meta object as well
    const scanClient = clientFor(emulator);
    const request = scanClient.request.bind(scanClient);
    vi.spyOn(scanClient, 'request').mockImplementation(async (call) => {
      const response = await request(call);
      return call.method === 'POST' ? { ...response, meta: { queued: 1 } } : response;
    });

    // Act
    const result = await scan(
      { intel_doc_id: SEEDED.intelDocId, computer_group_name: 'All Windows' },
      contextFor(scanClient, emulator),
    );

    // Assess
    const started = emulator.state.scans.scans[0];
    expect(result.data).toEqual([{ data: started, meta: { queued: 1 } }]);
    expect(result.summary).toEqual({ scan_id: started?.id, computer_group_id: 34 });
  });

  it('sends intelDocId as a number when given as a string of digits', async () => {
    // Act
    const result = await scan({ intel_doc_id: ' 11 ', computer_group_name: 'All Windows' });

    // Assess
    expect(result.status).toBe('success');
    expect(emulator.requests[1]?.json).toEqual({ intelDocId: 11, computerGroupId: 34 });
  });

  it('looks an all-digit input up as a management-rights group id first', async () => {
    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: '34' });

    // Assess
    expect(result.summary).toEqual({ scan_id: emulator.state.scans.scans[0]?.id, computer_group_id: 34 });
    expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/34`, `POST ${TR}/on-demand-scans`]);
  });

  it('reads a JSON number as the same numeric group id', async () => {
    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 34 });

    // Assess
    expect(result.status).toBe('success');
    expect(result.summary).toEqual({ scan_id: emulator.state.scans.scans[0]?.id, computer_group_id: 34 });
    expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/34`, `POST ${TR}/on-demand-scans`]);
  });

  it('falls back to the name lookup only when the numeric id does not exist (404)', async () => {
    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: '1234' });

    // Assess
    expect(result.status).toBe('success');
    expect(result.summary.computer_group_id).toBe(SEEDED.numericNamedGroup.id);
    expect(calls()).toEqual([
      `GET ${API_V2}/management_rights_groups/1234`,
      `GET ${API_V2}/groups/by-name/1234`,
      `POST ${TR}/on-demand-scans`,
    ]);
  });

  it('looks a name that only starts with digits up by name', async () => {
    // Prepare
    emulator.state.groups.push({ ...emulator.state.groups[2]!, id: 70, name: '2024 Servers' });

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: '2024 Servers' });

    // Assess
    expect(result.status).toBe('success');
    expect(result.summary.computer_group_id).toBe(70);
    expect(calls()).toEqual([`GET ${API_V2}/groups/by-name/2024%20Servers`, `POST ${TR}/on-demand-scans`]);
  });

  it.each([
    ['a string id', { id: 'scan-7' }, 'scan-7'],
    ['no id', { status: 'queued' }, null],
    ['an id that is an object', { id: { value: 7 } }, null],
    ['a list', [{ id: 7 }], null],
    ['an empty body', undefined, null],
  ])('reports the scan_id of a scan answer with %s', async (_, answer, scanId) => {
    // Prepare
    emulator.faults.add({
      method: 'POST',
      path: `${TR}/on-demand-scans`,
      kind: 'status',
      status: 200,
      shape: 'plain',
      message: answer === undefined ? '' : JSON.stringify({ data: answer }),
    });

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

    // Assess: the answer is returned wrapped as it came, its id only when Tanium gave one
    expect(result).toMatchObject({
      status: 'success',
      message: 'Started quick scan successfully',
      data: [{ data: answer ?? null }],
      summary: { scan_id: scanId, computer_group_id: 34 },
    });
  });

  it('keeps the digits as typed in the name fallback (007 is not 7)', async () => {
    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: '007' });

    // Assess
    expect(result.message).toBe(NO_GROUP('007'));
    expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/7`, `GET ${API_V2}/groups/by-name/007`]);
  });

  it.each([
    ['Servers / Linux', 58, 'Servers%20%2F%20Linux'],
    ['Who? Me', 59, 'Who%3F%20Me'],
    ['Team #1', 60, 'Team%20%231'],
    ['Finance & HR 100%', 61, 'Finance%20%26%20HR%20100%25'],
    ['Ünïcödé Group', 62, '%C3%9Cn%C3%AFc%C3%B6d%C3%A9%20Group'],
  ])('encodes the group name %j so it cannot change the route', async (name, id, encoded) => {
    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: name });

    // Assess
    expect(result.status).toBe('success');
    expect(result.summary.computer_group_id).toBe(id);
    expect(emulator.requests[0]?.path).toBe(`${API_V2}/groups/by-name/${encoded}`);
  });

  it('reports an unknown name as not_found with the contract text and starts no scan', async () => {
    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windowz' });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(NO_GROUP('All Windowz'));
    expect(result.error).toEqual({ kind: 'not_found', retryable: false });
    expect(emulator.requestCount()).toBe(1);
    expect(emulator.state.scans.scans).toHaveLength(0);
  });

  it('cuts a long unknown group name to 200 characters when it echoes it', async () => {
    // Prepare
    const name = 'G'.repeat(1_300);

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: name });

    // Assess
    expect(result.message).toBe(NO_GROUP(`${'G'.repeat(200)}…`));
    expect(result.error).toEqual({ kind: 'not_found', retryable: false });
  });

  it('reports a numeric id that is neither a management-rights group nor a name as no group', async () => {
    // Act (group 99 exists but has no management rights flag)
    const result = await scan({ intel_doc_id: 11, computer_group_name: '99' });

    // Assess
    expect(result.message).toBe(NO_GROUP('99'));
    expect(result.error).toEqual({ kind: 'not_found', retryable: false });
    expect(emulator.requestCount()).toBe(2);
  });

  it('reports an empty data answer to the name lookup as no group', async () => {
    // Prepare
    emulator.switches.groupsByNameEmptyData = true;

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'Nobody' });

    // Assess
    expect(result.message).toBe(NO_GROUP('Nobody'));
    expect(result.error).toEqual({ kind: 'not_found', retryable: false });
    expect(emulator.requestCount({ method: 'POST' })).toBe(0);
  });

  it.each([
    ['a string id', JSON.stringify({ data: { id: '34', name: 'All Windows' } })],
    ['a fractional id', JSON.stringify({ data: { id: 34.5, name: 'All Windows' } })],
    ['an id beyond 2^53', JSON.stringify({ data: { id: 2 ** 53, name: 'All Windows' } })],
    ['a list', JSON.stringify({ data: [{ id: 34, name: 'All Windows' }] })],
    ['an empty body', ''],
  ])('reports a group answer with %s as no group', async (_, body) => {
    // Prepare
    emulator.faults.add({
      path: `${API_V2}/groups/by-name/*`,
      kind: 'status',
      status: 200,
      shape: 'plain',
      message: body,
    });

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

    // Assess
    expect(result.message).toBe(NO_GROUP('All Windows'));
    expect(emulator.requestCount({ method: 'POST' })).toBe(0);
  });

  it('does not fall back to the name lookup when the id lookup is forbidden (403)', async () => {
    // Prepare
    emulator.removePermission(FULL_PERSONA, PERMISSIONS.groupsRead);

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: '1234' });

    // Assess
    expect(result.message).toBe(
      'Permission denied (HTTP 403): the Tanium user or API token lacks read access to computer groups needed by start quick scan. Tanium said: Forbidden: missing permission computer groups read',
    );
    expect(result.error).toEqual({ kind: 'permission', retryable: false });
    expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/1234`]);
  });

  it('names read access to computer groups when the name lookup is forbidden (403)', async () => {
    // Prepare
    emulator.removePermission(FULL_PERSONA, PERMISSIONS.groupsRead);

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

    // Assess
    expect(result.message).toBe(
      'Permission denied (HTTP 403): the Tanium user or API token lacks read access to computer groups needed by start quick scan. Tanium said: Forbidden: missing permission computer groups read',
    );
    expect(result.error).toEqual({ kind: 'permission', retryable: false });
    expect(calls()).toEqual([`GET ${API_V2}/groups/by-name/All%20Windows`]);
  });

  it('does not fall back to the name lookup when the id lookup fails with a 500', async () => {
    // Prepare
    emulator.faults.add({
      path: `${API_V2}/management_rights_groups/*`,
      kind: 'status',
      status: 500,
      message: 'database unavailable',
    });

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: '34' });

    // Assess
    expect(result.message).toBe('Error from server. Status Code: 500 Data from server: database unavailable');
    expect(result.error).toEqual({ kind: 'tanium', retryable: false });
    expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/34`]);
  });

  it('fails with the permission named when the scan itself is forbidden', async () => {
    // Prepare
    emulator.removePermission(FULL_PERSONA, PERMISSIONS.scansWrite);

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

    // Assess
    expect(result.message).toBe(
      "Permission denied (HTTP 403): the Tanium user or API token lacks the 'threat response on demand scans write' permission needed by start quick scan. Tanium said: Forbidden: missing permission threat response on demand scans write",
    );
    expect(result.error).toEqual({ kind: 'permission', retryable: false });
  });

  it("fails with Tanium's text for an unknown intel document", async () => {
    // Act
    const result = await scan({ intel_doc_id: 9999, computer_group_name: 'All Windows' });

    // Assess
    expect(result.message).toBe(
      'Error from server. Status Code: 404 Data from server: Intel doc 9999 not found',
    );
    expect(result.error).toEqual({ kind: 'not_found', retryable: false });
  });

  it('never sends the scan twice when its answer is lost (503 after Tanium processed it)', async () => {
    // Prepare
    emulator.faults.add({
      method: 'POST',
      path: `${TR}/on-demand-scans`,
      kind: 'status',
      status: 503,
      processRequest: true,
    });

    // Act
    const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error).toEqual({ kind: 'unknown_outcome', retryable: false });
    expect(result.message).toMatch(/may have been processed by Tanium; check before running it again\.$/);
    expect(emulator.requestCount({ method: 'POST' })).toBe(1);
    expect(emulator.state.scans.scans).toHaveLength(1);
  });

  describe('group cache', () => {
    it('skips the lookup for the same trimmed input within five minutes', async () => {
      // Prepare
      await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });
      emulator.clearRequests();
      emulator.clock.advance(GROUP_CACHE_TTL_MS - 1);

      // Act
      const result = await scan({ intel_doc_id: 11, computer_group_name: '  All Windows ' });

      // Assess
      expect(result.summary.computer_group_id).toBe(34);
      expect(calls()).toEqual([`POST ${TR}/on-demand-scans`]);
      expect(emulator.state.scans.scans).toHaveLength(2);
    });

    it('keeps at most MAX_CACHED_GROUPS resolutions, forgetting the least recently used first', async () => {
      // Prepare: 'All Windows', then spellings of group 34 ('034', '0034', ...) up to the limit, then
      // 'All Windows' used again
      const spelling = (zeros: number) => `${'0'.repeat(zeros)}34`;
      await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });
      for (let zeros = 1; zeros < MAX_CACHED_GROUPS; zeros++) {
        await scan({ intel_doc_id: 11, computer_group_name: spelling(zeros) });
      }
      await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

      // Act: one spelling more than the cache holds
      await scan({ intel_doc_id: 11, computer_group_name: spelling(MAX_CACHED_GROUPS) });
      emulator.clearRequests();
      await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });
      await scan({ intel_doc_id: 11, computer_group_name: spelling(2) });
      const keptUsed = calls();
      emulator.clearRequests();
      await scan({ intel_doc_id: 11, computer_group_name: spelling(1) });

      // Assess: the recently used name and a later spelling are still cached; the oldest spelling is not
      expect(keptUsed).toEqual([`POST ${TR}/on-demand-scans`, `POST ${TR}/on-demand-scans`]);
      expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/34`, `POST ${TR}/on-demand-scans`]);
    });

    it('looks the group up again after five minutes', async () => {
      // Prepare
      await scan({ intel_doc_id: 11, computer_group_name: '34' });
      emulator.clearRequests();
      emulator.clock.advance(GROUP_CACHE_TTL_MS);

      // Act
      await scan({ intel_doc_id: 11, computer_group_name: '34' });

      // Assess
      expect(calls()).toEqual([`GET ${API_V2}/management_rights_groups/34`, `POST ${TR}/on-demand-scans`]);
    });

    it('keeps a resolution when the scan after it fails', async () => {
      // Prepare
      await scan({ intel_doc_id: 9999, computer_group_name: 'All Windows' });
      emulator.clearRequests();

      // Act
      const result = await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });

      // Assess
      expect(result.status).toBe('success');
      expect(calls()).toEqual([`POST ${TR}/on-demand-scans`]);
    });

    it('does not cache a failed resolution', async () => {
      // Prepare
      await scan({ intel_doc_id: 11, computer_group_name: 'Late Group' });
      emulator.state.groups.push({
        id: 70,
        name: 'Late Group',
        text: 'Created after the first try',
        management_rights_flag: true,
        deleted_flag: false,
        content_set: { id: 0, name: '' },
      });
      emulator.clearRequests();

      // Act
      const result = await scan({ intel_doc_id: 11, computer_group_name: 'Late Group' });

      // Assess
      expect(result.summary.computer_group_id).toBe(70);
      expect(calls()).toEqual([`GET ${API_V2}/groups/by-name/Late%20Group`, `POST ${TR}/on-demand-scans`]);
    });

    it('keeps the entries of different credentials apart', async () => {
      // Prepare
      await scan({ intel_doc_id: 11, computer_group_name: 'All Windows' });
      emulator.clearRequests();
      const other = clientFor(emulator, { auth: 'password' });

      // Act
      const result = await scan(
        { intel_doc_id: 11, computer_group_name: 'All Windows' },
        { ...ctx, client: other },
      );

      // Assess
      expect(result.status).toBe('success');
      expect(emulator.requestCount({ method: 'GET', path: `${API_V2}/groups/by-name/All%20Windows` })).toBe(
        1,
      );
    });
  });

  it.each([
    [{ computer_group_name: 'All Windows' }, "Please provide a value for the 'intel_doc_id' parameter"],
    [
      { intel_doc_id: 0, computer_group_name: 'All Windows' },
      'Please provide a valid non-zero positive integer value in the intel_doc_id parameter',
    ],
    [
      { intel_doc_id: '11.0', computer_group_name: 'All Windows' },
      'Please provide a valid integer value in the intel_doc_id parameter',
    ],
    [{ intel_doc_id: 11 }, "Please provide a value for the 'computer_group_name' parameter"],
    [
      { intel_doc_id: 11, computer_group_name: '  ' },
      "Please provide a value for the 'computer_group_name' parameter",
    ],
    [
      { intel_doc_id: 11, computer_group_name: '9007199254740993' },
      'Please provide a valid integer value in the computer_group_name parameter',
    ],
    [
      { intel_doc_id: 11, computer_group_name: 34.5 },
      'Please provide a valid integer value in the computer_group_name parameter',
    ],
    [
      { intel_doc_id: 11, computer_group_name: -34 },
      'Please provide a valid non-negative integer value in the computer_group_name parameter',
    ],
    [
      { intel_doc_id: 11, computer_group_name: true },
      "Please provide a string value in the 'computer_group_name' parameter",
    ],
    [
      { intel_doc_id: 11, computer_group_name: '..' },
      "Please provide a valid value in the 'computer_group_name' parameter: '.' and '..' are not allowed",
    ],
  ])('fails validation for %j before any call', async (params, message) => {
    // Act
    const result = await scan(params);

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(message);
    expect(result.error).toEqual({ kind: 'validation', retryable: false });
    expect(emulator.requestCount()).toBe(0);
  });
});
