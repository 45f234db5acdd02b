import { describe, expect, it } from 'vitest';
import {
  ALERTS_READ,
  alertEnrichment,
  enrichAlert,
  listAlertsPage,
  parseAlertQuery,
} from '../../../shared/tanium/alerts.ts';
import type { TaniumApi, TaniumRequest } from '../../../shared/tanium/client.ts';
import { ValidationError } from '../../../shared/tanium/errors.ts';

const FULLPATH = 'C:\\Windows\\System32\\test.exe';
const MD5 = '9dd4e461268c8034f5c8564e155c67a6';
const SHA1 = '11f6ad8ec52a2984abaafd7c3b516503785c2072';
const SHA256 = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881';

function details(match: unknown): string {
  return JSON.stringify({ match });
}

/** What JSON.parse says of `text`: the reason a details error gives. */
function syntaxErrorOf(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
}

describe('Alert enrichment', () => {
  it('derives path, event_type and the three hashes from the contract example and keeps details as received', () => {
    // Prepare
    const raw = details({
      type: 'process',
      properties: {
        fullpath: FULLPATH,
        md5: MD5,
        file: { fullpath: FULLPATH, md5: MD5, sha1: SHA1, sha256: SHA256 },
      },
    });
    const alert = { id: 1, guid: '0b7e6a3c-5d89-477e-bf14-8d6577842aa9', eid: 1, details: raw };

    // Act
    const enriched = enrichAlert(alert);

    // Assess
    expect(enriched).toEqual({
      id: 1,
      guid: '0b7e6a3c-5d89-477e-bf14-8d6577842aa9',
      eid: 1,
      details: raw,
      path: FULLPATH,
      event_type: 'process',
      md5: MD5,
      sha1: SHA1,
      sha256: SHA256,
    });
    expect(enriched.details).toBe(raw);
  });

  it('puts the md5 into md5, not the fullpath, when properties.md5 exists (the connector bug)', () => {
    // Act
    const enriched = alertEnrichment(
      details({ type: 'process', properties: { fullpath: FULLPATH, md5: MD5 } }),
    );

    // Assess
    expect(enriched.md5).toBe(MD5);
    expect(enriched.path).toBe(FULLPATH);
  });

  it('prefers properties.md5 but file.sha1 and file.sha256 when both levels carry hashes', () => {
    // Prepare
    const raw = details({
      type: 'file',
      properties: {
        md5: 'top-md5',
        sha1: 'top-sha1',
        sha256: 'top-sha256',
        file: { md5: 'file-md5', sha1: 'file-sha1', sha256: 'file-sha256' },
      },
    });

    // Act
    const enriched = alertEnrichment(raw);

    // Assess
    expect(enriched).toMatchObject({ md5: 'top-md5', sha1: 'file-sha1', sha256: 'file-sha256' });
  });

  it('falls back to the other level for each hash, and to file.fullpath for the path', () => {
    // Prepare
    const raw = details({
      type: 'file',
      properties: { sha1: 'top-sha1', file: { fullpath: '/home/dev/x.sh', md5: 'file-md5' } },
    });

    // Act
    const enriched = alertEnrichment(raw);

    // Assess
    expect(enriched).toEqual({
      path: '/home/dev/x.sh',
      event_type: 'file',
      md5: 'file-md5',
      sha1: 'top-sha1',
    });
  });

  it('omits empty hashes and uses the next candidate', () => {
    // Act
    const enriched = alertEnrichment(
      details({ type: 'file', properties: { md5: '', file: { md5: 'file-md5', sha1: '', sha256: '' } } }),
    );

    // Assess: no key at all, not one holding undefined that a spread would copy over the alert's own
    expect(enriched).toStrictEqual({ path: '', event_type: 'file', md5: 'file-md5' });
  });

  it('skips a hash or path that is not a string and uses the next candidate', () => {
    // Act
    const enriched = alertEnrichment(
      details({
        type: 'file',
        properties: { fullpath: 7, md5: 42, file: { fullpath: 9, md5: 'file-md5', sha1: 1, sha256: true } },
      }),
    );

    // Assess
    expect(enriched).toStrictEqual({ path: '', event_type: 'file', md5: 'file-md5' });
  });

  it('uses file.fullpath when properties.fullpath is not a string', () => {
    // Act
    const enriched = alertEnrichment(
      details({ type: 'file', properties: { fullpath: 42, file: { fullpath: '/tmp/a' } } }),
    );

    // Assess
    expect(enriched.path).toBe('/tmp/a');
  });

  it('gives empty path and event_type without an error when the match has no properties', () => {
    // Act
    const enriched = alertEnrichment(JSON.stringify({ other: true }));

    // Assess
    expect(enriched).toEqual({ path: '', event_type: '' });
  });

  it('uses a details object as is', () => {
    // Act
    const enriched = alertEnrichment({ match: { type: 'network', properties: { fullpath: '/bin/nc' } } });

    // Assess
    expect(enriched).toStrictEqual({ path: '/bin/nc', event_type: 'network' });
  });

  it('keeps an alert with invalid JSON details and explains why', () => {
    // Prepare
    const alert = { id: 7, details: '{"match": ' };

    // Act
    const enriched = enrichAlert(alert);

    // Assess
    expect(enriched.id).toBe(7);
    expect(enriched.details).toBe('{"match": ');
    expect(enriched.path).toBe('');
    expect(enriched.event_type).toBe('');
    expect(enriched.details_error).toBe(`Unable to parse details: ${syntaxErrorOf('{"match": ')}`);
    expect(enriched).not.toHaveProperty('md5');
  });

  it('keeps an alert without details and explains why', () => {
    // Act
    const missing = enrichAlert({ id: 8 });
    const nulled = enrichAlert({ id: 9, details: null });

    // Assess
    expect(missing).toEqual({
      id: 8,
      path: '',
      event_type: '',
      details_error: 'Unable to parse details: details is missing',
    });
    expect(nulled.details_error).toBe('Unable to parse details: details is missing');
  });

  it('reports JSON that is not an object as a details error', () => {
    // Act
    const enriched = alertEnrichment('[1,2]');

    // Assess
    expect(enriched).toEqual({
      path: '',
      event_type: '',
      details_error: 'Unable to parse details: details is not a JSON object',
    });
  });
});

describe('Alert query parsing', () => {
  it('keeps repeated keys in order and decodes + and %xx', () => {
    // Act
    const pairs = parseAlertQuery('state=unresolved&state=inprogress&computerName=web%2D02+x&priority=high');

    // Assess
    expect(pairs).toEqual([
      ['state', 'unresolved'],
      ['state', 'inprogress'],
      ['computerName', 'web-02 x'],
      ['priority', 'high'],
    ]);
  });

  it('drops a leading ?, keeps values as strings (007 stays 007) and text after a second =', () => {
    // Act
    const pairs = parseAlertQuery('?intelDocId=007&computerName=a=b');

    // Assess
    expect(pairs).toEqual([
      ['intelDocId', '007'],
      ['computerName', 'a=b'],
    ]);
  });

  it('keeps a trailing ? as part of the last value: only a leading one is dropped', () => {
    expect(parseAlertQuery('computerName=web?')).toEqual([['computerName', 'web?']]);
  });

  it('drops limit and offset keys so the parameters win', () => {
    // Act
    const pairs = parseAlertQuery('limit=5&priority=high&offset=10');

    // Assess
    expect(pairs).toEqual([['priority', 'high']]);
  });

  it('ignores empty parts and accepts an empty value', () => {
    // Act
    const pairs = parseAlertQuery('a=1&&b=&');

    // Assess
    expect(pairs).toEqual([
      ['a', '1'],
      ['b', ''],
    ]);
  });

  it.each([
    ['state=unresolved&amp;priority=high', 'amp;priority'],
    ['https://tanium.example/api/alerts?state=unresolved', 'https://tanium.example/api/alerts?state'],
    ['state:unresolved=1', 'state:unresolved'],
  ])('refuses %j, whose key Tanium would ignore, naming the key', (text, key) => {
    // Act
    const act = () => parseAlertQuery(text);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(
      `Unable to parse provided query: '${key}' is not a filter name (letters, digits, '_', '.', '-', '[' and ']'), and Tanium would ignore it; write '&' between filters, not '&amp;', and give the query alone, not a URL`,
    );
  });

  it.each([
    ['state=unresolved& priority=high', ' priority=high'],
    ['state=unresolved+', 'state=unresolved '],
    ['state=unresolved%0A', 'state=unresolved\n'],
  ])('refuses %j, whose white space would make Tanium ignore or miss the filter', (text, pair) => {
    // Act
    const act = () => parseAlertQuery(text);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(`Unable to parse provided query: '${pair}' has white space around its key or value`);
  });

  it('keeps keys in bracket, dotted and dashed forms', () => {
    expect(parseAlertQuery('state[]=a&details.type=b&scan-id=c&intel_doc=d')).toEqual([
      ['state[]', 'a'],
      ['details.type', 'b'],
      ['scan-id', 'c'],
      ['intel_doc', 'd'],
    ]);
  });

  it.each([
    ['computerName=caf%E9', '%E9'],
    ['computerName=%C3%A9%C3', '%C3%A9%C3'],
    ['computerName=%C3x%A9', '%C3'],
    ['name%FF=x', '%FF'],
  ])('refuses %j, whose escapes are not UTF-8 and would be sent as U+FFFD', (text, run) => {
    // Act
    const act = () => parseAlertQuery(text);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(
      `Unable to parse provided query: '${text}' has ${run}, which is not UTF-8 percent-encoding and would be sent as U+FFFD (write é as %C3%A9, not %E9)`,
    );
  });

  it('decodes UTF-8 escapes and keeps a % that starts no escape, as URLSearchParams does', () => {
    expect(parseAlertQuery('computerName=caf%C3%A9&note=100%&x=%zz')).toEqual([
      ['computerName', 'café'],
      ['note', '100%'],
      ['x', '%zz'],
    ]);
  });

  it('returns no pairs without a query', () => {
    expect(parseAlertQuery(undefined)).toEqual([]);
    expect(parseAlertQuery('?')).toEqual([]);
  });

  it.each([
    ['priority', 'priority'],
    ['a=1&broken', 'broken'],
    ['=high', '=high'],
  ])('refuses %j with a validation error naming the part', (text, part) => {
    // Act
    const act = () => parseAlertQuery(text);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(`Unable to parse provided query: every part must be key=value (got '${part}')`);
  });
});

describe('One page of alerts', () => {
  /** A client that answers every request with `payload` and `meta`, and keeps what it was asked. */
  function clientAnswering(payload: unknown, meta?: unknown) {
    const requests: TaniumRequest[] = [];
    const client = {
      request: async (request: TaniumRequest) => {
        requests.push(request);
        return { status: 200, payload, meta, wrapped: true, headers: {}, auth: 'token' };
      },
    } as unknown as TaniumApi;
    return { client, requests };
  }

  it('asks for limit, offset and the pairs in that order, as list alerts with the alerts read permission', async () => {
    // Prepare
    const { client, requests } = clientAnswering([]);

    // Act
    await listAlertsPage(client, { limit: 3, offset: 6, pairs: [['sort', '-createdAt']], deadline: 1_000 });

    // Assess
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      method: 'GET',
      path: '/plugin/products/threat-response/api/v1/alerts',
      deadline: 1_000,
      action: 'list alerts',
      permission: ALERTS_READ,
    });
    expect(String(requests[0]?.query)).toBe('limit=3&offset=6&sort=-createdAt');
  });

  it('sends the limit alone without offset or pairs, and takes an answer of null as no alerts', async () => {
    // Prepare
    const { client, requests } = clientAnswering(null);

    // Act
    const page = await listAlertsPage(client, { limit: 3, deadline: 1_000 });

    // Assess
    expect(String(requests[0]?.query)).toBe('limit=3');
    expect(page).toEqual({ alerts: [] });
  });

  it('refuses a payload that is not a list', async () => {
    // Act
    const page = listAlertsPage(clientAnswering({ id: 1 }).client, { limit: 3, deadline: 1_000 });

    // Assess
    await expect(page).rejects.toThrow(
      'Error occurred while processing the response from server. Expected a list of alerts',
    );
  });

  it('refuses an entry that is not an object, unless asked to put an empty alert in its place', async () => {
    // Prepare
    const { client } = clientAnswering([{ id: 1 }, 'junk', { id: 3 }]);

    // Act / Assess
    await expect(listAlertsPage(client, { limit: 3, deadline: 1_000 })).rejects.toThrow(
      'Error occurred while processing the response from server. Expected a list of alerts',
    );
    await expect(listAlertsPage(client, { limit: 3, deadline: 1_000, placeholders: true })).resolves.toEqual({
      alerts: [{ id: 1 }, {}, { id: 3 }],
    });
  });

  it('keeps the counts of meta that are numbers and drops the others, with the rest of meta', async () => {
    // Prepare
    const numbers = clientAnswering([], { totalCount: 40, filteredCount: 5, page: 1 });
    const text = clientAnswering([], { totalCount: 'many', filteredCount: null, page: 1 });

    // Act
    const counted = await listAlertsPage(numbers.client, { limit: 3, deadline: 1_000 });
    const uncounted = await listAlertsPage(text.client, { limit: 3, deadline: 1_000 });

    // Assess: no count key at all, which `filteredCount ?? totalCount` would read past
    expect(counted.meta).toStrictEqual({ page: 1, totalCount: 40, filteredCount: 5 });
    expect(uncounted.meta).toStrictEqual({ page: 1 });
  });
});
